"""The `revenue` stream: Amplitude's `$` revenue fields first, then plain event properties (`revenue_properties`),
for the event types `revenue_event_types` names."""

from __future__ import annotations

import pytest
from tap_amplitude.revenue import RevenueReader

from tap.support import STRICT_WARNINGS, at, base_config, ingest, run_tap, set_clock
from tap.test_tap_units import decoded, event

pytestmark = STRICT_WARNINGS


def revenue_of(properties: dict, event_type: str = "Purchase", reader: RevenueReader | None = None) -> dict | None:
    return (reader or RevenueReader()).record(decoded(event(2, 1, event_type=event_type, event_properties=properties)))


def fields(record: dict | None) -> tuple:
    assert record is not None
    return tuple(record[k] for k in ("revenue", "price", "quantity", "product_id", "revenue_type", "currency"))


def test_amplitude_fields_revenue_or_price_times_quantity():
    assert revenue_of({}) is None and revenue_of({"page": "/"}) is None
    priced = {"$price": 2.5, "$quantity": 3, "$productId": "sku", "$currency": "eur", "$revenueType": "income"}
    record = revenue_of(priced)
    assert fields(record) == (7.5, 2.5, 3, "sku", "income", "EUR")
    assert record["event_time"] == "2024-03-02T01:09:02.123000+00:00" and record["event_type"] == "Purchase"
    assert fields(revenue_of({"$revenue": -4, "$revenueType": "refund"})) == (-4, None, 1, None, "refund", None)


def test_plain_event_properties_by_default():
    assert fields(revenue_of({"revenue": 89.99, "product_id": "SKU-001"})) == (89.99, None, 1, "SKU-001", None, None)
    camel = {"price": "12.5", "quantity": 2, "productId": "sku-9", "revenueType": "purchase", "currency": "usd"}
    assert fields(revenue_of(camel)) == (25.0, 12.5, 2, "sku-9", "purchase", "USD")
    assert revenue_of({"product_id": "SKU-001", "quantity": 2}) is None, "no amount: not a revenue event"
    assert revenue_of({"revenue": "n/a"}) is None


def test_configured_properties_are_tried_in_order():
    reader = RevenueReader({"revenue": ["amount", "total"], "product_id": ["sku"]})
    record = revenue_of({"total": 5, "amount": 7, "sku": "a", "product_id": "b"}, reader=reader)
    assert fields(record) == (7, None, 1, "a", None, None)
    assert fields(revenue_of({"total": 5}, reader=reader)) == (5, None, 1, None, None, None)
    assert revenue_of({"revenue": 5}, reader=reader) is None, "a configured field replaces its default"
    assert fields(revenue_of({"price": 3, "currency": "eur"}, reader=reader)) == (3, 3, 1, None, None, "EUR")
    only_amplitude = RevenueReader({"revenue": [], "price": []})
    assert revenue_of({"revenue": 5, "price": 1}, reader=only_amplitude) is None


def test_dollar_fields_win_over_plain_properties():
    both = {"$revenue": 10.0, "revenue": 99.0, "$productId": "amp", "product_id": "plain", "currency": "gbp"}
    assert fields(revenue_of(both)) == (10.0, None, 1, "amp", None, "GBP")  # field by field: `$` first
    assert fields(revenue_of({"$price": 2.0, "quantity": 4})) == (8.0, 2.0, 4, None, None, None)
    assert fields(revenue_of({"$revenue": "bad", "revenue": 3}))[0] == 3, "an unusable `$` value gives way"


@pytest.mark.parametrize(
    ("event_type", "properties", "expected"),
    [
        ("Purchase", {"revenue": 9.0}, 9.0),
        ("Add to Cart", {"price": 9.0, "product_id": "sku"}, None),  # plain properties of other types do not count
        ("Add to Cart", {"$revenue": 4.0, "revenue": 9.0}, 4.0),  # `$` fields count on every event type
        ("Revenue", {"$price": 3.0, "price": 9.0}, 3.0),
    ],
)
def test_revenue_event_types_limit_plain_properties(event_type, properties, expected):
    reader = RevenueReader(event_types=["Purchase"])
    record = revenue_of(properties, event_type, reader)
    assert (record and record["revenue"]) == expected


def test_the_seed_example_through_http_v2_and_the_tap(sandbox, tap_dir):
    purchase = {
        "user_id": "user_123",
        "event_type": "Purchase",
        "event_properties": {"revenue": 89.99, "product_id": "SKU-001"},
        "time": int(at(0.4).timestamp() * 1000),
    }
    cart = {**purchase, "event_type": "Add to Cart", "event_properties": {"price": 89.99, "product_id": "SKU-001"}}
    ingest(sandbox, [purchase, cart], when=at(0.5))
    set_clock(sandbox, at(6))
    run = run_tap(tap_dir(), base_config(sandbox), streams=("events", "revenue"))
    assert run.returncode == 0, run.stderr
    uuids = {e["event_type"]: e["uuid"] for e in run.records("events")}
    by_type = {r["event_type"]: r for r in run.records("revenue")}
    assert set(by_type) == {"Purchase", "Add to Cart"}
    assert (by_type["Purchase"]["revenue"], by_type["Purchase"]["product_id"]) == (89.99, "SKU-001")
    assert by_type["Purchase"]["user_id"] == "user_123" and by_type["Purchase"]["uuid"] == uuids["Purchase"]

    limited = run_tap(tap_dir(), base_config(sandbox, revenue_event_types=["Purchase"]), streams=("revenue",))
    assert limited.returncode == 0, limited.stderr
    assert [(r["event_type"], r["revenue"]) for r in limited.records("revenue")] == [("Purchase", 89.99)]
