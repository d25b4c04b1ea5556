"""Amplitude's pushes to webhook receivers: its retry policy over the shared pusher (`sandbox/pushes.py`).

Retries as documented (reference: amplitude-streaming-and-privacy.md §1): a first attempt, then 9 more
over 4 hours whatever the error (`RETRY_DELAYS_SECONDS`, doubling, 4 h in all); inside an attempt a
5xx or 429 gets up to 3 quick tries (100 ms backoff, doubling, jitter). Any 2xx is success. Fault rules
with the service `amplitude_webhooks` apply to these pushes.
"""

from __future__ import annotations

from sandbox import pushes
from sandbox.faults import PUSH_SERVICE, FaultRegistry
from sandbox.pushes import DELIVERY_LOG_SIZE, LoggedDelivery, Push, RetryPolicy, damaged

__all__ = [
    "ATTEMPTS", "DELIVERY_LOG_SIZE", "KINDS", "RETRY_DELAYS_SECONDS", "LoggedDelivery", "Push", "Pusher", "damaged",
]  # fmt: skip

USER_AGENT = "Amplitude/Webhook/1.0"
RETRY_DELAYS_SECONDS = (30, 60, 120, 240, 480, 960, 1920, 3840, 6750)  # after attempts 1..9; 14,400 s = 4 h
ATTEMPTS = 1 + len(RETRY_DELAYS_SECONDS)
QUICK_TRIES = 3
KINDS = ("event", "user", "cohort")
RETRIES = RetryPolicy(
    delays_seconds=RETRY_DELAYS_SECONDS, quick_tries=QUICK_TRIES, user_agent=USER_AGENT, fault_service=PUSH_SERVICE
)


class Pusher(pushes.Pusher):
    """The shared pusher with Amplitude's retries."""

    def __init__(self, faults: FaultRegistry | None = None) -> None:
        super().__init__(RETRIES, faults)
