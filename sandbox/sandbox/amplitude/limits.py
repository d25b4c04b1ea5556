"""Amplitude's rate limits, scaled by the `rate_limit_scale` setting so tests can reach them.

- 5 concurrent requests per project across the REST APIs (export, cohorts, users, dashboard);
- 360 user search/activity queries per hour; 60 cohort download requests per 10 minutes;
- ingestion: 30 events/s per device or user on HTTP V2, 1000 on Batch, averaged over 30 s (EPDS/EPUS),
  and on Batch 500,000 events per device or user per rolling 24 h.
Windows run on the sandbox clock, so moving the clock forward also lifts a limit.
"""

from __future__ import annotations

import asyncio
import collections
import math
import threading
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox import clock
from sandbox.amplitude.wire import rate_limited

Scale = Callable[[], float]


def scaled(base: float, scale: float) -> int:
    return max(1, math.floor(base * scale))


class ConcurrencyGate:
    """Counts a project's REST requests in flight: at most `BASE × scale` at once."""

    BASE = 5

    def __init__(self, scale: Scale) -> None:
        self.scale = scale
        self.active = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self.active >= scaled(self.BASE, self.scale()):
                return False
            self.active += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.active -= 1


class ConcurrencyLimit:
    """ASGI wrapper holding one slot of the gate for the whole request, streamed body included."""

    def __init__(self, app: ASGIApp, gate: ConcurrencyGate, exempt_prefix: str, delay: Callable[[], float]) -> None:
        self.app = app
        self.gate = gate
        self.exempt_prefix = exempt_prefix
        self.delay = delay  # seconds of simulated processing time, spent while holding the slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefix):
            await self.app(scope, receive, send)
            return
        if not self.gate.try_acquire():
            limit = scaled(ConcurrencyGate.BASE, self.gate.scale())
            response = rate_limited(f"Too many concurrent requests: at most {limit} across all REST API endpoints")
            await response(scope, receive, send)
            return
        try:
            if self.delay() > 0:
                await asyncio.sleep(self.delay())
            await self.app(scope, receive, send)
        finally:
            self.gate.release()


class WindowLimit:
    """At most `base × scale` calls per `window` seconds (sliding window on the sandbox clock)."""

    def __init__(self, base: int, window: float, scale: Scale) -> None:
        self.base = base
        self.window = window
        self.scale = scale
        self._calls: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def limit(self) -> int:
        return scaled(self.base, self.scale())

    def allow(self) -> bool:
        now = clock.now()
        with self._lock:
            while self._calls and (self._calls[0] <= now - self.window or self._calls[0] > now):
                self._calls.popleft()
            if len(self._calls) >= self.limit():
                return False
            self._calls.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()


class EventThrottle:
    """Per device and per user ingestion limits, on the sandbox clock.

    - events per second, averaged over 30-second buckets and counted per API: HTTP V2 allows 30 per device
      or user, Batch (and `/identify`) 1,000 (EPDS/EPUS);
    - Batch only: 500,000 events per device or user per rolling 24 hours (Amplitude applies it to the
      users and devices it flags as spamming; the sandbox counts everyone's), reported in the 429 as
      `exceeded_daily_quota_users` / `exceeded_daily_quota_devices`.
    Every limit is scaled by `rate_limit_scale`. A refused request counts nothing. Each API counts its own
    events (not documented; chosen convention: Amplitude states the two limits apart).
    """

    HTTP_V2_EPS = 30
    BASE_EPS = 1000
    DAILY_QUOTA = 500_000
    WINDOW = 30
    DAY = 24 * 3600

    def __init__(self, scale: Scale) -> None:
        self.scale = scale
        self._buckets: dict[str, int] = {}
        self._counts: dict[str, collections.Counter[tuple[str, str]]] = {}
        self._daily: dict[tuple[str, str], collections.deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    def eps_threshold(self, path: str = "/batch") -> int:
        return scaled(self.HTTP_V2_EPS if path == "/2/httpapi" else self.BASE_EPS, self.scale())

    def daily_quota(self) -> int:
        return scaled(self.DAILY_QUOTA, self.scale())

    def check(self, events: list[dict[str, Any]], path: str = "/batch") -> dict[str, Any] | None:
        """Count the events sent to `path`; None if within limits, else the 429 body (nothing counted then)."""
        now = clock.now()
        api = "http_v2" if path == "/2/httpapi" else "batch"
        bucket = int(now // self.WINDOW)
        threshold = self.eps_threshold(path)
        keys_per_event = [_event_keys(event) for event in events]
        pending: collections.Counter[tuple[str, str]] = collections.Counter()
        for keys in keys_per_event:
            pending.update(keys)
        with self._lock:
            if self._buckets.get(api) != bucket:
                self._buckets[api], self._counts[api] = bucket, collections.Counter()
            counts = self._counts[api]
            over = {key for key, n in pending.items() if (counts[key] + n) / self.WINDOW > threshold}
            daily: dict[tuple[str, str], int] = {}
            if path == "/batch":
                quota = self.daily_quota()
                daily = {key: total for key, n in pending.items() if (total := self._day_total(key, now) + n) > quota}
            if not over and not daily:
                counts.update(pending)
                if path == "/batch":
                    for key, n in pending.items():
                        self._daily.setdefault(key, collections.deque()).append((now, n))
                return None
            rate = {key: math.ceil((counts[key] + pending[key]) / self.WINDOW) for key in over}
        refused = over | set(daily)
        body: dict[str, Any] = {
            "code": 429,
            "error": "Too many requests for some devices and users",
            "eps_threshold": threshold,
            "throttled_devices": {k[1]: v for k, v in rate.items() if k[0] == "device"},
            "throttled_users": {k[1]: v for k, v in rate.items() if k[0] == "user"},
            "throttled_events": [i for i, keys in enumerate(keys_per_event) if any(k in refused for k in keys)],
        }
        if path == "/batch":
            body["exceeded_daily_quota_users"] = {k[1]: v for k, v in daily.items() if k[0] == "user"}
            body["exceeded_daily_quota_devices"] = {k[1]: v for k, v in daily.items() if k[0] == "device"}
        return body

    def _day_total(self, key: tuple[str, str], now: float) -> int:
        """Events of `key` accepted in the 24 hours before `now` (entries from a later clock are dropped)."""
        entries = self._daily.get(key)
        if not entries:
            return 0
        while entries and entries[0][0] <= now - self.DAY:
            entries.popleft()
        while entries and entries[-1][0] > now:
            entries.pop()
        return sum(n for _, n in entries)

    def reset(self) -> None:
        with self._lock:
            self._buckets, self._counts, self._daily = {}, {}, {}


def _event_keys(event: dict[str, Any]) -> list[tuple[str, str]]:
    keys = [("device", event["device_id"])]
    if event.get("user_id"):
        keys.append(("user", event["user_id"]))
    return keys
