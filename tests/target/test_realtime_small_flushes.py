"""The real-time target (a flush about every second) against the Brevo sandbox: small flushes never touch
Brevo's 100-requests-per-hour bucket (`GET /processes`, `POST /orders/status/batch`), big ones still go in
bulk, and a contact or an order Brevo refuses is reported like a refused row of an import."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import requests
from sandbox.brevo.ratelimit import scope_of
from target_brevo.brevo.errors import BrevoError
from target_brevo.target import TargetBrevo

from .support import EVENTS_SCHEMA, REVENUE_SCHEMA, USERS_SCHEMA, event, record, run_target, schema, state, user

EVENT_TIME = "2026-01-02T03:04:05Z"  # the time of support.event() records and of the orders below
LIVE_CLOCK = "2026-01-02T12:00:00Z"  # nine hours later: the orders are live
MAPPING = {"user_properties.plan": "PLAN"}
EVENTS = {"Purchase": "order_completed"}
HOURLY_BUCKET_ALLOWED = {"GET /account"}  # the start-up key check, once per run


CHANGES_SCHEMA = schema(
    "cohort_membership_changes",
    {
        "cohort_id": {"type": "string"},
        "cohort_name": {"type": "string"},
        "in_cohort": {"type": "boolean"},
        "message_id": {"type": "string"},
        "computed_time": {"type": "string", "format": "date-time"},
        "user_id": {"type": "string"},
        "email": {"type": "string"},
    },
    ["message_id", "user_id"],
)


def cohort_change(n: int, entered: bool, flush: int) -> dict[str, Any]:
    """user n entering (or leaving) the cohort, computed at the flush's second."""
    return record(
        "cohort_membership_changes",
        {
            "cohort_id": "c1",
            "cohort_name": "Power users",
            "in_cohort": entered,
            "message_id": f"m{flush}",
            "computed_time": f"2026-01-02T10:{flush // 60:02d}:{flush % 60:02d}Z",
            "user_id": f"u{n}",
            "email": f"user{n}@example.com",
        },
    )


def set_clock(brevo, now: str) -> None:
    brevo.admin("PUT", "clock", json={"now": now})


def order(n: int, when: str = EVENT_TIME) -> dict[str, Any]:
    return record(
        "revenue",
        {"uuid": f"ord-{n}", "event_time": when, "user_id": f"u{n}", "revenue": 10.0 + n, "product_id": "sku"},
    )


def stored(brevo, what: str) -> list[dict[str, Any]]:
    return brevo.admin("GET", f"brevo/{what}", limit=10_000)[what]


def calls_by_endpoint(brevo) -> dict[str, int]:
    return brevo.requests_log("brevo")["counts"].get("brevo", {})


def hourly_bucket_calls(brevo) -> dict[str, int]:
    """The requests the sandbox counted in Brevo's "all other endpoints" bucket (100 per hour)."""
    return {
        endpoint: n
        for endpoint, n in calls_by_endpoint(brevo).items()
        if scope_of(endpoint.split()[0], endpoint.split()[1].removeprefix("/v3")) == "other"
    }


