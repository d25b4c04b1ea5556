"""Delivering held events: requests within the limits, and each of Amplitude's answers acted on.

- 200: every event of the request is in; their insert_ids go to the ledger (and only then).
- 413: the request is cut in half and sent again, and later requests stay at that size; an event
  that is too large alone is rejected.
- 400 naming events (`events_with_invalid_fields`, `events_with_missing_fields`,
  `events_with_invalid_id_lengths`, `silenced_events`): those are rejected with the reason, the others
  sent again at once. A 400 naming no event (a malformed request) stops the run.
- 429: events of users/devices over the daily quota (`exceeded_daily_quota_users/devices`) are
  rejected; the other `throttled_events` are held `throttle_wait_seconds` (30 s, as Amplitude asks)
  while the rest are sent at once.
- 5xx and transport errors are retried by the client with the same body, hence the same insert_ids.
`flush` returns only when every event it held is accepted or rejected, so a STATE emitted after it
covers delivered records only.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from target_amplitude.amplitude.client import AmplitudeClient, AmplitudeError, Answer
from target_amplitude.delivery.ledger import Ledger
from target_amplitude.delivery.requests import Item, take_request
from target_amplitude.report import RunReport

LOGGER = logging.getLogger("target_amplitude.delivery")
INDEX_FIELDS = (
    ("events_with_invalid_fields", "invalid field {}"),
    ("events_with_missing_fields", "missing field {}"),
    ("events_with_invalid_id_lengths", "{} shorter than min_id_length"),
)


def invalid_indexes(body: dict[str, Any]) -> dict[int, str]:
    """Index of every event a 400 names -> the reason (`invalid field time`, `silenced device`, ...)."""
    reasons: dict[int, list[str]] = {}
    for key, template in INDEX_FIELDS:
        named = body.get(key)
        if isinstance(named, dict):
            for field, indexes in named.items():
                for index in indexes if isinstance(indexes, list) else ():
                    reasons.setdefault(int(index), []).append(template.format(field))
    for index in body.get("silenced_events") or ():
        reasons.setdefault(int(index), []).append("silenced device")
    return {index: ", ".join(why) for index, why in reasons.items()}


class EventDelivery:
    """Holds mapped events until `flush`, then delivers them all."""

    def __init__(
        self,
        client: AmplitudeClient,
        ledger: Ledger,
        report: RunReport,
        *,
        max_events: int,
        max_bytes: int,
        throttle_wait_seconds: float,
        max_throttle_rounds: int,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.report = report
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.throttle_wait_seconds = throttle_wait_seconds
        self.max_throttle_rounds = max_throttle_rounds
        self._monotonic = monotonic
        self._sleep = sleep
        self._held: list[Item] = []
        self._order = itertools.count()
        self.flushing = False  # a delivery under way: no STATE may be emitted (see TargetAmplitude)

    @property
    def pending(self) -> int:
        return len(self._held)

    def put(self, item: Item) -> None:
        self._held.append(item)

    def flush(self) -> None:
        if self.flushing:
            # Re-entered from a signal handler while a delivery is under way: it must neither send the held
            # events a second time nor clear `flushing` under the interrupted delivery (a STATE would follow).
            return
        self.flushing = True
        try:
            self._deliver(self._held)
        finally:
            self.flushing = False

    def _deliver(self, items: list[Item]) -> None:
        self._held = []
        queue = deque(self._not_yet_delivered(items))
        waiting: list[tuple[float, int, Item]] = []  # (ready at, order, item): throttled events
        while queue or waiting:
            now = self._monotonic()
            while waiting and waiting[0][0] <= now:
                queue.append(heapq.heappop(waiting)[2])
            if not queue:
                self._sleep(max(0.0, waiting[0][0] - now))
                continue
            request = take_request(queue, self.max_events, self.max_bytes, self.client.envelope_bytes)
            answer = self.client.send([item.encoded for item in request])
            self._act_on(answer, request, queue, waiting)

    def _not_yet_delivered(self, items: list[Item]) -> list[Item]:
        """Drop events whose insert_id the ledger has, or that came twice in this batch."""
        delivered = self.ledger.delivered(item.insert_id for item in items)
        seen: set[str] = set()
        fresh = []
        for item in items:
            if item.insert_id in delivered or item.insert_id in seen:
                self.report.count("duplicates_skipped")
                continue
            seen.add(item.insert_id)
            fresh.append(item)
        return fresh

    def _act_on(
        self, answer: Answer, request: list[Item], queue: deque[Item], waiting: list[tuple[float, int, Item]]
    ) -> None:
        if answer.status == 200:
            self.ledger.record(item.insert_id for item in request)
            self.report.sent(request)
        elif answer.status == 413:
            self._shrink(request, queue)
        elif answer.status == 400:
            self._drop_invalid(answer, request, queue)
        elif answer.status == 429:
            self._hold_throttled(answer, request, queue, waiting)
        else:  # the client returns no other status
            raise AmplitudeError(f"unexpected answer {answer.status}", status=answer.status)

    def _shrink(self, request: list[Item], queue: deque[Item]) -> None:
        if len(request) == 1:
            self.report.reject(request[0], "payload too large (413) even alone")
            return
        self.max_events = max(1, len(request) // 2)
        self.report.count("shrunk_on_413")
        LOGGER.info(
            "Amplitude answered 413 to %d events: sending at most %d per request", len(request), self.max_events
        )
        queue.extendleft(reversed(request))

    def _drop_invalid(self, answer: Answer, request: list[Item], queue: deque[Item]) -> None:
        reasons = invalid_indexes(answer.body)
        named = {index: why for index, why in reasons.items() if 0 <= index < len(request)}
        if not named:
            raise AmplitudeError(
                f"POST {self.client.path}: Amplitude refused the request (400 {self.client.redact(answer.error)})",
                status=400,
            )
        for index, why in named.items():
            self.report.reject(request[index], f"refused by Amplitude (400 {answer.error}): {why}")
        queue.extendleft(reversed([item for index, item in enumerate(request) if index not in named]))

    def _hold_throttled(
        self, answer: Answer, request: list[Item], queue: deque[Item], waiting: list[tuple[float, int, Item]]
    ) -> None:
        body = answer.body
        throttled = {int(i) for i in body.get("throttled_events") or ()} or set(range(len(request)))
        over_users = body.get("exceeded_daily_quota_users") or {}
        over_devices = body.get("exceeded_daily_quota_devices") or {}
        ready_at = self._monotonic() + self.throttle_wait_seconds
        resend = []
        for index, item in enumerate(request):
            if index not in throttled:
                resend.append(item)
            elif item.event.get("user_id") in over_users or item.event.get("device_id") in over_devices:
                self.report.reject(item, "exceeded Amplitude's daily quota for this user or device (429)")
            else:
                item.throttle_rounds += 1
                if item.throttle_rounds > self.max_throttle_rounds:
                    raise AmplitudeError(
                        f"POST {self.client.path}: events still throttled (429) after {self.max_throttle_rounds} waits",
                        status=429,
                    )
                self.report.count("throttled")
                heapq.heappush(waiting, (ready_at, next(self._order), item))
        held = len(request) - len(resend)
        LOGGER.info(
            "Amplitude throttled %d events (429, eps_threshold %s): held %.0fs, sending the %d others",
            held, body.get("eps_threshold"), self.throttle_wait_seconds, len(resend),
        )  # fmt: skip
        if not resend and len(request) > 1:
            # Every event throttled: one user or device may have more events in a request than its limit allows
            # at all, and the same request after the wait would be throttled again. Smaller requests from now on.
            self.max_events = max(1, len(request) // 2)
            LOGGER.info("All %d events throttled: sending at most %d per request", len(request), self.max_events)
        queue.extendleft(reversed(resend))
