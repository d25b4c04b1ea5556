"""The `revenue` record of an exported event: Amplitude's `$` revenue fields first, then plain event properties.

Amplitude stores the revenue fields of its ingestion APIs and SDKs (`price`, `quantity`, `revenue`, `productId`,
`revenueType`, `currency` on the event) as `$price`, `$quantity`, ... in `event_properties`; those always count.
Many apps instead put the amount in a plain event property (`{"revenue": 89.99, "product_id": "SKU-001"}`):
`revenue_properties` names those properties, tried in order after the `$` field, and `revenue_event_types`
limits which event types' plain properties count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

REVENUE_FIELDS = ("revenue", "price", "quantity", "product_id", "revenue_type", "currency")
AMPLITUDE_FIELDS = {
    "revenue": "$revenue",
    "price": "$price",
    "quantity": "$quantity",
    "product_id": "$productId",
    "revenue_type": "$revenueType",
    "currency": "$currency",
}
DEFAULT_PROPERTIES: dict[str, list[str]] = {
    "revenue": ["revenue"],
    "price": ["price"],
    "quantity": ["quantity"],
    "product_id": ["product_id", "productId"],
    "revenue_type": ["revenue_type", "revenueType"],
    "currency": ["currency"],
}


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _first_number(properties: dict[str, Any], names: tuple[str, ...]) -> float | None:
    for name in names:
        number = _number(properties.get(name))
        if number is not None:
            return number
    return None


def _first_text(properties: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = properties.get(name)
        if value is not None:
            return str(value)
    return None


def _quantity(properties: dict[str, Any], names: tuple[str, ...]) -> float | int | None:
    """The first quantity that is a number; 1 when the event names none, None when it names only unusable ones."""
    unusable = False
    for name in names:
        value = properties.get(name)
        if value is not None:
            number = _number(value)
            if number is not None:
                return int(number) if number.is_integer() else number
            unusable = True
    return None if unusable else 1


class RevenueLookup:
    """The event properties each revenue field is read from, in order, and those that make an event revenue."""

    def __init__(self, plain: Mapping[str, Sequence[str]]) -> None:
        names = {field: (AMPLITUDE_FIELDS[field], *plain.get(field, ())) for field in REVENUE_FIELDS}
        self.revenue = names["revenue"]
        self.price = names["price"]
        self.quantity = names["quantity"]
        self.product_id = names["product_id"]
        self.revenue_type = names["revenue_type"]
        self.currency = names["currency"]
        self.amounts = frozenset(self.revenue + self.price)


def revenue_properties(configured: Mapping[str, Iterable[str]] | None) -> dict[str, list[str]]:
    """`revenue_properties` as given (the config schema admits only REVENUE_FIELDS), over the defaults: a field
    it leaves out keeps its default."""
    merged = dict(DEFAULT_PROPERTIES)
    for field, names in (configured or {}).items():
        if names is not None:
            merged[field] = [names] if isinstance(names, str) else list(names)
    return merged


class RevenueReader:
    """Builds `revenue` records from decoded `ExportedEvent`s; the lookups are worked out once, not per event."""

    def __init__(
        self, properties: Mapping[str, Iterable[str]] | None = None, event_types: Iterable[str] | None = None
    ) -> None:
        with_plain, amplitude_only = RevenueLookup(revenue_properties(properties)), RevenueLookup({})
        # event type -> its lookup, else the default: one dict probe per event whether or not types are set
        self._by_event_type = dict.fromkeys(event_types or (), with_plain)
        self._default = amplitude_only if event_types else with_plain

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RevenueReader:
        return cls(config.get("revenue_properties"), config.get("revenue_event_types"))

    def record(self, event: Any) -> dict[str, Any] | None:
        """The revenue record of an event with a revenue or price among its looked-up properties, else None."""
        properties = event.event_properties
        if not properties:
            return None
        lookup = self._by_event_type.get(event.event_type, self._default)
        if properties.keys().isdisjoint(lookup.amounts):  # nearly every event: one C-level check
            return None
        revenue = _first_number(properties, lookup.revenue)
        price = _first_number(properties, lookup.price)
        if revenue is None and price is None:
            return None
        quantity = _quantity(properties, lookup.quantity)
        if revenue is None and price is not None and quantity is not None:
            revenue = price * quantity
        currency = _first_text(properties, lookup.currency)
        return {
            "uuid": event.uuid,
            "event_type": event.event_type,
            "event_time": event.event_time,
            "server_upload_time": event.server_upload_time,
            "amplitude_id": event.amplitude_id,
            "user_id": event.user_id,
            "device_id": event.device_id,
            "revenue": revenue,
            "price": price,
            "quantity": quantity,
            "product_id": _first_text(properties, lookup.product_id),
            "revenue_type": _first_text(properties, lookup.revenue_type),
            "currency": None if currency is None else currency.upper(),
        }
