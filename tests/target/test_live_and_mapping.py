"""Automation-grade delivery: only live events fire, live orders are live, mappings are checked and
reported, and a bad record is rejected without stopping the run (target-brevo against the sandbox)."""

from __future__ import annotations

import json
import subprocess
import sys

import orjson
import pytest
from singer_sdk.exceptions import ConfigValidationError

from .support import EVENTS_SCHEMA, REVENUE_SCHEMA, USERS_SCHEMA, event, record, run_target, schema, user

EVENTS = {"Purchase": "order_completed", "Add to Cart": "cart_updated"}
EVENT_TIME = "2026-01-02T03:04:05Z"  # the time of support.event() records


def set_clock(brevo, now: str) -> None:
    brevo.admin("PUT", "clock", json={"now": now})


def stored(brevo, what: str) -> list[dict]:
    return brevo.admin("GET", f"brevo/{what}")[what]


def revenue(n: int, when: str) -> dict:
    return record(
        "revenue",
        {"uuid": f"ord-{n}", "event_time": when, "user_id": f"u{n}", "revenue": 10.0, "product_id": "sku"},
    )


def test_events_older_than_the_live_window_are_counted_not_sent(brevo, config):
    set_clock(brevo, "2026-03-01T00:00:00Z")  # two months after the events
    cfg = config(event_mapping=EVENTS, send_old_events=False, live_window_hours=24)
    messages = [EVENTS_SCHEMA, event(1), event(2), event(3, "Add to Cart"), event(4, "Login")]
    result = run_target(cfg, messages)
    assert stored(brevo, "events") == []
    assert result.summary["objects"]["events"]["skipped_too_old"] == 3
    assert result.summary["event_types"] == {
        "Add to Cart": {"seen": 1, "skipped_too_old": 1},
        "Login": {"seen": 1, "skipped_unmapped": 1},
        "Purchase": {"seen": 2, "skipped_too_old": 2},
    }


def test_live_events_are_sent_and_old_ones_too_when_asked(brevo, config, tmp_path):
    set_clock(brevo, "2026-01-02T12:00:00Z")  # nine hours after the events: live
    result = run_target(config(event_mapping=EVENTS, send_old_events=False), [EVENTS_SCHEMA, event(1), event(2)])
    assert len(stored(brevo, "events")) == 2
    assert result.summary["event_types"]["Purchase"] == {"seen": 2, "sent": 2}

    set_clock(brevo, "2026-03-01T00:00:00Z")
    cfg = config(event_mapping=EVENTS, send_old_events=True, ledger_path=str(tmp_path / "other-ledger"))
    result = run_target(cfg, [EVENTS_SCHEMA, event(3), event(4)])
    assert len(stored(brevo, "events")) == 4
    assert "skipped_too_old" not in result.summary["objects"]["events"]


def test_orders_are_live_when_recent_and_historical_when_old(brevo, config, tmp_path):
    brevo.configure("brevo", ecommerce_active=True)
    set_clock(brevo, "2026-01-02T12:00:00Z")
    messages = [REVENUE_SCHEMA, revenue(1, EVENT_TIME), revenue(2, "2025-12-01T00:00:00Z")]
    result = run_target(config(), messages)  # orders_historical defaults to auto
    historical = {o["order"]["id"]: o["historical"] for o in stored(brevo, "orders")}
    assert historical == {"ord-1": False, "ord-2": True}
    assert result.summary["objects"]["orders"] == {"sent": 2, "sent_live": 1, "sent_historical": 1}
    # a live order alone goes by POST /orders/status (live: it has no `historical` flag); a historical one by
    # batch, the only endpoint that can say `historical: true`
    singles = [body for method, url, body in result.requests if url.endswith("/orders/status")]
    assert [o["id"] for o in singles] == ["ord-1"] and "historical" not in singles[0]
    bodies = [body for method, url, body in result.requests if url.endswith("/orders/status/batch")]
    assert [(b["historical"], [o["id"] for o in b["orders"]]) for b in bodies] == [(True, ["ord-2"])]

    result = run_target(config(order_calls_max=0, ledger_path=str(tmp_path / "l2")), messages)
    bodies = [body for method, url, body in result.requests if url.endswith("/orders/status/batch")]
    assert sorted((b["historical"], [o["id"] for o in b["orders"]]) for b in bodies) == [
        (False, ["ord-1"]),
        (True, ["ord-2"]),
    ]


@pytest.mark.parametrize("forced", [True, False])
def test_orders_historical_can_be_forced(brevo, config, forced):
    brevo.configure("brevo", ecommerce_active=True)
    set_clock(brevo, "2026-01-02T12:00:00Z")
    messages = [REVENUE_SCHEMA, revenue(1, EVENT_TIME), revenue(2, "2025-12-01T00:00:00Z")]
    run_target(config(orders_historical=forced), messages)
    assert {o["historical"] for o in stored(brevo, "orders")} == {forced}


def test_bare_property_names_are_read_under_user_properties(brevo, config):
    cfg = config(property_mapping={"email": "email", "first_name": "FIRSTNAME", "plan_type": "PLAN"})
    result = run_target(cfg, [USERS_SCHEMA, user(1, first_name="Ann", plan_type="pro")])
    contact = brevo.admin("GET", "brevo/contacts/user1@example.com")
    assert contact["attributes"]["FIRSTNAME"] == "Ann"
    assert contact["attributes"]["PLAN"] == "pro"
    assert result.summary["property_mapping"] == {
        "first_name": {"records": 1, "with_value": 1},
        "plan_type": {"records": 1, "with_value": 1},
    }


