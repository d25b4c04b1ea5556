"""Brevo's webhook pushes: its retry policy over the shared pusher, and how events become requests.

Retries (reference §1): 4 after the first attempt, at +10 min, +1 h, +2 h and +8 h on the sandbox clock;
a 4xx other than 429 ends the push, a timeout, a connection error, a 5xx or a 429 waits for the next attempt.
A webhook that is not `batched` gets one event per request (a JSON object); a batched one gets the events
of each 5-minute window in requests of up to 500 (a JSON array). Pushes fall due at once, or, with
`realtime`, when the event happens on the sandbox clock (a batched window: when it closes). Fault rules
with the service `brevo_webhooks` apply to these pushes (`path` matches the receiver URL's path).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from sandbox.brevo.engagement import Happening
from sandbox.brevo.webhook_payloads import wanted
from sandbox.brevo.webhooks import Webhook
from sandbox.pushes import Push, RetryPolicy

FAULT_SERVICE = "brevo_webhooks"
BATCH_SIZE = 500
BATCH_WINDOW_SECONDS = 300
RETRIES = RetryPolicy(
    delays_seconds=(600, 3600, 7200, 28800),
    quick_tries=1,
    user_agent="Brevo-Webhooks/1.0 (sandbox)",  # chosen: Brevo does not document its User-Agent
    fault_service=FAULT_SERVICE,
    stop_on_client_error=True,
)

Payload = Callable[[Happening], dict[str, Any]]


def pushes_for(
    webhook: Webhook,
    happenings: list[Happening],
    payload: Payload,
    key: Callable[[Happening], str],
    due_now: float | None,
) -> list[tuple[float, Push]]:
    """(due time on the sandbox clock, push) for what `webhook` receives of `happenings` (in time order).

    `due_now` is the sandbox time to send everything at; None sends each push when its events happen."""
    chosen = [h for h in happenings if h.event in wanted(webhook.type, webhook.events)]
    target = webhook.target()
    accepted_at = time.time()
    found = []
    if not webhook.batched:
        for happening in chosen:
            body = orjson.dumps({**payload(happening), "id": webhook.id})
            push = Push(webhook.type, key(happening), target, body, accepted_at, details=_details(webhook, 1))
            found.append((happening.at_ms / 1000 if due_now is None else due_now, push))
        return found
    for window, events in itertools.groupby(chosen, key=lambda h: h.at_ms // 1000 // BATCH_WINDOW_SECONDS):
        closes = (window + 1) * BATCH_WINDOW_SECONDS
        for part, chunk in enumerate(_chunks(list(events), BATCH_SIZE), start=1):
            body = orjson.dumps([{**payload(h), "id": webhook.id} for h in chunk])
            push_key = f"window {window * BATCH_WINDOW_SECONDS} part {part}"
            push = Push(webhook.type, push_key, target, body, accepted_at, details=_details(webhook, len(chunk)))
            found.append((float(closes) if due_now is None else due_now, push))
    return found


def _details(webhook: Webhook, count: int) -> dict[str, Any]:
    return {"webhook_id": webhook.id, "batched": webhook.batched, "events": count}


def _chunks(items: list[Happening], size: int) -> Iterator[list[Happening]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
