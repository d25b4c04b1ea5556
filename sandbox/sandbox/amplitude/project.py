"""One Amplitude project (a data center's deployment): its store, keys, settings and limits."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.amplitude.cost_budget import CostBudget
from sandbox.amplitude.export_cache import ExportCache
from sandbox.amplitude.limits import ConcurrencyGate, EventThrottle, WindowLimit
from sandbox.amplitude.store import Store
from sandbox.amplitude.wire import check_basic_auth


class Project:
    """What every route of one data center acts on: its store, keys, settings and rate limits."""

    def __init__(
        self, region: str, path: Path, settings: Callable[[], dict[str, Any]], api_key: str, secret_key: str
    ) -> None:
        self.region = region
        self.store = Store(path)
        self.exports = ExportCache(path.parent / f"export-cache-{region}")
        self.settings = settings
        self._api_key = api_key
        self._unknown_key = secrets.token_hex(16)
        self.secret_key = secret_key

        def scale() -> float:
            return float(settings()["rate_limit_scale"])

        self.gate = ConcurrencyGate(scale)
        self.user_queries = WindowLimit(360, 3600, scale)
        self.cohort_requests = WindowLimit(60, 600, scale)
        self.privacy_requests = WindowLimit(1, 1, scale)  # User Privacy API: 1 request/s
        self.chart_costs = CostBudget(scale)  # Dashboard REST cost budget (chart queries)
        self.throttle = EventThrottle(scale)
        # Emulator-only fault: epoch hour -> how many more exports get a corrupt gzip member for it.
        self.corrupt_gzip: dict[int, int] = {}
        self._fault_lock = threading.Lock()
        self.link_key = secrets.token_bytes(32)  # signs the pre-signed-style cohort file links

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

    def check_auth(self, request: Request) -> Response | None:
        """None when the request's Basic auth carries this project's keys; otherwise the documented 403."""
        return check_basic_auth(request, self.api_key, self.secret_key)

    def add_corrupt_gzip(self, hour: int, count: int) -> int:
        """`count` more exports containing `hour` get a corrupt gzip member; returns how many are pending."""
        with self._fault_lock:
            self.corrupt_gzip[hour] = self.corrupt_gzip.get(hour, 0) + count
            return self.corrupt_gzip[hour]

    def clear_corrupt_gzip(self) -> None:
        with self._fault_lock:
            self.corrupt_gzip.clear()

    def corrupt_gzip_pending(self, hours: Iterable[int]) -> bool:
        with self._fault_lock:
            return any(self.corrupt_gzip.get(hour, 0) > 0 for hour in hours)

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
        self.exports.clear()
        self.store.wipe()
        self.exports.clear()  # also drops what a request built from the old data between the two
        self.user_queries.reset()
        self.cohort_requests.reset()
        self.privacy_requests.reset()
        self.chart_costs.reset()
        self.throttle.reset()
        self.clear_corrupt_gzip()
