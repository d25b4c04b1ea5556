"""Orders into Brevo through `/orders/status/batch` (upserted by id, so a repeat is harmless)."""

from __future__ import annotations

import functools
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

    def __init__(
        self,
        api: BrevoApi,
        report: RunReport,
        *,
        historical: bool | None,
        live_window_seconds: float,
        **request: Any,
    ) -> None:
        super().__init__(api, report, **request)
        self.historical = historical
        self.live_window_seconds = live_window_seconds

    def put(self, order: BrevoItem, record: dict[str, Any]) -> None:
        if order.key in self._batch:
            self.report.count(self.report_as, "duplicates_in_input")  # Brevo upserts by id: the last version wins
        self._hold_item(order, record)

    def _send(self, items: list[HeldItem]) -> None:
        """Live orders and historical ones go in separate requests (`historical` is per request)."""
        if self.historical is not None:
            self._send_with(items, functools.partial(self._send_orders, historical=self.historical))
            return
        live_since = self.api.now() - self.live_window_seconds
        for historical in (False, True):
            group = [held for held in items if (held.item.occurred_at < live_since) == historical]
            if group:
                self._send_with(group, functools.partial(self._send_orders, historical=historical))

    def _send_orders(self, items: list[HeldItem], *, historical: bool) -> int:
        self.api.send_orders([held.item.payload for held in items], historical=historical)
        self.report.count(self.report_as, "sent", len(items))
        self.report.count(self.report_as, "sent_historical" if historical else "sent_live", len(items))
        return len(items)
