"""Amplitude's rate limits, scaled by the `rate_limit_scale` setting so tests can reach them.

- 5 concurrent requests per project across the REST APIs (export, cohorts, users, dashboard);
- 360 user search/activity queries per hour; 60 cohort download requests per 10 minutes;
- ingestion: 1000 events/s per device or user, averaged over 30 s (EPDS/EPUS).
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
    """Per device and per user event counts over 30-second buckets of the sandbox clock."""

    BASE_EPS = 1000
    WINDOW = 30

    def __init__(self, scale: Scale) -> None:
        self.scale = scale
        self._bucket = -1
        self._counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._lock = threading.Lock()

    def eps_threshold(self) -> int:
        return scaled(self.BASE_EPS, self.scale())

    def check(self, events: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Count the events; None if within limits, else the 429 body (nothing counted then)."""
        bucket = int(clock.now() // self.WINDOW)
        threshold = self.eps_threshold()
        with self._lock:
            if bucket != self._bucket:
                self._bucket, self._counts = bucket, collections.Counter()
            pending: collections.Counter[tuple[str, str]] = collections.Counter()
            keys_per_event = []
            for event in events:
                keys = [("device", event["device_id"])]
                if event.get("user_id"):
                    keys.append(("user", event["user_id"]))
                keys_per_event.append(keys)
                pending.update(keys)
            over = {key for key, n in pending.items() if (self._counts[key] + n) / self.WINDOW > threshold}
            if not over:
                self._counts.update(pending)
                return None
        rate = {key: math.ceil((self._counts[key] + pending[key]) / self.WINDOW) for key in over}
        return {
            "code": 429,
            "error": "Too many requests for some devices and users",
            "eps_threshold": threshold,
            "throttled_devices": {k[1]: v for k, v in rate.items() if k[0] == "device"},
            "throttled_users": {k[1]: v for k, v in rate.items() if k[0] == "user"},
            "throttled_events": [i for i, keys in enumerate(keys_per_event) if any(k in over for k in keys)],
        }

    def reset(self) -> None:
        with self._lock:
            self._bucket, self._counts = -1, collections.Counter()
