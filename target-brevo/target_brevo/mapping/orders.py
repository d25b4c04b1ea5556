"""Record -> Brevo eCommerce order (`/orders/status/batch` item)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from target_brevo.mapping.identity import IdentityRules
from target_brevo.mapping.values import (
    BrevoItem,
    InvalidValue,
    content_key,
    get_path,
    to_datetime_iso,
    to_epoch,
    to_identifier,
    to_number,
    to_text,
)

DEFAULT_ORDER_FIELDS = {
    "id": "uuid",
    "created_at": "event_time",
    "amount": "revenue",
    "price": "price",
    "quantity": "quantity",
    "product_id": "product_id",
    "status": "order_status",
    "revenue_type": "revenue_type",
    "currency": "currency",
}


@dataclass(frozen=True)
class OrderRules:
    """How a record becomes an order: field paths, the status when the record has none, identity."""

    fields: dict[str, str | None]
    default_status: str
    identity: IdentityRules

    def _field(self, record: dict[str, Any], name: str) -> Any:
        path = self.fields.get(name)
        return get_path(record, path) if path else None

    def to_order(self, record: dict[str, Any]) -> BrevoItem:
        """The order of `record`, keyed by its id (the source uuid, else a hash of the record): one product
        with price and quantity; InvalidValue when it cannot be one."""
        order_id = to_identifier(self._field(record, "id")) or content_key(record)
        created = self._field(record, "created_at")
        if created in (None, ""):
            raise InvalidValue(f"no order time in {self.fields.get('created_at')!r}")
        created_at = to_datetime_iso(created, millis=False)
        amount, price, quantity = self._amounts(record)
        product_id = (
            to_identifier(self._field(record, "product_id"))
            or to_identifier(self._field(record, "revenue_type"))
            or "revenue"
        )
        identifiers = IdentityRules.event_identifiers(self.identity.read(record))
        if not identifiers:
            raise InvalidValue("no identifier: the order has no valid email and no ext_id")
        order: dict[str, Any] = {
            "id": order_id,
            "createdAt": created_at,
            "updatedAt": created_at,
            "status": to_identifier(self._field(record, "status")) or self.default_status,
            "amount": amount,
            "products": [{"productId": product_id, "price": price, "quantity": quantity}],
            "identifiers": identifiers,
        }
        meta = {
            name: to_text(value)
            for name in ("revenue_type", "currency")
            if (value := self._field(record, name)) not in (None, "")
        }
        if meta:
            order["metaInfo"] = meta
        return BrevoItem(order_id, order, to_epoch(created))

    def _amounts(self, record: dict[str, Any]) -> tuple[int | float, int | float, int | float]:
        """(amount, unit price, quantity): the amount is revenue, else price x quantity."""
        price_value = self._field(record, "price")
        quantity_value = self._field(record, "quantity")
        amount_value = self._field(record, "amount")
        price = to_number(price_value) if price_value not in (None, "") else None
        quantity = to_number(quantity_value) if quantity_value not in (None, "") else 1
        if amount_value not in (None, ""):
            amount = to_number(amount_value)
        elif price is not None:
            amount = price * quantity
        else:
            raise InvalidValue("no amount: the record has neither revenue nor price")
        if price is None:
            price = amount / quantity if quantity else amount
        return amount, price, quantity
