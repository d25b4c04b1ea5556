"""Orders into Brevo through `/orders/status/batch` (upserted by id, so a repeat is harmless)."""

from __future__ import annotations

from typing import Any

import orjson

from target_brevo.brevo.api import ORDERS_ENVELOPE_BYTES, BrevoApi
from target_brevo.delivery.batch import HeldRequest, KeyedBatch, send_splitting
from target_brevo.mapping.orders import Order
from target_brevo.report import RunReport

REPORT_AS = "orders"

_Held = tuple[Order, dict[str, Any]]  # the order and its source record (for the rejects file)


class OrderDelivery(HeldRequest[_Held]):
    """Sends one stream's orders in full batches."""

    def __init__(
        self,
        api: BrevoApi,
        report: RunReport,
        *,
        stream: str,
        max_orders: int,
        max_bytes: int,
        historical: bool,
        dry_run: bool,
    ) -> None:
        super().__init__(KeyedBatch(max_rows=max_orders, max_bytes=max_bytes, envelope_bytes=ORDERS_ENVELOPE_BYTES))
        self.api = api
        self.report = report
        self.stream = stream
        self.historical = historical
        self.dry_run = dry_run

    def put(self, order: Order, record: dict[str, Any]) -> None:
        if order.id in self._batch:
            self.report.count(REPORT_AS, "duplicates_in_input")  # Brevo upserts by id: the last version wins
        size = len(orjson.dumps(order.payload)) + 1
        if not self._hold(order.id, (order, record), size):
            self._refuse((order, record), f"order is {size} bytes, over the batch byte limit")

    def _send(self, items: list[_Held]) -> None:
        if self.dry_run:
            self.report.count(REPORT_AS, "would_send", len(items))
            return
        send_splitting(
            items, self._send_once, self._refuse, what="order",
            on_split=lambda: self.report.count(REPORT_AS, "batch_splits"),
        )

    def _send_once(self, items: list[_Held]) -> int:
        self.api.send_orders([order.payload for order, _ in items], historical=self.historical)
        self.report.count(REPORT_AS, "sent", len(items))
        return len(items)

    def _refuse(self, item: _Held, reason: str) -> None:
        order, record = item
        self.report.reject(REPORT_AS, self.stream, order.id, reason, record)
