"""The emulated Brevo account: what every /v3 and admin route reads and changes."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sandbox.brevo import company_imports, config, imports
from sandbox.brevo.imports import ImportWorker
from sandbox.brevo.ratelimit import RateLimiter
from sandbox.brevo.store import Store
from sandbox.brevo.webhook_pushes import RETRIES
from sandbox.faults import FaultRegistry
from sandbox.pushes import Pusher


class Account:
    """One Brevo account: its api-key, store, settings, rate limiter, background import worker and webhook pusher."""

    def __init__(self, api_key: str, path: Path, startup: dict[str, Any], faults: FaultRegistry | None = None) -> None:
        self.api_key = api_key
        self.store = Store(path)
        self.limiter = RateLimiter()
        self.pusher = Pusher(RETRIES, faults)  # started by the first simulation, in the event loop
        self._startup = dict(startup)
        self._settings: dict[str, Any] = {}
        self._settings_lock = threading.Lock()
        self._apply({**config.DEFAULTS, **self._startup})
        self.worker = ImportWorker(
            self.store, {imports.PROCESS_NAME: imports.apply, company_imports.PROCESS_NAME: company_imports.apply}
        )
        self.worker.start()

    def config(self) -> dict[str, Any]:
        with self._settings_lock:
            return dict(self._settings)

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        self._apply({**self.config(), **changes})
        return self.config()

    def reset(self) -> None:
        """Empty the account, drop pending pushes, restore the start-up settings (call it from the event loop)."""
        self.store.reset()
        self.limiter.clear()
        self.pusher.reset()
        self._apply({**config.DEFAULTS, **self._startup})

    def close(self) -> None:
        self.pusher.close()
        self.worker.stop()
        self.worker.join(timeout=5)
        self.store.close()

    def _apply(self, values: dict[str, Any]) -> None:
        settings = config.validated(values)
        with self._settings_lock:
            self._settings = settings
        self.limiter.plan = settings["plan"]
        self.limiter.window_scale = settings["rate_limit_window_scale"]
        self.limiter.enabled = settings["rate_limits_enabled"]
