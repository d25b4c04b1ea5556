"""One Amplitude project (a data center's deployment): its store, keys, settings and limits."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.amplitude.limits import ConcurrencyGate, EventThrottle, WindowLimit
from sandbox.amplitude.store import Store


class Project:
    def __init__(
        self, region: str, path: Path, settings: Callable[[], dict[str, Any]], api_key: str, secret_key: str
    ) -> None:
        self.region = region
        self.store = Store(path)
        self.settings = settings
        self._api_key = api_key
        self._unknown_key = secrets.token_hex(16)
        self.secret_key = secret_key

        def scale() -> float:
            return float(settings()["rate_limit_scale"])

        self.gate = ConcurrencyGate(scale)
        self.user_queries = WindowLimit(360, 3600, scale)
        self.cohort_requests = WindowLimit(60, 600, scale)
        self.throttle = EventThrottle(scale)
        # Emulator-only fault: epoch hour -> how many more exports get a corrupt gzip member for it.
        self.corrupt_gzip: dict[int, int] = {}
        self._fault_lock = threading.Lock()

    @property
    def api_key(self) -> str:
        """The project key this deployment accepts. With `key_region` set to the other data center,
        the key is unknown here, as a real key used against the wrong region is (403 Invalid API Key)."""
        if self.settings()["key_region"] in ("any", self.region):
            return self._api_key
        return self._unknown_key

    @property
    def project_id(self) -> int:
        return int(self.settings()["project_id_eu" if self.region == "eu" else "project_id"])

    def take_corrupt_gzip(self, hour: int) -> bool:
        with self._fault_lock:
            left = self.corrupt_gzip.get(hour, 0)
            if left <= 0:
                return False
            if left == 1:
                del self.corrupt_gzip[hour]
            else:
                self.corrupt_gzip[hour] = left - 1
            return True

    def reset(self) -> None:
        self.store.wipe()
        self.user_queries.reset()
        self.cohort_requests.reset()
        self.throttle.reset()
        with self._fault_lock:
            self.corrupt_gzip.clear()
