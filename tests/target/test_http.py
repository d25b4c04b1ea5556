"""target-brevo against the Brevo sandbox over HTTP: every setting and behaviour of the spec.

Every run goes through `support.run_target`, which fails the test if any request the target sends
does not validate against Brevo's OpenAPI spec (as served by the sandbox).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
import pytest
from singer_sdk.exceptions import ConfigValidationError
from target_brevo.brevo.errors import BrevoError

from .support import (
    COHORTS_SCHEMA,
    EVENTS_SCHEMA,
    MEMBERS_SCHEMA,
    REVENUE_SCHEMA,
    USERS_SCHEMA,
    O,
    S,
    event,
    members,
    record,
    run_target,
    schema,
    state,
    user,
)

MAPPING = {
    "user_properties.first_name": "FIRSTNAME",
    "user_properties.phone": "SMS",
    "user_properties.plan": "PLAN",
    "user_properties.ltv": "LTV",
    "user_properties.vip": "VIP",
    "last_active": "LAST_ACTIVE",
}


def admin(brevo, path, **params):
    return brevo.admin("GET", f"brevo/{path}", **params)


def contact(brevo, email):
    return admin(brevo, f"contacts/{email}")


def list_members(brevo, list_id):
    return sorted(m.get("email") or m.get("ext_id") for m in admin(brevo, f"lists/{list_id}/members")["members"])


def list_id_named(brevo, name):
    return next(item["id"] for item in admin(brevo, "lists")["lists"] if item["name"] == name)


def rejects(path):
    if not os.path.exists(path):
        return []
    return [orjson.loads(line) for line in open(path, encoding="utf-8").read().splitlines()]


def test_amplitude_streams_end_to_end(brevo, config, tmp_path):
    cfg = config(
        property_mapping=MAPPING,
        default_region="FR",
        attribute_types={"LTV": "float", "VIP": "boolean"},
        event_mapping={"Purchase": "order_completed", "Add to Cart": "cart_updated"},
        lists={"c1": {"list_name": "Power users"}},
        flush_interval_seconds=0,
    )
    messages = [
        USERS_SCHEMA,
        user(1, first_name="Ann", phone="06 12 34 56 78", plan="pro", ltv=12.5, vip="yes"),
        user(2, first_name="Bob", email="not-an-email"),
        user(3, first_name="Cy", phone="12"),  # the bad phone is reported, the contact sent without it
        state({"bookmarks": {"users": 1}}),
        EVENTS_SCHEMA,
        event(1, "Purchase", price=9.99, **{"item name": "book"}),
        event(2, "Add to Cart", user_n=3),
        event(3, "Page Viewed", user_n=1),
        state({"bookmarks": {"users": 1, "events": 3}}),
        REVENUE_SCHEMA,
        record(
            "revenue",
            {
                "uuid": "evt-1",
                "event_time": "2026-01-02T03:04:05Z",
                "user_id": "u1",
                "revenue": 19.98,
                "price": 9.99,
                "quantity": 2,
                "product_id": "sku-1",
                "currency": "EUR",
            },
        ),
        COHORTS_SCHEMA,
        record("cohorts", {"id": "c1", "name": "Power users", "size": 2}),
        MEMBERS_SCHEMA,
        *members("c1", "Power users", [1, 9]),
        schema("annotations", {"id": {"type": "integer"}}),
        record("annotations", {"id": 1}),
        record("annotations", {"id": 2}),
        state({"bookmarks": {"users": 1, "events": 3, "revenue": 1}}),
    ]
    result = run_target(cfg, messages)
    assert result.states == [
        {"bookmarks": {"users": 1}},
        {"bookmarks": {"users": 1, "events": 3}},
        {"bookmarks": {"users": 1, "events": 3, "revenue": 1}},
    ]

    ann = contact(brevo, "user1@example.com")
    assert ann["attributes"]["FIRSTNAME"] == "Ann"
    assert ann["attributes"]["PLAN"] == "pro"
    assert ann["attributes"]["LTV"] == 12.5
    assert ann["attributes"]["VIP"] is True
    assert ann["attributes"]["LAST_ACTIVE"] == "2026-01-02"
    assert ann["attributes"]["EXT_ID"] == "u1"
    assert ann["attributes"]["SMS"].lstrip("+") == "33612345678"
    cy = contact(brevo, "user3@example.com")
    assert "SMS" not in cy["attributes"]
    attributes = {
        a["name"]: a["type"]
        for a in brevo.http.get(
            brevo.brevo["api"] + "/contacts/attributes", headers={"api-key": brevo.brevo["api_key"]}
        ).json()["attributes"]
    }
    assert attributes["LTV"] == "float" and attributes["VIP"] == "boolean" and attributes["LAST_ACTIVE"] == "date"
    assert attributes["PLAN"] == "text"

    events = admin(brevo, "events")["events"]
    assert sorted(e["event_name"] for e in events) == ["cart_updated", "order_completed"]
    purchase = next(e for e in events if e["event_name"] == "order_completed")
    assert purchase["event_properties"] == {"price": 9.99, "item_name": "book"}
    assert purchase["identifiers"] == {"email_id": "user1@example.com", "ext_id": "u1"}
    assert purchase["event_date"].startswith("2026-01-02T03:04:05")

    order = admin(brevo, "orders")["orders"][0]
    assert order["order"]["id"] == "evt-1"
    assert order["order"]["amount"] == 19.98
    assert order["order"]["products"] == [{"productId": "sku-1", "price": 9.99, "quantity": 2}]
    assert order["historical"] is True

    power = list_id_named(brevo, "Power users")
    assert list_members(brevo, power) == ["user1@example.com", "user9@example.com"]

    got = rejects(cfg["rejects_file"])
    assert [(r["stream"], r["key"]) for r in got] == [("users", 2), ("users", 3)]
    assert "invalid email" in got[0]["reason"]
    assert got[1]["reason"] == (
        "invalid phone number for SMS: '12' is not a valid E.164 number (default_region FR); contact sent without SMS"
    )
    assert got[1]["outcome"] == "attribute_rejected:SMS" and got[1]["attribute"] == "SMS"
    assert got[1]["record"]["user_properties"]["phone"] == "12"
    assert stat.S_IMODE(os.stat(cfg["rejects_file"]).st_mode) == 0o600

    summary = result.summary
    assert summary["objects"]["contacts"]["upserted"] == 2
    assert summary["objects"]["contacts"]["rejected"] == 1
    assert summary["objects"]["contacts"]["attribute_rejected:SMS"] == 1
    assert summary["objects"]["events"] == {"sent": 2, "skipped_unmapped": 1}
    assert summary["objects"]["orders"]["sent"] == 1
    assert summary["objects"]["skipped_streams"] == {"annotations": 2}
    assert summary["lists"][str(power)]["mirror"] == "applied"
    assert summary["api_calls"]["POST /events/batch"] == 1
    assert summary["rejects"]["total"] == 2
    assert summary["rejects"]["by_reason"] == {"invalid email": 1, "invalid phone number for SMS": 1}
    assert result.logs.count("Stream 'annotations' is not routed") == 1


def test_customers_stream_from_another_tap_routes_to_contacts(brevo, config):
    cfg = config(
        stream_types={"customers": "contacts"},
        email_field="contact.mail",
        ext_id_field="customer_id",
        property_mapping={"name": "FIRSTNAME", "mobile": "SMS", "since": "SIGNUP_DATE", "orders": "ORDER_COUNT"},
        default_region="US",
        contacts_list_name="Warehouse customers",
    )
    messages = [
        schema(
            "customers",
            {
                "customer_id": {"type": "integer"},
                "contact": O,
                "name": S,
                "mobile": S,
                "since": {"type": "string", "format": "date"},
                "orders": {"type": "integer"},
            },
            ["customer_id"],
        ),
        record(
            "customers",
            {
                "customer_id": 501,
                "contact": {"mail": "Dana@Shop.example"},
                "name": "Dana",
                "mobile": "(415) 555-2671",
                "since": "2024-05-06",
                "orders": 7,
            },
        ),
        record("customers", {"customer_id": 502, "contact": None, "name": "Eve"}),  # ext_id-only contact
    ]
    result = run_target(cfg, messages)
    dana = contact(brevo, "dana@shop.example")
    assert dana["attributes"]["EXT_ID"] == "501"
    assert dana["attributes"]["SIGNUP_DATE"] == "2024-05-06"
    assert dana["attributes"]["ORDER_COUNT"] == 7
    assert dana["attributes"]["SMS"].lstrip("+") == "14155552671"
    eve = brevo.admin("GET", "brevo/contacts/502", identifierType="ext_id")
    assert eve["attributes"]["FIRSTNAME"] == "Eve"
    customers_list = list_id_named(brevo, "Warehouse customers")
    assert len(list_members(brevo, customers_list)) == 2
    assert result.summary["objects"]["contacts"]["upserted"] == 2


def test_imports_chunk_by_rows_and_are_polled_together(brevo, config):
    brevo.configure("brevo", import_delay_seconds=0.2)
    cfg = config(import_max_rows=2, process_poll_initial_seconds=0.6, contact_calls_max=0)
    result = run_target(cfg, [USERS_SCHEMA, *(user(n) for n in range(1, 6))])
    calls = result.summary["api_calls"]
    assert calls["POST /contacts/import"] == 3
    # the three imports are sent as they fill, then one page of GET /processes sees all of them completed
    assert calls["GET /processes"] == 1
    assert "GET /processes/{processId}" not in calls
    assert admin(brevo, "stats")["contacts"] == 5


def test_import_polls_grow_until_the_import_completes(brevo, config):
    brevo.configure("brevo", import_delay_seconds=0.5)
    cfg = config(process_poll_initial_seconds=0.1, process_poll_max_seconds=0.2, contact_calls_max=0)
    result = run_target(cfg, [USERS_SCHEMA, user(1), user(2)])
    assert 2 <= result.summary["api_calls"]["GET /processes"] <= 6  # after 0.1, 0.1, 0.2, 0.2 s... 0.5 s in all
    assert admin(brevo, "stats")["contacts"] == 2


def test_import_status_falls_back_to_the_process_itself(brevo, config):
    brevo.fault(
        action="status",
        service="brevo",
        method="GET",
        path="/v3/processes",
        status=400,
        count=100,
        body={"code": "bad_request", "message": "listing unavailable"},
    )
    result = run_target(config(contact_calls_max=0), [USERS_SCHEMA, user(1)])
    assert result.summary["api_calls"]["GET /processes/{processId}"] >= 1
    assert result.summary["objects"]["contacts"]["upserted"] == 1


def test_members_arriving_before_users_still_land_in_list(brevo, config):
    cfg = config(property_mapping={"user_properties.first_name": "FIRSTNAME"}, cohort_sync_mode="append")
    messages = [
        MEMBERS_SCHEMA,
        *members("c7", "Early birds", [1, 2]),
        USERS_SCHEMA,
        user(1, first_name="Ann"),
        user(2, first_name="Bob"),
    ]
    run_target(cfg, messages)
    early = list_id_named(brevo, "Early birds")
    assert list_members(brevo, early) == ["user1@example.com", "user2@example.com"]
    assert contact(brevo, "user2@example.com")["attributes"]["FIRSTNAME"] == "Bob"


def test_users_then_members_in_one_flush_share_one_import_wait(brevo, config):
    cfg = config(cohort_sync_mode="append", contact_calls_max=0)  # the users go by import
    messages = [USERS_SCHEMA, user(1), user(2), MEMBERS_SCHEMA, *members("c8", "Buyers", [1, 2])]
    result = run_target(cfg, messages)
    buyers = list_id_named(brevo, "Buyers")
    assert list_members(brevo, buyers) == ["user1@example.com", "user2@example.com"]
    # the contacts were still being imported: the members go in by import too, and one poll covers both
    assert result.summary["lists"][str(buyers)]["added_by_import"] == 2
    assert result.summary["api_calls"]["GET /processes"] == 1
    assert "POST /contacts/lists/{listId}/contacts/add" not in result.summary["api_calls"]


def test_few_members_of_known_contacts_are_added_without_an_import(brevo, config):
    run_target(config(), [USERS_SCHEMA, user(1), user(2), user(3)])
    result = run_target(config(cohort_sync_mode="append"), [MEMBERS_SCHEMA, *members("c8", "Buyers", [1, 2, 4])])
    buyers = list_id_named(brevo, "Buyers")
    assert list_members(brevo, buyers) == ["user1@example.com", "user2@example.com", "user4@example.com"]
    summary = result.summary["lists"][str(buyers)]
    assert summary["added"] == 2  # by contacts/add, no process to poll
    assert summary["added_by_upsert"] == 1  # user4 was not in Brevo: created in the list by POST /contacts
    calls = result.summary["api_calls"]
    assert calls["POST /contacts/lists/{listId}/contacts/add"] == 1 and calls["POST /contacts"] == 1
    assert "POST /contacts/import" not in calls and "GET /processes" not in calls
    assert contact(brevo, "user4@example.com")["attributes"]["EXT_ID"] == "u4"


def test_many_members_are_added_by_import(brevo, config):
    run_target(config(), [USERS_SCHEMA, *(user(n) for n in range(1, 8))])
    result = run_target(
        config(cohort_sync_mode="append", list_import_threshold=5),
        [MEMBERS_SCHEMA, *members("c8", "Buyers", list(range(1, 8)))],
    )
    buyers = list_id_named(brevo, "Buyers")
    assert len(list_members(brevo, buyers)) == 7
    assert result.summary["lists"][str(buyers)]["added_by_import"] == 7
    assert result.summary["api_calls"]["POST /contacts/import"] == 1
    assert "POST /contacts/lists/{listId}/contacts/add" not in result.summary["api_calls"]
    assert contact(brevo, "user3@example.com")["attributes"]["EXT_ID"] == "u3"


def seed_list(brevo, config, name, users):
    run_target(config(cohort_sync_mode="append"), [MEMBERS_SCHEMA, *members("seed", name, users)])
    return list_id_named(brevo, name)


def test_mirror_removes_only_on_complete_snapshot(brevo, config):
    list_id = seed_list(brevo, config, "Active", [1, 2, 3, 4, 5])
    lists = {"c1": list_id}
    # incomplete: no end marker -> adds happen, nothing removed
    result = run_target(
        config(lists=lists), [MEMBERS_SCHEMA, *members("c1", "Active", [1, 2, 3, 4, 6], complete=False)]
    )
    assert list_members(brevo, list_id) == [f"user{n}@example.com" for n in (1, 2, 3, 4, 5, 6)]
    assert result.summary["lists"][str(list_id)]["mirror"] == "skipped_incomplete_snapshot"
    # size says 6 but only 5 arrive, with the end marker: still incomplete
    result = run_target(config(lists=lists), [MEMBERS_SCHEMA, *members("c1", "Active", [1, 2, 3, 4, 6], size=6)])
    assert len(list_members(brevo, list_id)) == 6
    assert result.summary["lists"][str(list_id)]["mirror"] == "skipped_incomplete_snapshot"
    # complete: user5 removed (1 of 6 <= 25%)
    result = run_target(config(lists=lists), [MEMBERS_SCHEMA, *members("c1", "Active", [1, 2, 3, 4, 6])])
    assert list_members(brevo, list_id) == [f"user{n}@example.com" for n in (1, 2, 3, 4, 6)]
    assert result.summary["lists"][str(list_id)]["removed"] == 1
    assert result.summary["lists"][str(list_id)]["mirror"] == "applied"


def test_mirror_removal_cap_and_explicit_override(brevo, config):
    list_id = seed_list(brevo, config, "Churning", [1, 2, 3, 4])
    # a complete but much smaller snapshot would remove 3 of 4: blocked
    result = run_target(config(lists={"c2": list_id}), [MEMBERS_SCHEMA, *members("c2", "Churning", [1])])
    assert len(list_members(brevo, list_id)) == 4
    assert result.summary["lists"][str(list_id)]["mirror"] == "blocked_removal_fraction"
    assert result.summary["lists"][str(list_id)]["removals_blocked"] == 3
    assert "Mirror of list" in result.logs
    # an empty complete snapshot must not wipe the list either
    result = run_target(config(lists={"c2": list_id}), [MEMBERS_SCHEMA, *members("c2", "Churning", [])])
    assert len(list_members(brevo, list_id)) == 4
    # per-list override allows it
    run_target(
        config(lists={"c2": {"list_id": list_id, "allow_large_removals": True}}),
        [MEMBERS_SCHEMA, *members("c2", "Churning", [1])],
    )
    assert list_members(brevo, list_id) == ["user1@example.com"]


def test_per_list_modes_append_and_remove(brevo, config):
    keep = seed_list(brevo, config, "Keep", [1, 2])
    drop = seed_list(brevo, config, "Drop", [1, 2, 3])
    cfg = config(
        cohort_sync_mode="mirror",
        mirror_allow_large_removals=True,
        lists={"k": {"list_id": keep, "sync_mode": "append"}, "d": {"list_id": drop, "sync_mode": "remove"}},
    )
    run_target(cfg, [MEMBERS_SCHEMA, *members("k", "Keep", [3]), *members("d", "Drop", [2, 3, 4])])
    assert list_members(brevo, keep) == ["user1@example.com", "user2@example.com", "user3@example.com"]
    assert list_members(brevo, drop) == ["user1@example.com"]


def test_unmapped_cohort_is_skipped_without_create(brevo, config):
    result = run_target(
        config(create_missing_lists=False, contacts_list_id=None), [MEMBERS_SCHEMA, *members("zz", "Unknown", [1])]
    )
    assert result.summary["objects"]["list_members"]["skipped_unmapped_cohort"] == 1
    assert admin(brevo, "stats")["lists"] == 0
    assert "has no Brevo list" in result.logs


def test_dry_run_plans_and_writes_nothing(brevo, config):
    list_id = seed_list(brevo, config, "Plan", [1, 2, 3, 4, 5])
    before = admin(brevo, "stats")
    cfg = config(
        dry_run=True,
        lists={"c": list_id},
        property_mapping={"user_properties.plan": "PLAN"},
        event_mapping={"Purchase": "order_completed"},
    )
    messages = [
        USERS_SCHEMA,
        user(1, plan="pro"),
        user(6, plan="free"),
        EVENTS_SCHEMA,
        event(1),
        event(2),
        REVENUE_SCHEMA,
        record("revenue", {"uuid": "o1", "event_time": "2026-01-02T03:04:05Z", "user_id": "u1", "revenue": 5}),
        MEMBERS_SCHEMA,
        *members("c", "Plan", [1, 2, 3, 4, 6]),
        *members("new", "Brand new cohort", [1]),
    ]
    result = run_target(cfg, [*messages, state({"bookmark": 1})])
    assert admin(brevo, "stats") == before
    assert all(method == "GET" for method, _, _ in result.requests)
    assert result.states == []  # a bookmark would make the next real run skip what was only planned
    summary = result.summary
    assert summary["dry_run"] is True
    assert summary["objects"]["contacts"]["would_upsert"] == 2
    assert summary["objects"]["events"]["would_send"] == 2
    assert summary["objects"]["orders"]["would_send"] == 1
    assert summary["objects"]["attributes"]["would_create"] == 1
    assert summary["lists"][str(list_id)]["would_add"] == 1
    assert summary["lists"][str(list_id)]["would_remove"] == 1
    assert summary["objects"]["lists"]["would_create"] >= 1
    assert not os.path.exists(cfg["ledger_path"]) or not admin(brevo, "events")["events"]


def test_partial_batch_207_rejects_failed_indexes_and_rerun_sends_only_those(brevo, config):
    cfg = config(event_mapping={"Purchase": "order_completed"})
    messages = [EVENTS_SCHEMA, *(event(n) for n in range(1, 5))]
    body = {
        "status": "partial_success",
        "total_events": 4,
        "successful_events": 3,
        "failed_events": 1,
        "errors": [{"eventIndex": [2], "message": "identifiers: contact is blocked"}],
    }
    brevo.fault(action="status", service="brevo", method="POST", path="/v3/events/batch", status=207, body=body)
    result = run_target(cfg, messages)
    assert result.summary["objects"]["events"]["sent"] == 3
    assert result.summary["objects"]["events"]["partial_batches"] == 1
    got = rejects(cfg["rejects_file"])
    assert [(r["key"], r["reason"]) for r in got] == [
        ("evt-3", "Brevo rejected the event: identifiers: contact is blocked")
    ]
    # the scripted 207 stored nothing; a re-run sends only the rejected event (the ledger holds the other three)
    result = run_target(cfg, messages)
    assert result.summary["objects"]["events"] == {"sent": 1, "skipped_already_delivered": 3}
    assert [e["identifiers"]["ext_id"] for e in admin(brevo, "events")["events"]] == ["u3"]


def test_event_batches_respect_limits(brevo, config):
    cfg = config(forward_unmapped_events=True, events_batch_max_events=3)
    result = run_target(cfg, [EVENTS_SCHEMA, *(event(n, "Video Played!") for n in range(1, 8))])
    assert result.summary["api_calls"]["POST /events/batch"] == 3
    assert {e["event_name"] for e in admin(brevo, "events")["events"]} == {"Video_Played"}
    big = "x" * 60_000
    result = run_target(cfg, [EVENTS_SCHEMA, event(100, "Big", blob=big)])
    assert result.summary["objects"]["events"]["rejected"] == 1
    assert "50 KB" in rejects(cfg["rejects_file"])[-1]["reason"]


def test_invalid_event_mapping_is_a_startup_config_error(config):
    with pytest.raises(ConfigValidationError):
        run_target(config(event_mapping={"Purchase": "order completed"}), [EVENTS_SCHEMA])


def test_orders_split_on_4xx_isolates_the_bad_order(brevo, config):
    cfg = config(orders_historical=False, order_calls_max=0)  # live orders, by batch
    orders = [
        record(
            "revenue",
            {"uuid": f"o{n}", "event_time": "2026-01-02T03:04:05Z", "user_id": f"u{n}", "price": 2.5, "quantity": n},
        )
        for n in (1, 2)
    ]
    brevo.fault(
        action="status",
        service="brevo",
        method="POST",
        path="/v3/orders/status/batch",
        status=400,
        count=2,
        body={"code": "invalid_parameter", "message": "orders[0].products: bad product"},
    )
    result = run_target(cfg, [REVENUE_SCHEMA, *orders])
    stored = admin(brevo, "orders")["orders"]
    assert [o["order"]["id"] for o in stored] == ["o2"]
    assert stored[0]["order"]["amount"] == 5
    assert stored[0]["historical"] is False
    assert [r["key"] for r in rejects(cfg["rejects_file"])] == ["o1"]
    assert result.summary["objects"]["orders"]["batch_splits"] == 1
    # orders are idempotent: re-sending upserts by id
    run_target(config(), [REVENUE_SCHEMA, *orders])
    assert sorted(o["order"]["id"] for o in admin(brevo, "orders")["orders"]) == ["o1", "o2"]


def test_5xx_and_timeouts_are_retried_with_backoff(brevo, config):
    cfg = config(event_mapping={"Purchase": "order_completed"})
    brevo.fault(action="status", service="brevo", method="POST", path="/v3/events/batch", status=503, count=2)
    brevo.fault(action="reset", service="brevo", method="POST", path="/v3/contacts", count=1)
    result = run_target(cfg, [USERS_SCHEMA, user(1), EVENTS_SCHEMA, event(1), event(2)])
    assert len(admin(brevo, "events")["events"]) == 2
    assert result.summary["retries"] == 3
    assert result.summary["api_calls"]["POST /events/batch"] == 3


def test_exhausted_retries_fail_the_run_without_state(brevo, config):
    cfg = config(event_mapping={"Purchase": "order_completed"}, max_retries=1, flush_interval_seconds=0)
    brevo.fault(action="status", service="brevo", method="POST", path="/v3/events/batch", status=500, count=10)
    result = run_target(cfg, [EVENTS_SCHEMA, state({"n": 0}), event(1), state({"n": 1})], expect_error=BrevoError)
    assert result.states == [{"n": 0}]  # the STATE after the undelivered event is never emitted


def test_rate_limit_429_waits_for_reset(brevo, config):
    cfg = config(event_mapping={"Purchase": "order_completed"})
    brevo.fault(
        action="status",
        service="brevo",
        method="POST",
        path="/v3/events/batch",
        status=429,
        body={"code": "too_many_requests", "message": "Too many requests"},
        headers={"x-sib-ratelimit-limit": "10", "x-sib-ratelimit-remaining": "0", "x-sib-ratelimit-reset": "1"},
    )
    result = run_target(cfg, [EVENTS_SCHEMA, event(1)])
    assert result.summary["rate_limit"]["429_waited"] == 1
    assert result.summary["rate_limit"]["429_wait_seconds"] == 1
    assert len(admin(brevo, "events")["events"]) == 1


def test_pacing_from_ratelimit_headers_avoids_429(brevo, config):
    brevo.configure("brevo", rate_limit_window_scale=1.0)
    cfg = config(event_mapping={"Purchase": "order_completed"}, events_batch_max_events=1)
    # 30 one-event calls cannot fit in 10-per-second windows without the target pausing
    result = run_target(cfg, [EVENTS_SCHEMA, *(event(n) for n in range(1, 31))])
    assert len(admin(brevo, "events")["events"]) == 30
    assert result.summary["rate_limit"]["429_waited"] == 0
    assert result.summary["rate_limit"]["paced_waits"] >= 1
    statuses = brevo.requests_log("brevo")["statuses"]["brevo"]
    assert "429" not in statuses.get("POST /v3/events/batch", {})


def test_ledger_prevents_resending_events_on_rerun(brevo, config):
    cfg = config(event_mapping={"Purchase": "order_completed"})
    messages = [EVENTS_SCHEMA, *(event(n) for n in range(1, 6)), event(1)]  # evt-1 twice in the input
    first = run_target(cfg, messages)
    assert first.summary["objects"]["events"]["sent"] == 5
    assert first.summary["objects"]["events"]["duplicates_in_input"] == 1
    second = run_target(cfg, messages)
    assert second.summary["objects"]["events"].get("sent", 0) == 0
    assert second.summary["objects"]["events"]["skipped_already_delivered"] == 6  # every copy in the input
    assert admin(brevo, "stats")["events"] == 5


def test_secret_never_in_outputs(brevo, config, tmp_path):
    key = brevo.brevo["api_key"]
    cfg = config(summary_file=str(tmp_path / "summary.json"), event_mapping={"Purchase": "order_completed"})
    messages = [USERS_SCHEMA, user(1), user(2, email=key), EVENTS_SCHEMA, event(1)]
    result = run_target(cfg, messages)
    rejects_text = Path(cfg["rejects_file"]).read_text()  # this run's (the next run links its own)
    brevo.fault(
        action="status",
        service="brevo",
        method="POST",
        path="/v3/events/batch",
        status=500,
        count=10,
        body={"code": "internal", "message": f"echo {key}"},
    )
    failed = run_target(
        config(max_retries=0, event_mapping={"Purchase": "order_completed"}, ledger_path=str(tmp_path / "l2")),
        [EVENTS_SCHEMA, event(7)],
        expect_error=BrevoError,
    )
    outputs = [
        result.stdout,
        result.logs,
        failed.stdout,
        failed.logs,
        rejects_text,
        (tmp_path / "summary.json").read_text(),
        Path(cfg["ledger_path"]).read_bytes().decode("latin-1"),
    ]
    for text in outputs:
        assert key not in text
    assert "***" in rejects_text


def test_about_and_cli_output_hide_the_key(brevo, config, tmp_path):
    import json
    import subprocess
    import sys

    key = brevo.brevo["api_key"]
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config(event_mapping={"Purchase": "order_completed"})))
    about = subprocess.run(
        [sys.executable, "-m", "target_brevo", "--about", "--format=json", "--config", str(config_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert key not in about.stdout + about.stderr
    assert json.loads(about.stdout)["settings"]["properties"]["api_key"]["writeOnly"] is True
    input_path = tmp_path / "input.jsonl"
    from .support import to_lines

    input_path.write_text(to_lines([EVENTS_SCHEMA, event(1), state({"n": 1})]))
    run = subprocess.run(
        [sys.executable, "-m", "target_brevo", "--config", str(config_path), "--input", str(input_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.strip() == '{"n": 1}'
    assert "target-brevo run summary" in run.stderr
    assert key not in run.stdout + run.stderr


def test_batches_fill_across_states_and_only_a_due_state_is_emitted(brevo, config):
    # default flush interval: minutes; contacts by import, whatever their number
    cfg = config(event_mapping={"Purchase": "order_completed"}, contact_calls_max=0)
    messages = [USERS_SCHEMA, EVENTS_SCHEMA, REVENUE_SCHEMA]
    for hour in range(3):  # a tap that sends a STATE per exported hour
        messages += [user(100 + hour)]
        messages += [event(hour * 50 + n) for n in range(1, 51)]
        messages += [
            record("revenue", {"uuid": f"o{hour}", "event_time": "2026-01-02T03:04:05Z", "user_id": "u1", "revenue": 5})
        ]
        messages.append(state({"hour": hour}))
    result = run_target(cfg, messages)
    calls = result.summary["api_calls"]
    assert calls["POST /events/batch"] == 1  # 150 events: one batch, not one per STATE
    assert calls["POST /contacts/import"] == 1
    assert calls["POST /orders/status/batch"] == 1
    assert result.states == [{"hour": 2}]  # emitted once, after everything before it was accepted
    assert admin(brevo, "stats")["events"] == 150


def test_full_batches_go_out_between_states_and_a_state_is_emitted_when_the_interval_passed(brevo, config):
    cfg = config(event_mapping={"Purchase": "order_completed"}, events_batch_max_events=5, flush_interval_seconds=0.3)
    brevo.fault(action="latency", service="brevo", method="POST", path="/v3/events/batch", latency_ms=200, count=10)
    messages = [
        EVENTS_SCHEMA,
        *(event(n) for n in range(1, 11)),  # two full batches, 0.4 s
        state({"n": 10}),  # the interval has passed: flush and emit
        *(event(n) for n in range(11, 14)),
        state({"n": 13}),
    ]  # too soon: held until the end of the input
    result = run_target(cfg, messages)
    assert result.states == [{"n": 10}, {"n": 13}]
    assert result.summary["api_calls"]["POST /events/batch"] == 3
    assert admin(brevo, "stats")["events"] == 13


def test_flush_interval_must_not_be_negative(config):
    with pytest.raises(ConfigValidationError):
        run_target(config(flush_interval_seconds=-1), [EVENTS_SCHEMA])
