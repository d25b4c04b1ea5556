"""Orders into Brevo through `/orders/status/batch` (upserted by id, so a repeat is harmless)."""

from __future__ import annotations

from typing import Any

from target_brevo.brevo.api import ORDERS_ENVELOPE_BYTES, BrevoApi
from target_brevo.delivery.records import HeldItem, RecordRequest
from target_brevo.mapping.values import BrevoItem
from target_brevo.report import RunReport


class OrderDelivery(RecordRequest):
    """Sends one stream's orders in full batches."""

    report_as = "orders"
    item_name = "order"

    envelope_bytes = ORDERS_ENVELOPE_BYTES

    def __init__(self, api: BrevoApi, report: RunReport, *, historical: bool, **request: Any) -> None:
        super().__init__(api, report, **request)
        self.historical = historical

    def put(self, order: BrevoItem, record: dict[str, Any]) -> None:
        if order.key in self._batch:
            self.report.count(self.report_as, "duplicates_in_input")  # Brevo upserts by id: the last version wins
        self._hold_item(order, record)

    def _send_once(self, items: list[HeldItem]) -> int:
        self.api.send_orders([held.item.payload for held in items], historical=self.historical)
        self.report.count(self.report_as, "sent", len(items))
        return len(items)
