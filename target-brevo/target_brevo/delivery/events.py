"""Events into Brevo through `/events/batch`, exactly once across runs through the ledger."""

from __future__ import annotations

from typing import Any

from target_brevo.brevo.api import EVENTS_ENVELOPE_BYTES, BrevoApi
from target_brevo.delivery.ledger import Ledger, signals_held
from target_brevo.delivery.records import HeldItem, RecordRequest
from target_brevo.mapping.values import BrevoItem
from target_brevo.report import RunReport

LEDGER_KIND = "event"


class EventDelivery(RecordRequest):
    """Sends one stream's events in full batches; skips those the ledger says Brevo already accepted.

    A batch's keys are written `inflight` before the request and `delivered` with Brevo's answer,
    with SIGTERM/SIGINT held back in between (see `Ledger`)."""

    report_as = "events"
    item_name = "event"

    envelope_bytes = EVENTS_ENVELOPE_BYTES

    def __init__(self, api: BrevoApi, ledger: Ledger, report: RunReport, **request: Any) -> None:
        super().__init__(api, report, **request)
        self.ledger = ledger

    def put(self, event: BrevoItem, record: dict[str, Any]) -> None:
        if event.key in self._batch:
            self.report.count(self.report_as, "duplicates_in_input")
            return
        if self.ledger.is_delivered(LEDGER_KIND, event.key):
            # also covers a repeat of an event sent earlier in this run
            self.report.count(self.report_as, "skipped_already_delivered")
            return
        self._hold_item(event, record)

    def _send_once(self, items: list[HeldItem]) -> int:
        keys = [held.item.key for held in items]
        with signals_held():
            self.ledger.mark_inflight(LEDGER_KIND, keys)
            try:
                failed = self.api.send_events([held.item.payload for held in items])
            except BaseException:
                self.ledger.forget(LEDGER_KIND, keys)
                raise
            # 202: all accepted. 207: all but the listed indexes (Brevo queued the rest).
            self.ledger.mark_delivered(LEDGER_KIND, [key for i, key in enumerate(keys) if i not in failed])
            self.ledger.forget(LEDGER_KIND, [keys[i] for i in failed])
        accepted = len(items) - len(failed)
        self.report.count(self.report_as, "sent", accepted)
        if failed:
            self.report.count(self.report_as, "partial_batches")
        for index, message in sorted(failed.items()):
            self._refuse(items[index], f"Brevo rejected the event: {message}")
        return accepted
