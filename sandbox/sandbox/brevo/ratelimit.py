"""Brevo's rate limits per scope and plan (reference §2), with the x-sib-ratelimit-* headers.

Every `/smtp/*` endpoint shares one bucket, 300 requests/hour on the general plan (reference:
brevo-webhooks-companies-amplitude-ingest.md §1).
Fixed windows on the sandbox clock (moving the clock forward an hour empties the hourly bucket).
`window_scale` shrinks every window (0.01 makes an hour last 36 s) so tests reach a reset fast.
When a scope has both a per-second and a per-hour limit, both apply; the headers describe the
window closest to exhaustion. Chosen conventions: `x-sib-ratelimit-reset` is an integer number of
seconds, rounded up; `/events/batch` counts in the POST /events bucket; no Retry-After.
"""

from __future__ import annotations

import math
import threading

from sandbox import clock

SECOND, HOUR = 1.0, 3600.0
PLANS = ("general", "advanced", "extended")

# scope -> plan -> [(requests, window seconds)]
LIMITS: dict[str, dict[str, list[tuple[int, float]]]] = {
    "contacts": {
        "general": [(10, SECOND), (36_000, HOUR)],
        "advanced": [(20, SECOND), (72_000, HOUR)],
        "extended": [(60, SECOND)],
    },
    "events": {
        "general": [(10, SECOND), (36_000, HOUR)],
        "advanced": [(20, SECOND), (72_000, HOUR)],
        "extended": [(60, SECOND)],
    },
    "orders": {
        "general": [(5, SECOND), (18_000, HOUR)],
        "advanced": [(10, SECOND), (36_000, HOUR)],
        "extended": [(15, SECOND)],
    },
    "products": {
        "general": [(2, SECOND)],
        "advanced": [(4, SECOND)],
        "extended": [(4, SECOND)],
    },
    # every /smtp/* endpoint the sandbox serves (POST /smtp/email and GET /smtp/blockedContacts have their own
    # limits, not served); the extended plan's figure is not documented: the advanced one's, a chosen value
    "smtp": {
        "general": [(300, HOUR)],
        "advanced": [(600, HOUR)],
        "extended": [(600, HOUR)],
    },
    "other": {
        "general": [(100, HOUR)],
        "advanced": [(200, HOUR)],
        "extended": [(600, HOUR)],
    },
}


def scope_of(method: str, path: str) -> str:
    """The bucket of a request to `path` (relative to /v3)."""
    if path == "/contacts" or path.startswith("/contacts/"):
        return "contacts"
    if method == "POST" and path in ("/events", "/events/batch"):
        return "events"
    if method == "POST" and path == "/orders/status":
        return "orders"
    if method == "POST" and path == "/products":
        return "products"
    if path.startswith("/smtp/"):
        return "smtp"
    return "other"


class RateLimiter:
    """The account's request counts per scope and window, for the current plan."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, float], tuple[float, int]] = {}
        self.plan = "general"
        self.window_scale = 1.0
        self.enabled = True

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()

    def hit(self, scope: str, *, consume: bool = True) -> tuple[bool, dict[str, str]]:
        """Count one request in `scope`; (allowed, x-sib-ratelimit-* headers)."""
        now = clock.now()
        states = []
        with self._lock:
            for limit, seconds in LIMITS[scope][self.plan]:
                window = seconds * self.window_scale
                start = math.floor(now / window) * window
                key = (scope, seconds)
                began, used = self._counts.get(key, (start, 0))
                if began != start:
                    used = 0
                states.append([limit, used, start + window - now, key, start])
            blocked = next((s for s in states if s[1] >= s[0]), None) if self.enabled else None
            if consume and self.enabled and blocked is None:
                for state in states:
                    state[1] += 1
                    self._counts[state[3]] = (state[4], state[1])
        shown = blocked or min(states, key=lambda s: (s[0] - s[1], s[2]))
        limit, used, reset = shown[0], shown[1], shown[2]
        remaining = limit if not self.enabled else max(limit - used, 0)
        headers = {
            "x-sib-ratelimit-limit": str(limit),
            "x-sib-ratelimit-remaining": str(remaining),
            "x-sib-ratelimit-reset": str(max(1, math.ceil(reset - 1e-9))),
        }
        return blocked is None, headers
