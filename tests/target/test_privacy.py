"""Privacy against the Brevo sandbox over HTTP: erasures and their tombstones, consent, contact modes."""

from __future__ import annotations

import sqlite3
import stat
import time
from collections import Counter

import orjson
import pytest
import requests

from .support import (
    EVENTS_SCHEMA,
    MEMBERS_SCHEMA,
    REVENUE_SCHEMA,
    USERS_SCHEMA,
    I,
    S,
    event,
    members,
    record,
    run_target,
    schema,
    state,
    user,
)
from .test_http import admin, contact, list_id_named, list_members, rejects

DELETIONS_SCHEMA = schema(
    "deletions",
    {"amplitude_id": I, "requester": S, "requested_on_day": S, "day": S, "status": S, "app": I},
    ["amplitude_id", "day"],
)
GDPR_SCHEMA = schema("gdpr_requests", {"request_id": {"type": "string"}, "email": S, "user_id": S}, ["request_id"])


def deletion(amplitude_id, status="staging", day="2026-12-07"):
    return record(
        "deletions",
        {
            "amplitude_id": amplitude_id,
            "requester": "dpo@company.example",
            "requested_on_day": "2026-11-30",
            "day": day,
            "status": status,
            "app": 1,
        },
    )


def revenue(n, user_n):
    return record(
        "revenue",
        {
            "uuid": f"rev-{n}",
            "event_time": "2026-01-02T03:04:05Z",
            "user_id": f"u{user_n}",
            "revenue": 9.5,
            "price": 9.5,
            "quantity": 1,
            "product_id": "p",
            "revenue_type": "purchase",
            "currency": "EUR",
        },
    )


def exists(brevo, email):
    return any(c.get("email") == email for c in admin(brevo, "contacts", limit=1000)["contacts"])


def count(result, obj, outcome):
    return result.summary["objects"].get(obj, {}).get(outcome, 0)


def test_an_erased_user_leaves_brevo_and_never_comes_back(brevo, config, tmp_path):
    cfg = config(event_mapping={"Purchase": "order_completed"})
    first = [USERS_SCHEMA, user(1), user(2), EVENTS_SCHEMA, event(1), event(2), state({"n": 1})]
    run_target(cfg, first)
    assert exists(brevo, "user1@example.com") and exists(brevo, "user2@example.com")

    erased = run_target(cfg, [DELETIONS_SCHEMA, deletion(1), state({"n": 2})])
    assert count(erased, "deletions", "erased") == 1
    assert count(erased, "deletions", "contacts_deleted") == 1
    assert not exists(brevo, "user1@example.com") and exists(brevo, "user2@example.com")

    # a re-run, a backfill of the same users, events and orders, cohort adds: nothing of user 1 reaches Brevo
    again = [
        DELETIONS_SCHEMA,
        deletion(1),
        USERS_SCHEMA,
        user(1),
        user(2),
        EVENTS_SCHEMA,
        event(11, user_n=1),
        event(12, user_n=2),
        REVENUE_SCHEMA,
        revenue(1, 1),
        MEMBERS_SCHEMA,
        *members("c1", "Buyers", [1, 2]),
        state({"n": 3}),
    ]
    later = run_target({**cfg, "lists": {"c1": {"list_name": "Buyers", "sync_mode": "append"}}}, again)
    assert count(later, "deletions", "already_erased") == 1
    assert count(later, "contacts", "dropped_erased") == 1
    assert count(later, "events", "dropped_erased") == 1
    assert count(later, "list_members", "dropped_erased") == 1
    assert count(later, "orders", "dropped_erased") == 1
    assert not admin(brevo, "orders")["orders"]
    assert not exists(brevo, "user1@example.com")
    assert list_members(brevo, list_id_named(brevo, "Buyers")) == ["user2@example.com"]
    senders = Counter(e["identifiers"].get("email_id") for e in admin(brevo, "events")["events"])
    assert senders == {"user1@example.com": 1, "user2@example.com": 2}  # user 1's event of the first run only


def test_the_privacy_store_keeps_hashes_not_identities_of_erased_people(brevo, config, tmp_path):
    cfg = config()
    run_target(cfg, [USERS_SCHEMA, user(7), user(8), state({})])
    store = tmp_path / "privacy.sqlite3"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    db = sqlite3.connect(store)
    assert db.execute("SELECT amplitude_id, email, ext_id FROM identities ORDER BY 1").fetchall() == [
        (7, "user7@example.com", "u7"),
        (8, "user8@example.com", "u8"),
    ]
    db.close()
    run_target(cfg, [DELETIONS_SCHEMA, deletion(7), state({})])
    assert not (tmp_path / "privacy.sqlite3-wal").exists()  # checkpointed at close
    data = store.read_bytes()
    assert b"user7@example.com" not in data and b"u7" not in data
    assert b"user8@example.com" in data


