"""Events into Brevo through `/events/batch`, exactly once across runs through the ledger."""

from __future__ import annotations

from typing import Any

import orjson

from target_brevo.brevo.api import EVENTS_ENVELOPE_BYTES, BrevoApi
from target_brevo.delivery.batch import HeldRequest, KeyedBatch, send_splitting
from target_brevo.delivery.ledger import Ledger, signals_held
from target_brevo.mapping.events import Event
from target_brevo.report import RunReport

REPORT_AS = "events"
LEDGER_KIND = "event"

_Held = tuple[Event, dict[str, Any]]  # the event and its source record (for the rejects file)


class EventDelivery(HeldRequest[_Held]):
    """Sends one stream's events in full batches; skips those the ledger says Brevo already accepted.

    A batch's keys are written `inflight` before the request and `delivered` with Brevo's answer,
    with SIGTERM/SIGINT held back in between (see `Ledger`)."""

    def __init__(
        self,
        api: BrevoApi,
        ledger: Ledger,
        report: RunReport,
        *,
        stream: str,
        max_events: int,
        max_bytes: int,
        dry_run: bool,
    ) -> None:
        super().__init__(KeyedBatch(max_rows=max_events, max_bytes=max_bytes, envelope_bytes=EVENTS_ENVELOPE_BYTES))
        self.api = api
        self.ledger = ledger
        self.report = report
        self.stream = stream
        self.dry_run = dry_run

    def put(self, event: Event, record: dict[str, Any]) -> None:
        if event.key in self._batch:
            self.report.count(REPORT_AS, "duplicates_in_input")
            return
        if self.ledger.is_delivered(LEDGER_KIND, event.key):
            # also covers a repeat of an event sent earlier in this run
            self.report.count(REPORT_AS, "skipped_already_delivered")
            return
        size = len(orjson.dumps(event.payload)) + 1
        if not self._hold(event.key, (event, record), size):
            self._refuse((event, record), f"event is {size} bytes, over the batch byte limit")

    def _send(self, items: list[_Held]) -> None:
        if self.dry_run:
            self.report.count(REPORT_AS, "would_send", len(items))
            return
        send_splitting(
            items, self._send_once, self._refuse, what="event",
            on_split=lambda: self.report.count(REPORT_AS, "batch_splits"),
        )

    def _send_once(self, items: list[_Held]) -> int:
        keys = [event.key for event, _ in items]
        with signals_held():
            self.ledger.mark_inflight(LEDGER_KIND, keys)
            try:
                failed = self.api.send_events([event.payload for event, _ in items])
            except BaseException:
                self.ledger.forget(LEDGER_KIND, keys)
                raise
            # 202: all accepted. 207: all but the listed indexes (Brevo queued the rest).
            self.ledger.mark_delivered(LEDGER_KIND, [key for i, key in enumerate(keys) if i not in failed])
            self.ledger.forget(LEDGER_KIND, [keys[i] for i in failed])
        accepted = len(items) - len(failed)
        self.report.count(REPORT_AS, "sent", accepted)
        if failed:
            self.report.count(REPORT_AS, "partial_batches")
        for index, message in sorted(failed.items()):
            self._refuse(items[index], f"Brevo rejected the event: {message}")
        return accepted

    def _refuse(self, item: _Held, reason: str) -> None:
        event, record = item
        self.report.reject(REPORT_AS, self.stream, event.key, reason, record)