def test_a_mapping_that_matches_nothing_is_reported_and_creates_nothing(brevo, config):
    cfg = config(property_mapping={"first_name": "FIRSTNAME", "user_properties.plann": "PLAN"})
    result = run_target(cfg, [USERS_SCHEMA, user(1, first_name="Ann"), user(2, first_name="Bo")])
    assert result.summary["property_mapping"]["user_properties.plann"] == {"records": 2}
    assert "property_mapping 'user_properties.plann': none of 2 records had a value there" in result.logs
    created = [url for method, url, _ in result.requests if method == "POST" and "/contacts/attributes/" in url]
    assert created == []  # PLAN is created only once a value for it is seen


def test_an_event_mapping_entry_never_seen_is_reported(brevo, config):
    set_clock(brevo, "2026-01-02T12:00:00Z")
    result = run_target(config(event_mapping=EVENTS), [EVENTS_SCHEMA, event(1)])
    assert "event_mapping 'Add to Cart': no event of this type was seen" in result.logs
    assert "event_mapping 'Purchase'" not in result.logs


def test_a_mapping_source_a_closed_schema_cannot_hold_is_a_config_error(brevo, config):
    closed = schema("customers", {"id": {"type": "string"}, "email": {"type": "string"}}, ["id"])
    closed["schema"]["additionalProperties"] = False
    cfg = config(stream_types={"customers": "contacts"}, property_mapping={"nickname": "FIRSTNAME"})
    messages = [closed, record("customers", {"id": "1", "email": "a@example.com"})]
    result = run_target(cfg, messages, expect_error=ConfigValidationError)
    assert result.summary.get("completed") is False


def test_bad_records_are_rejected_and_the_run_goes_on(brevo, config, tmp_path):
    set_clock(brevo, "2026-01-02T12:00:00Z")
    users = schema("users", {"user_id": {"type": "string"}, "total_purchases": {"type": "integer"}}, ["user_id"])
    cfg = config(
        property_mapping={"email": "email"},
        ext_id_field="user_id",
        event_mapping=EVENTS,
    )
    no_time = event(9)
    no_time["record"]["event_time"] = None
    messages = [
        users,
        record("users", {"user_id": "u1", "total_purchases": 3}),
        record("users", {"user_id": "u2", "total_purchases": "many"}),  # breaks the schema
        record("users", {"total_purchases": 1}),  # no key property
        record("users", {"user_id": "u4", "total_purchases": 4}),
        EVENTS_SCHEMA,
        event(1),
        no_time,
    ]
    result = run_target(cfg, messages)
    assert result.summary["completed"] is True
    lines = [orjson.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    reasons = {(line["stream"], str(line["key"])): line["reason"] for line in lines}
    assert reasons[("users", "u2")].startswith("does not match the stream schema:")
    assert reasons[("users", "None")] == "missing key properties: user_id"
    assert reasons[("events", "evt-9")] == "no event time in 'event_time'"
    assert result.summary["objects"]["contacts"]["upserted"] == 2
    assert len(stored(brevo, "events")) == 1


def test_a_line_that_is_not_json_is_named_by_number_not_content(tmp_path, sandbox):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"api_key": sandbox.brevo["api_key"], "api_url": sandbox.brevo["api"]}))
    lines = '{"type": "STATE", "value": {}}\nnot json: jane@example.com +33612345678\n'
    run = subprocess.run(
        [sys.executable, "-m", "target_brevo", "--config", str(config)],
        input=lines,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode != 0
    assert "input line 2 is not valid JSON" in run.stderr
    assert "jane@example.com" not in run.stderr + run.stdout


def test_amplitude_identify_pseudo_events_are_not_events(brevo, config):
    """`$identify` carries property updates (the users stream's job): not counted as an unmapped event type,
    and not forwarded even with forward_unmapped_events."""
    set_clock(brevo, "2026-01-02T12:00:00Z")
    cfg = config(event_mapping=EVENTS, forward_unmapped_events=True)
    result = run_target(cfg, [EVENTS_SCHEMA, event(1), event(2, "$identify"), event(3, "Login")])
    assert sorted(e["event_name"] for e in stored(brevo, "events")) == ["Login", "order_completed"]
    assert result.summary["event_types"]["$identify"] == {"seen": 1, "not_an_event": 1}


def test_meltanos_configuration_test_stream_checks_the_key_and_writes_nothing(tmp_path, sandbox):
    """`meltano config test target-brevo` sends a `meltano_test_stream` record: the key is proved at start-up
    (GET /account), the record is not written; a wrong key fails before any input is read, saying why."""
    messages = [
        {"type": "SCHEMA", "stream": "meltano_test_stream", "schema": {"type": "object", "properties": {"id": {"type": "integer"}}}, "key_properties": ["id"]},
        {"type": "RECORD", "stream": "meltano_test_stream", "record": {"id": 1}},
        {"type": "STATE", "value": {"test": True}},
    ]  # fmt: skip
    lines = "".join(json.dumps(m) + "\n" for m in messages)
    before = sandbox.admin("GET", "brevo/stats")

    def run(api_key: str) -> subprocess.CompletedProcess[str]:
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"api_key": api_key, "api_url": sandbox.brevo["api"], "ledger_path": ":memory:"}))
        return subprocess.run(
            [sys.executable, "-m", "target_brevo", "--config", str(config)],
            input=lines, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    ok = run(sandbox.brevo["api_key"])
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "the test record is not written" in ok.stderr
    assert sandbox.admin("GET", "brevo/stats") == before
    wrong = run("xkeysib-wrong-key")
    assert wrong.returncode != 0
    assert "GET /account: Brevo refused the api_key (401" in wrong.stderr
    assert "xkeysib-wrong-key" not in wrong.stderr