def test_bad_deletions_are_rejected_without_naming_the_person(brevo, config, tmp_path):
    cfg = config(stream_types={"gdpr_requests": "deletions"})
    run_target(cfg, [USERS_SCHEMA, user(3), state({})])
    bad = [
        GDPR_SCHEMA,
        record("gdpr_requests", {"request_id": "r1", "email": None, "user_id": None}),
        record("gdpr_requests", {"request_id": "r2", "email": "not-an-email@", "user_id": None}),
        DELETIONS_SCHEMA,
        record("deletions", {"amplitude_id": None, "day": "2026-12-07", "status": "done"}),
        schema("deletions", {"amplitude_id": S, "day": S, "status": S}, ["day"]),
        record("deletions", {"amplitude_id": "12ab", "day": "2026-12-07", "status": "done"}),
        GDPR_SCHEMA,
        record("gdpr_requests", {"request_id": "r3", "email": "USER3@example.com", "user_id": None}),
        state({}),
    ]
    result = run_target(cfg, bad)
    lines = rejects(cfg["rejects_file"])
    reasons = sorted(line["reason"] for line in lines)
    assert len(lines) == 4, reasons
    assert sum("no identifier" in r for r in reasons) == 2
    assert any("email is not a valid address" in r for r in reasons)
    assert any("amplitude_id is not a number" in r for r in reasons)
    text = orjson.dumps(lines).decode() + result.logs
    assert "not-an-email" not in text and "user3@" not in text.lower()
    assert count(result, "deletions", "erased") == 1  # the run went on
    assert not exists(brevo, "user3@example.com")


def test_an_unknown_amplitude_id_is_reported_or_found_by_its_attribute(brevo, config, tmp_path):
    # a contact another tool created, holding the amplitude id in an attribute; this target never delivered it
    call(brevo, "POST", "/contacts/attributes/normal/AMPLITUDE_ID", json={"type": "float"})
    call(brevo, "POST", "/contacts", json={"email": "other@example.com", "attributes": {"AMPLITUDE_ID": 404}})

    unresolved = run_target(config(), [DELETIONS_SCHEMA, deletion(404), state({})])
    lines = rejects(unresolved.summary["rejects"]["file"])
    assert [line["outcome"] for line in lines] == ["unresolved"]
    assert "never delivered by this target" in lines[0]["reason"]
    assert lines[0]["record"] == {
        "amplitude_id": 404,
        "day": "2026-12-07",
        "status": "staging",
        "requested_on_day": "2026-11-30",
    }
    assert exists(brevo, "other@example.com")

    looked_up = config(
        property_mapping={"amplitude_id": "AMPLITUDE_ID"}, privacy_store_path=str(tmp_path / "second.sqlite3")
    )
    found = run_target(looked_up, [DELETIONS_SCHEMA, deletion(404), state({})])
    assert count(found, "deletions", "looked_up_by_attribute") == 1
    assert count(found, "deletions", "contacts_deleted") == 1
    assert not exists(brevo, "other@example.com")


def test_blocklist_action_keeps_the_contact_blocklisted_and_erases_its_transactional_logs(brevo, config):
    cfg = config(deletion_action="blocklist", delete_transactional_logs=True)
    run_target(cfg, [USERS_SCHEMA, user(5), state({})])
    result = run_target(cfg, [DELETIONS_SCHEMA, deletion(5, status="done"), state({})])
    assert count(result, "deletions", "contacts_blocklisted") == 1
    kept = contact(brevo, "user5@example.com")
    assert kept["emailBlacklisted"] is True and kept["smsBlacklisted"] is True
    logs = admin(brevo, "smtp-log-deletions")["deletions"]
    assert [entry["identifier"] for entry in logs] == ["user5@example.com"]
    # tombstoned all the same: a later record does not touch the contact again
    again = run_target(cfg, [USERS_SCHEMA, user(5, plan="pro"), state({})])
    assert count(again, "contacts", "dropped_erased") == 1


