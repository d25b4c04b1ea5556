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

    A batch's keys are claimed in the ledger before the request (keys another process has delivered
    or is sending meanwhile are left out), marked `delivered` with Brevo's answer, with SIGTERM/SIGINT
    held back in between, and released if Brevo did not accept them (see `Ledger`)."""

    report_as = "events"
    item_name = "event"

    envelope_bytes = EVENTS_ENVELOPE_BYTES

    def __init__(
        self,
        api: BrevoApi,
        ledger: Ledger,
        report: RunReport,
        *,
        live_window_seconds: float,
        send_old_events: bool,
        **request: Any,
    ) -> None:
        super().__init__(api, report, **request)
        self.ledger = ledger
        self.live_window_seconds = live_window_seconds
        self.send_old_events = send_old_events

    def put(self, event: BrevoItem, record: dict[str, Any], event_type: str) -> None:
        held = HeldItem(event, record, event_type)
        if event.key in self._batch:
            self._count([held], "duplicates_in_input")
        elif self.ledger.is_delivered(LEDGER_KIND, event.key, *event.aliases):
            # also covers a repeat of an event sent earlier in this run
            self._count([held], "skipped_already_delivered")
        elif not self.send_old_events and event.occurred_at < self.api.now() - self.live_window_seconds:
            # sent now, it would fire automations for something long past
            self._count([held], "skipped_too_old")
        else:
            self._hold_item(event, record, event_type)

    def _send(self, items: list[HeldItem]) -> None:
        if self.dry_run:
            self._send_with(items, self._send_events)  # counts them, sends nothing
            return
        # An event is claimed under all its keys at once, so a copy known by another key (streamed without
        # `$insert_id`, exported with it) is not sent by two targets sharing the ledger.
        groups = [(held.item.key, *held.item.aliases) for held in items]
        claimed = set(self.ledger.claim(LEDGER_KIND, groups))
        # not claimed: another target sharing the ledger delivered them since `put`, or is sending them
        self._count([held for i, held in enumerate(items) if i not in claimed], "skipped_claimed_elsewhere")
        try:
            self._send_with([held for i, held in enumerate(items) if i in claimed], self._send_events)
        finally:  # the claims Brevo did not accept are free again (delivered keys are never forgotten)
            self.ledger.forget(LEDGER_KIND, [key for i in claimed for key in groups[i]])

    def _send_events(self, items: list[HeldItem]) -> int:
        with signals_held():
            failed = self.api.send_events([held.item.payload for held in items])
            # 202: all accepted. 207: all but the listed indexes (Brevo queued the rest).
            accepted = [held for i, held in enumerate(items) if i not in failed]
            keys = [key for held in accepted for key in (held.item.key, *held.item.aliases)]
            self.ledger.mark_delivered(LEDGER_KIND, keys)
        self._count(accepted, "sent")
        if failed:
            self.report.count(self.report_as, "partial_batches")
        for index, message in sorted(failed.items()):
            self._refuse(items[index], f"Brevo rejected the event: {message}")
        return len(accepted)
