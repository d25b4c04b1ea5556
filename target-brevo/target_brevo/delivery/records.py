"""A held bulk request of mapped records (events, orders): refusals split out and reported per record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import orjson

from target_brevo.brevo.api import BrevoApi
from target_brevo.delivery.batch import HeldRequest, KeyedBatch, send_splitting
from target_brevo.mapping.values import BrevoItem
from target_brevo.privacy.gate import HeldItemsCheck, PrivacyGate
from target_brevo.report import RunReport


class HeldItem(NamedTuple):
    """A mapped item, the record it came from (for the rejects file) and its source event type (for the
    summary's counts per type; empty for orders)."""

    item: BrevoItem
    record: dict[str, Any]
    event_type: str = ""


class RecordRequest(HeldRequest[HeldItem]):
    """Holds one stream's items; a dry run only counts them. Subclasses send through `_send_with`."""

    #: What the summary counts the items as, what one item is called in messages, and the request's
    #: bytes around its array of items.
    report_as: ClassVar[str]
    item_name: ClassVar[str]
    envelope_bytes: ClassVar[int]

    def __init__(
        self,
        api: BrevoApi,
        report: RunReport,
        *,
        privacy: PrivacyGate,
        stream: str,
        max_items: int,
        max_bytes: int,
        dry_run: bool,
    ) -> None:
        super().__init__(KeyedBatch(max_rows=max_items, max_bytes=max_bytes, envelope_bytes=self.envelope_bytes))
        self.api = api
        self.report = report
        self.held_check = HeldItemsCheck(privacy, lambda held: held.record, self.report_as)
        self.stream = stream
        self.dry_run = dry_run

    def _hold_item(self, item: BrevoItem, record: dict[str, Any], event_type: str = "") -> None:
        size = len(orjson.dumps(item.payload)) + 1
        held = HeldItem(item, record, event_type)
        if not self._hold(item.key, held, size):
            self._refuse(held, f"{self.item_name} is {size} bytes, over the batch byte limit")

    def _send_with(self, items: list[HeldItem], send_once: Callable[[list[HeldItem]], int]) -> None:
        """Send `items` with `send_once`, splitting what Brevo refuses; a dry run only counts them. Items of
        people erased since they were admitted are dropped first."""
        items = self.held_check.kept(items)
        if self.dry_run:
            self._count(items, "would_send")
            return
        send_splitting(
            items,
            send_once,
            self._refuse,
            what=self.item_name,
            on_split=lambda: self.report.count(self.report_as, "batch_splits"),
        )

    def _count(self, items: list[HeldItem], outcome: str) -> None:
        """Count an outcome for the stream and per source event type."""
        self.report.count(self.report_as, outcome, len(items))
        for held in items:
            if held.event_type:
                self.report.count_event(held.event_type, outcome)

    def _refuse(self, held: HeldItem, reason: str) -> None:
        self.report.reject(self.report_as, self.stream, held.item.key, reason, held.record)