def test_deletion_statuses_wait_for_jobs_that_can_no_longer_be_withdrawn(brevo, config):
    cfg = config(deletion_statuses=["submitted", "done"])
    run_target(cfg, [USERS_SCHEMA, user(6), state({})])
    staged = run_target(cfg, [DELETIONS_SCHEMA, deletion(6, status="staging"), state({})])
    assert count(staged, "deletions", "not_yet_staging") == 1
    assert exists(brevo, "user6@example.com")
    submitted = run_target(cfg, [DELETIONS_SCHEMA, deletion(6, status="submitted"), state({})])
    assert count(submitted, "deletions", "erased") == 1
    assert not exists(brevo, "user6@example.com")


def call(brevo, method, path, **kwargs):
    response = requests.request(
        method, brevo.brevo["api"] + path, headers={"api-key": brevo.brevo["api_key"]}, timeout=10, **kwargs
    )
    assert response.ok, response.text
    return response.json() if response.content else None


CONSENT = {"consent_field": "user_properties.marketing_consent"}


def test_without_consent_no_contact_event_order_or_list_add(brevo, config):
    cfg = config(
        event_mapping={"Purchase": "order_completed"},
        lists={"c1": {"list_name": "Consenting", "sync_mode": "append"}},
        **CONSENT,
    )
    messages = [
        USERS_SCHEMA,
        user(1, marketing_consent=True),
        user(2, marketing_consent="no"),
        user(3),  # never said
        user(4, marketing_consent=" Yes "),
        EVENTS_SCHEMA,
        event(1),
        event(2),
        event(3),
        MEMBERS_SCHEMA,
        *members("c1", "Consenting", [1, 2, 3, 4]),  # member records carry no consent: judged by the users'
        state({}),
    ]
    result = run_target(cfg, messages)
    emails = {c.get("email") for c in admin(brevo, "contacts", limit=1000)["contacts"]}
    assert emails == {"user1@example.com", "user4@example.com"}
    assert count(result, "contacts", "dropped_no_consent") == 2
    assert count(result, "list_members", "dropped_no_consent") == 2
    assert list_members(brevo, list_id_named(brevo, "Consenting")) == ["user1@example.com", "user4@example.com"]
    senders = {e["identifiers"].get("email_id") for e in admin(brevo, "events")["events"]}
    assert senders == {"user1@example.com"}  # event(1) says nothing of consent: the user's does; 2 and 3: none


def test_consent_withdrawn_blocklists_the_contact_once(brevo, config):
    cfg = config(**CONSENT)
    run_target(cfg, [USERS_SCHEMA, user(1, marketing_consent="granted"), state({})])
    assert contact(brevo, "user1@example.com")["emailBlacklisted"] is False
    withdrawn = run_target(cfg, [USERS_SCHEMA, user(1, marketing_consent="revoked"), state({})])
    assert count(withdrawn, "consent", "withdrawn_blocklisted") == 1
    assert contact(brevo, "user1@example.com")["emailBlacklisted"] is True
    again = run_target(cfg, [USERS_SCHEMA, user(1, marketing_consent="revoked"), state({})])
    assert count(again, "consent", "withdrawn_blocklisted") == 0
    assert "PUT /contacts/{identifier}" not in again.summary["api_calls"]


def test_a_consent_value_of_an_unexpected_type_is_rejected(brevo, config):
    cfg = config(**CONSENT)
    result = run_target(
        cfg, [USERS_SCHEMA, user(1, marketing_consent={"email": True}), user(2, marketing_consent=True)]
    )
    lines = rejects(cfg["rejects_file"])
    assert len(lines) == 1 and "consent value of unexpected type dict" in lines[0]["reason"]
    assert count(result, "contacts", "upserted") == 1


@pytest.mark.parametrize("calls_max", [20, 0], ids=["one-call-each", "import"])
def test_update_only_enriches_existing_contacts_and_creates_none(brevo, config, calls_max):
    run_target(config(), [USERS_SCHEMA, user(1, plan="free"), user(2, plan="free"), state({})])
    before = admin(brevo, "contacts", limit=1000)["count"]
    cfg = config(contact_mode="update_only", contact_calls_max=calls_max, property_mapping={"plan": "PLAN"})
    result = run_target(cfg, [USERS_SCHEMA, *(user(n, plan="pro") for n in range(1, 6)), state({})])
    assert call(brevo, "GET", "/contacts?limit=1000")["count"] == before == 2
    assert contact(brevo, "user1@example.com")["attributes"]["PLAN"] == "pro"
    assert contact(brevo, "user2@example.com")["attributes"]["PLAN"] == "pro"
    assert count(result, "contacts", "not_in_brevo") == 3
    if calls_max:
        assert result.summary["api_calls"]["PUT /contacts/{identifier}"] == 5
    else:
        assert result.summary["api_calls"]["GET /contacts"] == 2  # the account's size, then its one page
        assert result.summary["api_calls"]["POST /contacts/import"] == 1


