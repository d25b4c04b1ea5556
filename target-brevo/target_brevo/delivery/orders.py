"""Orders into Brevo through `/orders/status/batch`, or one `/orders/status` call each when a request holds
few live orders (upserted by id, so a repeat is harmless).

The batch endpoint shares Brevo's 100-requests-per-hour bucket, so a flush every second cannot afford a
batch per flush; the single-order endpoint has its own limit (5 per second). It has no `historical`
flag, and Brevo's order automations fire on what it receives: historical orders always go by batch.
"""

from __future__ import annotations

import functools
from typing import Any

from target_brevo.brevo.api import ORDERS_ENVELOPE_BYTES, BrevoApi
from target_brevo.delivery.records import HeldItem, RecordRequest
from target_brevo.mapping.values import BrevoItem
from target_brevo.report import RunReport


class OrderDelivery(RecordRequest):
    """Sends one stream's orders in full batches; a request of at most `calls_max` live orders as one call each."""

    report_as = "orders"
    item_name = "order"

    envelope_bytes = ORDERS_ENVELOPE_BYTES

    def __init__(
        self,
        api: BrevoApi,
        report: RunReport,
        *,
        historical: bool | None,
        live_window_seconds: float,
        calls_max: int,
        **request: Any,
    ) -> None:
        super().__init__(api, report, **request)
        self.historical = historical
        self.live_window_seconds = live_window_seconds
        self.calls_max = calls_max

    def put(self, order: BrevoItem, record: dict[str, Any]) -> None:
        if order.key in self._batch:
            self.report.count(self.report_as, "duplicates_in_input")  # Brevo upserts by id: the last version wins
        self._hold_item(order, record)

    def _send(self, items: list[HeldItem]) -> None:
        """Live orders and historical ones go in separate requests (`historical` is per request)."""
        if self.historical is not None:
            self._send_group(items, historical=self.historical)
            return
        live_since = self.api.now() - self.live_window_seconds
        for historical in (False, True):
            group = [held for held in items if (held.item.occurred_at < live_since) == historical]
            if group:
                self._send_group(group, historical=historical)

    def _send_group(self, items: list[HeldItem], *, historical: bool) -> None:
        if not historical and len(items) <= self.calls_max:
            for held in items:
                self._send_with([held], self._send_live_order)
            return
        self._send_with(items, functools.partial(self._send_orders, historical=historical))

    def _send_live_order(self, items: list[HeldItem]) -> int:
        (held,) = items
        self.api.send_live_order(held.item.payload)
        self._count_sent(1, historical=False)
        return 1

    def _send_orders(self, items: list[HeldItem], *, historical: bool) -> int:
        self.api.send_orders([held.item.payload for held in items], historical=historical)
        self._count_sent(len(items), historical=historical)
        return len(items)

    def _count_sent(self, n: int, *, historical: bool) -> None:
        self.report.count(self.report_as, "sent", n)
        self.report.count(self.report_as, "sent_historical" if historical else "sent_live", n)
