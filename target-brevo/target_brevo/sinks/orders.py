"""orders: revenue records -> Brevo eCommerce orders (upserted by id)."""

from __future__ import annotations

from typing import Any

from target_brevo.delivery.orders import OrderDelivery
from target_brevo.mapping.orders import OrderRules
from target_brevo.sinks.base import DeliverySink


class OrdersSink(DeliverySink):
    """Sends an order per record."""

    report_as = "orders"

    rules: OrderRules
    delivery: OrderDelivery

    def handle(self, record: dict[str, Any]) -> None:
        if not self.admitted(record):
            return
        self.delivery.put(self.rules.to_order(record), record)