@pytest.mark.parametrize("calls_max", [20, 0], ids=["one-call-each", "import"])
def test_insert_only_creates_new_contacts_and_leaves_existing_ones_untouched(brevo, config, calls_max):
    run_target(config(property_mapping={"plan": "PLAN"}), [USERS_SCHEMA, user(1, plan="free"), state({})])
    cfg = config(contact_mode="insert_only", contact_calls_max=calls_max, property_mapping={"plan": "PLAN"})
    result = run_target(cfg, [USERS_SCHEMA, user(1, plan="pro"), user(2, plan="pro"), state({})])
    assert contact(brevo, "user1@example.com")["attributes"]["PLAN"] == "free"
    assert contact(brevo, "user2@example.com")["attributes"]["PLAN"] == "pro"
    if calls_max:
        assert count(result, "contacts", "existing_untouched") == 1
        assert count(result, "contacts", "brevo_created") == 1
    assert not rejects(cfg["rejects_file"])


def test_an_erasure_by_email_also_tombstones_the_persons_amplitude_ids(brevo, config):
    cfg = config(stream_types={"gdpr_requests": "deletions"})
    run_target(cfg, [USERS_SCHEMA, user(9), state({})])
    run_target(cfg, [GDPR_SCHEMA, record("gdpr_requests", {"request_id": "r", "email": "user9@example.com"})])
    # a later record of the same amplitude id under another email (changed in Amplitude) is theirs too
    later = run_target(
        cfg,
        [
            USERS_SCHEMA,
            record("users", {"amplitude_id": 9, "user_id": None, "user_properties": {"email": "new9@example.com"}}),
            state({}),
        ],
    )
    assert count(later, "contacts", "dropped_erased") == 1
    assert not exists(brevo, "new9@example.com")


def test_update_only_puts_each_contact_when_that_is_fewer_calls_than_reading_the_account(brevo, config):
    call(brevo, "POST", "/contacts/attributes/normal/PLAN", json={"type": "text"})
    everyone = call(brevo, "POST", "/contacts/lists", json={"name": "everyone", "folderId": 1})["id"]
    rows = [{"email": f"user{n}@example.com"} for n in range(1, 2501)]
    call(brevo, "POST", "/contacts/import", json={"jsonBody": rows, "listIds": [everyone]})
    assert wait_until(lambda: call(brevo, "GET", "/contacts?limit=1")["count"] == 2500)
    cfg = config(contact_mode="update_only", contact_calls_max=0, property_mapping={"plan": "PLAN"})
    result = run_target(cfg, [USERS_SCHEMA, *(user(n, plan="pro") for n in (1, 2, 3, 9999)), state({})])
    # 2,500 contacts are 3 pages to read, plus an import and its poll: 4 PUTs are fewer
    assert result.summary["api_calls"]["PUT /contacts/{identifier}"] == 4
    assert result.summary["api_calls"]["GET /contacts"] == 1
    assert count(result, "contacts", "not_in_brevo") == 1
    assert contact(brevo, "user2@example.com")["attributes"]["PLAN"] == "pro"


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_transactional_log_erasures_beyond_the_runs_budget_wait_for_the_next_runs(brevo, config):
    cfg = config(delete_transactional_logs=True, transactional_log_deletions_per_run=2)
    run_target(cfg, [USERS_SCHEMA, user(1), user(2), user(3), state({})])
    first = run_target(cfg, [DELETIONS_SCHEMA, deletion(1), deletion(2), deletion(3), state({})])
    assert count(first, "deletions", "contacts_deleted") == 3
    assert count(first, "deletions", "transactional_logs_deleted") == 2
    assert count(first, "deletions", "transactional_logs_waiting") == 1
    # the next run (its deletions all done already) sends the one left
    second = run_target(cfg, [DELETIONS_SCHEMA, deletion(1), state({})])
    assert count(second, "deletions", "transactional_logs_deleted") == 1
    logs = sorted(entry["identifier"] for entry in admin(brevo, "smtp-log-deletions")["deletions"])
    assert logs == ["user1@example.com", "user2@example.com", "user3@example.com"]
    db = sqlite3.connect(cfg["ledger_path"].replace("ledger.sqlite3", "privacy.sqlite3"))
    assert db.execute("SELECT count(*) FROM pending_log_deletions").fetchone()[0] == 0
    db.close()


