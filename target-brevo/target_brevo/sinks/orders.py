"""orders: revenue records -> Brevo eCommerce orders through POST /orders/status/batch (upserted by id)."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from target_brevo.chunking import KeyedBatch
from target_brevo.client import BrevoError
from target_brevo.mapping import InvalidValue, content_key, get_path, to_datetime_iso, to_identifier, to_number, to_text
from target_brevo.sinks.base import RequestBatchSink

LOGGER = logging.getLogger("target_brevo.orders")
_ENVELOPE = len(b'{"orders":,"historical":false}')


class OrdersSink(RequestBatchSink):
    kind = "orders"
    priority = 50

    def setup(self) -> None:
        super().setup()
        settings = self.runtime.settings
        self._batch: KeyedBatch[tuple[str, dict[str, Any], dict[str, Any]]] = KeyedBatch(
            max_rows=settings.orders_batch_max_orders, max_bytes=settings.orders_batch_max_bytes,
            envelope_bytes=_ENVELOPE)

    def prepare(self, record: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
        settings = self.runtime.settings
        fields = settings.order_fields

        def field(name: str) -> Any:
            path = fields.get(name)
            return get_path(record, path) if path else None

        order_id = to_identifier(field("id")) or content_key(record)
        created = field("created_at")
        if created in (None, ""):
            raise InvalidValue(f"no order time in {fields.get('created_at')!r}")
        created_at = to_datetime_iso(created, millis=False)
        price = field("price")
        quantity = field("quantity")
        amount = field("amount")
        price_n = to_number(price) if price not in (None, "") else None
        quantity_n = to_number(quantity) if quantity not in (None, "") else 1
        if amount not in (None, ""):
            amount_n = to_number(amount)
        elif price_n is not None:
            amount_n = price_n * quantity_n
        else:
            raise InvalidValue("no amount: the record has neither revenue nor price")
        if price_n is None:
            price_n = amount_n / quantity_n if quantity_n else amount_n
        product_id = to_identifier(field("product_id")) or to_identifier(field("revenue_type")) or "revenue"
        email, ext_id = self.identity(record)
        identifiers = {k: v for k, v in (("email_id", email), ("ext_id", ext_id)) if v}
        if not identifiers:
            raise InvalidValue("no identifier: the order has no valid email and no ext_id")
        status = to_identifier(field("status")) or settings.order_status
        order: dict[str, Any] = {
            "id": order_id,
            "createdAt": created_at,
            "updatedAt": created_at,
            "status": status,
            "amount": amount_n,
            "products": [{"productId": product_id, "price": price_n, "quantity": quantity_n}],
            "identifiers": identifiers,
        }
        meta = {name: to_text(value) for name in ("revenue_type", "currency")
                if (value := field(name)) not in (None, "")}
        if meta:
            order["metaInfo"] = meta
        return order_id, order, record

    def buffer(self, item: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
        order_id, order, record = item
        batch = self._batch
        if order_id in batch:
            self.runtime.report.count(self.kind, "duplicates_in_input")  # Brevo upserts by id: the last version wins
        size = len(orjson.dumps(order)) + 1
        if not self._enqueue(order_id, item, size):
            self.reject(record, f"order is {size} bytes, over the batch byte limit", key=order_id)

    def _send_batch(self) -> None:
        part = self._batch.take()
        if self.runtime.settings.dry_run:
            self.runtime.report.count(self.kind, "would_send", len(part))
            return
        self._send(part)

    def _send(self, part: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
        report = self.runtime.report
        body = {"orders": [order for _, order, _ in part], "historical": self.runtime.settings.orders_historical}
        response = self.runtime.client.call("POST", "/orders/status/batch", json=body)
        if response.ok:
            report.count(self.kind, "sent", len(part))
            return
        if response.error_code == "permission_denied":
            raise BrevoError(f"POST /orders/status/batch: {response.error_message} (activate eCommerce in Brevo)",
                             status=response.status, code=response.error_code)
        if len(part) == 1:
            key, _, record = part[0]
            self.reject(record, f"Brevo refused the order ({response.status} {response.error_code}): {response.error_message}",
                        key=key)
            return
        LOGGER.warning("Brevo refused a batch of %d orders (%s %s); splitting it to isolate the bad ones",
                       len(part), response.status, response.error_message)
        report.count(self.kind, "batch_splits")
        half = len(part) // 2
        self._send(part[:half])
        self._send(part[half:])