def rejects(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as file:
        return [orjson.loads(line) for line in file.read().splitlines()]


def brevo_api(brevo) -> requests.Session:
    session = requests.Session()
    session.headers["api-key"] = brevo.brevo["api_key"]
    return session


def create_contact(brevo, body: dict[str, Any]) -> None:
    response = brevo_api(brevo).post(brevo.brevo["api"] + "/contacts", json=body, timeout=10)
    assert response.status_code == 201, response.text


def test_many_small_flushes_stay_off_the_hourly_bucket(brevo, config, monkeypatch):
    brevo.configure("brevo", rate_limits_enabled=False)  # 600 calls at 10 per second would take a minute
    set_clock(brevo, LIVE_CLOCK)
    flushes = 200
    messages: list[dict[str, Any]] = [USERS_SCHEMA, REVENUE_SCHEMA, EVENTS_SCHEMA, CHANGES_SCHEMA]
    for n in range(1, flushes + 1):
        messages += [user(2 * n - 1, plan="pro"), user(2 * n, plan="free"), order(2 * n - 1), event(2 * n - 1)]
        # delta mode: this flush's first user enters the cohort, the previous one leaves; every 20th flush a
        # user Brevo does not know yet enters too
        messages.append(cohort_change(2 * n - 1, True, n))
        if n > 1:
            messages.append(cohort_change(2 * n - 3, False, n))
        if n % 20 == 0:
            messages.append(cohort_change(1000 + n, True, n))
        messages.append(state({"flush": n}))
    # what Brevo holds at the moment each STATE is written
    held_at_state: list[tuple[dict[str, Any], dict[str, int]]] = []
    write_state = TargetBrevo._write_state_message

    def spy(self: TargetBrevo, value: dict[str, Any]) -> None:
        held_at_state.append((value, brevo.admin("GET", "brevo/stats")))
        write_state(self, value)

    monkeypatch.setattr(TargetBrevo, "_write_state_message", spy)
    cfg = config(property_mapping=MAPPING, event_mapping=EVENTS, flush_interval_seconds=0)
    result = run_target(cfg, messages)

    assert hourly_bucket_calls(brevo) == {"GET /v3/account": 1}
    calls = result.summary["api_calls"]
    assert calls["POST /contacts"] == 2 * flushes + flushes // 20 and calls["POST /orders/status"] == flushes
    assert calls["POST /events/batch"] == flushes
    assert calls["POST /contacts/lists/{listId}/contacts/add"] == flushes
    assert calls["POST /contacts/lists/{listId}/contacts/remove"] == flushes - 1
    assert {endpoint.split()[1] for endpoint in calls} & {
        "/contacts/import",
        "/processes",
        "/orders/status/batch",
    } == set()

    assert result.states == [{"flush": n} for n in range(1, flushes + 1)]
    assert len(held_at_state) >= flushes
    for value, held in held_at_state:  # every record before the STATE was accepted, none after it sent yet
        n, unknown = value["flush"], value["flush"] // 20
        assert (held["contacts"], held["orders"], held["events"]) == (2 * n + unknown, n, n), value
        assert held["list_members"] == 2 * n + 1 + unknown, value  # the contacts list, and the cohort's

    contacts = {c["email"]: c for c in stored(brevo, "contacts")}
    assert len(contacts) == 2 * flushes + flushes // 20
    lists = {item["name"]: item["id"] for item in stored(brevo, "lists")}
    contacts_list, power = lists["target-brevo contacts"], lists["Power users"]
    members = brevo.admin("GET", f"brevo/lists/{power}/members")["members"]
    entered = [f"user{2 * flushes - 1}@example.com", *(f"user{1000 + n}@example.com" for n in range(20, 201, 20))]
    assert sorted(m["email"] for m in members) == sorted(entered)
    assert contacts["user1020@example.com"]["attributes"]["EXT_ID"] == "u1020"
    for n in range(1, 2 * flushes + 1):
        found = contacts[f"user{n}@example.com"]
        assert found["attributes"]["EXT_ID"] == f"u{n}"
        assert found["attributes"]["PLAN"] == ("pro" if n % 2 else "free")
        assert sorted(found["listIds"]) == sorted([contacts_list, power] if n == 2 * flushes - 1 else [contacts_list])
    orders = {o["order"]["id"]: o for o in stored(brevo, "orders")}
    assert sorted(orders) == sorted(f"ord-{2 * n - 1}" for n in range(1, flushes + 1))
    assert all(o["historical"] is False for o in orders.values())  # live: order automations fire
    assert orders["ord-7"]["order"]["amount"] == 17.0 and orders["ord-7"]["contact_id"] is not None
    assert len(stored(brevo, "events")) == flushes

    objects = result.summary["objects"]
    assert objects["contacts"] == {"upserted": 2 * flushes, "brevo_created": 2 * flushes}
    assert objects["list_changes"]["brevo_created"] == flushes // 20  # unknown members, created in the list
    assert objects["orders"] == {"sent": flushes, "sent_live": flushes}
    assert result.summary["rate_limit"]["429_waited"] == 0


@pytest.mark.parametrize(
    ("users", "orders", "settings"),
    [
        (21, 11, {}),  # one over each default (20 contacts, 10 orders)
        (1, 1, {"contact_calls_max": 0, "order_calls_max": 0}),  # 0: always in bulk
    ],
    ids=["a-big-flush", "calls-turned-off"],
)
def test_bulk_requests_when_the_flush_is_big_or_calls_are_off(brevo, config, users, orders, settings):
    set_clock(brevo, LIVE_CLOCK)
    messages = [USERS_SCHEMA, REVENUE_SCHEMA, *(user(n) for n in range(1, users + 1))]
    messages += [*(order(n) for n in range(1, orders + 1)), state({"flush": 1})]
    result = run_target(config(flush_interval_seconds=0, **settings), messages)
    calls = result.summary["api_calls"]
    assert calls["POST /contacts/import"] == 1 and calls["GET /processes"] >= 1
    assert calls["POST /orders/status/batch"] == 1
    assert "POST /contacts" not in calls and "POST /orders/status" not in calls
    batch = next(body for _, url, body in result.requests if url.endswith("/orders/status/batch"))
    assert batch["historical"] is False and len(batch["orders"]) == orders
    assert result.states == [{"flush": 1}]
    assert len(stored(brevo, "contacts")) == users and len(stored(brevo, "orders")) == orders


def test_a_historical_order_goes_by_batch_even_alone(brevo, config):
    set_clock(brevo, LIVE_CLOCK)
    messages = [REVENUE_SCHEMA, order(1), order(2, when="2025-12-01T00:00:00Z"), state({"flush": 1})]
    result = run_target(config(flush_interval_seconds=0), messages)
    historical = {o["order"]["id"]: o["historical"] for o in stored(brevo, "orders")}
    assert historical == {"ord-1": False, "ord-2": True}  # a backfilled order fires no automation
    calls = result.summary["api_calls"]
    assert calls["POST /orders/status"] == 1 and calls["POST /orders/status/batch"] == 1


@pytest.mark.parametrize("contact_calls_max", [20, 0], ids=["by-call", "by-import"])
def test_an_email_held_with_another_ext_id_lands_as_an_import_lands_it(brevo, config, contact_calls_max):
    # user1's email is held by a contact with another ext_id, and user1's ext_id by a contact without email
    create_contact(brevo, {"email": "user1@example.com", "ext_id": "old-1"})
    create_contact(brevo, {"ext_id": "u1"})
    cfg = config(property_mapping=MAPPING, contact_calls_max=contact_calls_max, flush_interval_seconds=0)
    result = run_target(cfg, [USERS_SCHEMA, user(1, plan="pro"), user(2, plan="free"), state({"flush": 1})])

    # either way: the contact of the email is updated and keeps its ext_id; the other is left alone
    by_email = brevo.admin("GET", "brevo/contacts/user1@example.com")
    assert by_email["attributes"]["PLAN"] == "pro" and by_email["attributes"]["EXT_ID"] == "old-1"
    by_ext_id = brevo.admin("GET", "brevo/contacts/u1", identifierType="ext_id")
    assert "email" not in by_ext_id and "PLAN" not in by_ext_id["attributes"]
    assert by_email["listIds"] == brevo.admin("GET", "brevo/contacts/user2@example.com")["listIds"] != []
    assert result.states == [{"flush": 1}]
    contacts = result.summary["objects"]["contacts"]
    assert contacts["upserted"] == 2
    if contact_calls_max:  # a call says which contact: the rejects file names it and the value left out
        [line] = rejects(cfg["rejects_file"])
        assert line["key"] == "user1@example.com" and line["outcome"] == "attribute_rejected:EXT_ID"
        assert line["reason"] == (
            "Brevo refused EXT_ID: Unable to update contact, ext_id is already associated with another Contact; "
            "contact sent without EXT_ID"
        )
        assert contacts["attribute_rejected:EXT_ID"] == 1
    else:  # an import only counts it
        assert rejects(cfg["rejects_file"]) == []
        assert contacts["brevo_duplicate_ext_id"] == 1


def test_a_new_email_with_a_known_ext_id_updates_that_contact_by_call(brevo, config):
    # Where a call and an import differ: an import matches the row by its email, finds none, and creates a
    # second contact without the ext_id; POST /contacts matches it by its ext_id and gives that contact the email.
    create_contact(brevo, {"email": "old@example.com", "ext_id": "u1"})
    run_target(config(property_mapping=MAPPING), [USERS_SCHEMA, user(1, plan="pro")])
    contact = brevo.admin("GET", "brevo/contacts/u1", identifierType="ext_id")
    assert contact["email"] == "user1@example.com" and contact["attributes"]["PLAN"] == "pro"
    assert len(stored(brevo, "contacts")) == 1


def test_a_phone_brevo_refuses_is_left_out_and_reported(brevo, config):
    brevo.fault(
        action="status",
        service="brevo",
        method="POST",
        path="/v3/contacts",
        status=400,
        body={"code": "invalid_parameter", "message": "Invalid phone number"},
    )
    cfg = config(property_mapping={"user_properties.phone": "SMS"}, flush_interval_seconds=0)
    result = run_target(cfg, [USERS_SCHEMA, user(1, phone="+33612345678"), user(2), state({"flush": 1})])
    contact = brevo.admin("GET", "brevo/contacts/user1@example.com")
    assert "SMS" not in contact["attributes"] and contact["attributes"]["EXT_ID"] == "u1"
    [line] = rejects(cfg["rejects_file"])
    assert line["outcome"] == "attribute_rejected:SMS" and line["attribute"] == "SMS"
    assert line["reason"] == "Brevo refused SMS: Invalid phone number; contact sent without SMS"
    assert result.summary["objects"]["contacts"]["upserted"] == 2
    assert result.states == [{"flush": 1}]


def test_a_contact_or_order_brevo_refuses_is_rejected_and_the_rest_lands(brevo, config):
    set_clock(brevo, LIVE_CLOCK)
    for path, message in (("/v3/contacts", "Invalid email address"), ("/v3/orders/status", "products: bad price")):
        brevo.fault(
            action="status",
            service="brevo",
            method="POST",
            path=path,
            status=400,
            body={"code": "invalid_parameter", "message": message},
        )
    cfg = config(flush_interval_seconds=0)
    messages = [USERS_SCHEMA, REVENUE_SCHEMA, user(1), user(2), order(1), order(2), state({"flush": 1})]
    result = run_target(cfg, messages)
    assert [c["email"] for c in stored(brevo, "contacts")] == ["user2@example.com"]
    assert [o["order"]["id"] for o in stored(brevo, "orders")] == ["ord-2"]
    assert [(line["object"], line["key"], line["reason"]) for line in rejects(cfg["rejects_file"])] == [
        ("contacts", "user1@example.com", "Brevo refused the contact (400 invalid_parameter): Invalid email address"),
        ("orders", "ord-1", "Brevo refused the order (400 invalid_parameter): products: bad price"),
    ]
    assert result.summary["objects"]["contacts"] == {"upserted": 1, "rejected": 1, "brevo_created": 1}
    assert result.states == [{"flush": 1}]  # refused records are reported, not retried: the STATE goes on


def test_a_state_waits_for_its_orders_and_a_failed_call_stops_it(brevo, config):
    set_clock(brevo, LIVE_CLOCK)
    brevo.fault(action="status", service="brevo", method="POST", path="/v3/orders/status", status=500, count=10)
    cfg = config(flush_interval_seconds=0, max_retries=1)
    messages = [USERS_SCHEMA, REVENUE_SCHEMA, user(1), state({"flush": 1}), order(1), state({"flush": 2})]
    result = run_target(cfg, messages, expect_error=BrevoError)
    assert result.states == [{"flush": 1}]  # the order was never accepted: its STATE is never emitted
    assert stored(brevo, "orders") == []


def test_too_early_is_retried(brevo, config):
    brevo.fault(
        action="status",
        service="brevo",
        method="POST",
        path="/v3/contacts",
        status=425,
        body={"code": "account_in_process", "message": "Your account is being processed"},
    )
    result = run_target(config(property_mapping=MAPPING), [USERS_SCHEMA, user(1, plan="pro")])
    assert brevo.admin("GET", "brevo/contacts/user1@example.com")["attributes"]["PLAN"] == "pro"
    assert result.summary["retries"] == 1 and result.summary["api_calls"]["POST /contacts"] == 2