def test_a_contact_imported_in_the_flush_of_its_erasure_is_erased_not_recreated(brevo, config):
    brevo.configure("brevo", import_delay_seconds=1.0)  # the import is applied after the erasure's first look
    cfg = config(contact_calls_max=0)
    run_target(cfg, [USERS_SCHEMA, user(2), state({})])
    result = run_target(cfg, [USERS_SCHEMA, user(1), user(2, plan="x"), DELETIONS_SCHEMA, deletion(1), state({})])
    assert count(result, "contacts", "dropped_erased") == 1  # held when the request came: left out of the import
    assert count(result, "deletions", "erased") == 1
    time.sleep(1.5)
    assert not exists(brevo, "user1@example.com") and exists(brevo, "user2@example.com")


def test_every_contact_of_the_person_is_erased_by_each_identifier(brevo, config):
    call(brevo, "POST", "/contacts", json={"ext_id": "u1"})  # Brevo holds one contact per identifier
    call(brevo, "POST", "/contacts", json={"email": "user1@example.com"})
    cfg = config()
    run_target(cfg, [USERS_SCHEMA, user(1), state({})])
    assert len(admin(brevo, "contacts", limit=100)["contacts"]) == 2
    result = run_target(cfg, [DELETIONS_SCHEMA, deletion(1), state({})])
    assert count(result, "deletions", "contacts_deleted") == 1
    assert admin(brevo, "contacts", limit=100)["contacts"] == []


def test_an_erasure_by_email_keeps_out_the_persons_ext_id_too(brevo, config):
    cfg = config(stream_types={"gdpr_requests": "deletions"})
    run_target(cfg, [USERS_SCHEMA, user(9), state({})])
    run_target(cfg, [GDPR_SCHEMA, record("gdpr_requests", {"request_id": "r", "email": "user9@example.com"})])
    later = run_target(cfg, [REVENUE_SCHEMA, revenue(1, 9), state({})])  # an order known by the user id only
    assert count(later, "orders", "dropped_erased") == 1
    assert not admin(brevo, "orders")["orders"]


def test_nothing_of_an_erased_person_reaches_the_rejects_file(brevo, config):
    cfg = config()
    run_target(cfg, [USERS_SCHEMA, user(1), state({})])
    run_target(cfg, [DELETIONS_SCHEMA, deletion(1), state({})])
    bad = record("users", {"amplitude_id": 1, "user_id": 12345, "user_properties": {"email": "user1@example.com"}})
    result = run_target(cfg, [USERS_SCHEMA, bad, state({})])  # breaks the schema: would be rejected
    assert count(result, "contacts", "dropped_erased") == 1
    assert rejects(cfg["rejects_file"]) == []


def test_a_withdrawal_whose_blocklist_fails_is_tried_again_on_the_next_run(brevo, config):
    cfg = config(**CONSENT)
    run_target(cfg, [USERS_SCHEMA, user(1, marketing_consent=True), state({})])
    brevo.fault(action="status", service="brevo", method="PUT", path="/v3/contacts/*", status=400, count=1,
                body={"code": "invalid_parameter", "message": "refused"})  # fmt: skip
    failed = run_target(cfg, [USERS_SCHEMA, user(1, marketing_consent="no"), state({})])
    assert count(failed, "consent", "withdrawn_blocklist_failed_400") == 1
    assert contact(brevo, "user1@example.com")["emailBlacklisted"] is False
    retried = run_target(cfg, [USERS_SCHEMA, user(1, marketing_consent="no"), state({})])
    assert count(retried, "consent", "withdrawn_blocklisted") == 1
    assert contact(brevo, "user1@example.com")["emailBlacklisted"] is True


def test_a_transactional_log_erasure_brevo_refuses_does_not_stop_the_runs(brevo, config):
    cfg = config(delete_transactional_logs=True)
    run_target(cfg, [USERS_SCHEMA, user(1), user(2), state({})])
    brevo.fault(action="status", service="brevo", method="DELETE", path="/v3/smtp/log/*", status=400, count=1,
                body={"code": "invalid_parameter", "message": "refused"})  # fmt: skip
    result = run_target(cfg, [DELETIONS_SCHEMA, deletion(1), deletion(2), state({})])
    assert result.summary["completed"] is True
    assert count(result, "deletions", "transactional_logs_refused_400") == 1
    assert count(result, "deletions", "transactional_logs_deleted") == 1
