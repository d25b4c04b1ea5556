"""The Dashboard REST API's cost budget per project: 1,000 per 5 minutes and 108,000 per hour (each scaled by
`rate_limit_scale`), over sliding windows of the sandbox clock. A query that does not fit is refused and
not counted, so waiting until older queries leave the window lets it through.

With Amplitude's figures the hourly budget never binds first: twelve 5-minute windows hold 12,000 at most.
Both are kept, as documented."""

from __future__ import annotations

import collections
import threading

from sandbox import clock
from sandbox.amplitude.limits import Scale, scaled

# (budget, window in seconds, what the 429 calls the window)
WINDOWS: tuple[tuple[int, float, str], ...] = ((1000, 300.0, "5 minutes"), (108_000, 3600.0, "hour"))


class CostBudget:
    def __init__(self, scale: Scale, windows: tuple[tuple[int, float, str], ...] = WINDOWS) -> None:
        self.scale = scale
        self.windows = windows
        self._spent: collections.deque[tuple[float, int]] = collections.deque()  # (when, cost)
        self._lock = threading.Lock()

    def charge(self, cost: int) -> str | None:
        """Count a query of `cost`; None when it fits, else why not (it is then not counted)."""
        now = clock.now()
        longest = max(window for _base, window, _name in self.windows)
        with self._lock:
            while self._spent and (self._spent[0][0] <= now - longest or self._spent[0][0] > now):
                self._spent.popleft()
            for base, window, name in self.windows:
                limit = scaled(base, self.scale())
                if cost > limit:
                    return f"This query costs {cost}, more than the cost budget of {limit} per {name}"
                used = sum(c for when, c in self._spent if when > now - window)
                if used + cost > limit:
                    return (
                        f"Exceeded the cost budget of {limit} per {name}: {used} used, this query costs {cost} "
                        "(cost = days x conditions x query type cost)"
                    )
            self._spent.append((now, cost))
            return None

    def reset(self) -> None:
        with self._lock:
            self._spent.clear()
