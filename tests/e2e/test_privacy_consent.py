"""Marketing consent and contact modes end to end: users sent through Amplitude's HTTP V2 API, exported by
`meltano run tap-amplitude target-brevo` in environment `dev` (the user's own mappings, set from the
environment), and what Brevo then holds read with Brevo's own API (`GET /v3/contacts`)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from e2e.support import SEED_START, Pipeline
from e2e.test_realtime import event, ingest

CONTACTS_ONLY = {"PROPERTY_MAPPING": {"email": "email", "plan": "PLAN"}}
WITH_EVENTS = {**CONTACTS_ONLY, "EVENT_MAPPING": {"Sign Up": "customer_created", "Purchase": "order_completed"}}
CONSENT_FIELD = "user_properties.marketing_consent"
APP_STARTS = SEED_START + timedelta(hours=1, minutes=30)  # the sandbox clock's first reading: a short export


def email(user: str) -> str:
    return f"{user}@example.com"


def brevo_api(p: Pipeline, method: str, path: str, **kwargs: Any) -> Any:
    """A call to Brevo's own API (the sandbox's /v3, with the api-key header)."""
    response = requests.request(
        method, p.sandbox.brevo["api"] + path, headers={"api-key": p.sandbox.brevo["api_key"]}, timeout=30, **kwargs
    )
    assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def brevo_contacts(p: Pipeline) -> dict[str, dict[str, Any]]:
    """Every contact as Brevo's `GET /contacts` lists it, by email (or ext_id, for a contact without one)."""
    listed = brevo_api(p, "GET", "/contacts", params={"limit": 1000})
    assert listed["count"] == len(listed["contacts"])
    return {c.get("email") or c["attributes"].get("EXT_ID"): c for c in listed["contacts"]}


def brevo_event_senders(p: Pipeline) -> list[tuple[str, str | None]]:
    """(event name, email) of every event Brevo stored (Brevo's API has no route that lists events)."""
    return sorted((e["event_name"], e["identifiers"].get("email_id")) for e in p.all_pages("events", "events"))


def create_contacts(p: Pipeline, plans: dict[str, str]) -> None:
    """Contacts another tool created in Brevo: an email and a PLAN, no ext_id."""
    brevo_api(p, "POST", "/contacts/attributes/normal/PLAN", json={"type": "text"})
    for user, plan in plans.items():
        brevo_api(p, "POST", "/contacts", json={"email": email(user), "attributes": {"PLAN": plan}})


def start_app(p: Pipeline) -> None:
    p.sandbox.admin("PUT", "clock", json={"now": APP_STARTS.isoformat()})


def app_event(p: Pipeline, user: str, event_type: str, **user_properties: Any) -> dict[str, Any]:
    """An event of the app's user, setting `user_properties` (a None value is left out: never said)."""
    properties = {"email": email(user), **{k: v for k, v in user_properties.items() if v is not None}}
    return event(p, user, event_type, user_properties=properties)


def export(p: Pipeline, mappings: dict[str, dict[str, str]], **env: str) -> dict[str, Any]:
    """Amplitude's export latency passes, then the scheduled run (its own state: only new hours); returns the
    target's run summary."""
    p.advance_past(datetime.fromisoformat(p.sandbox.admin("GET", "clock")["now"]))
    settings = {f"TARGET_BREVO_{name}": json.dumps(value) for name, value in mappings.items()}
    p.run("run", "tap-amplitude", "target-brevo", MELTANO_ENVIRONMENT="dev", **settings, **env)
    return json.loads((p.workdir / "summary.json").read_text())


def outcomes(summary: dict[str, Any], obj: str) -> dict[str, int]:
    return summary["objects"].get(obj, {})


def test_only_consenting_users_reach_brevo_and_a_withdrawal_blocklists_them(pipeline: Pipeline) -> None:
    p = pipeline
    start_app(p)
    consents = {"consenting": True, "refusing": "no", "silent": None}
    ingest(p, [app_event(p, user, "Sign Up", plan="pro", marketing_consent=said) for user, said in consents.items()])
    first = export(p, WITH_EVENTS, TARGET_BREVO_CONSENT_FIELD=CONSENT_FIELD)

    contacts = brevo_contacts(p)
    assert set(contacts) == {email("consenting")}, "a user without consent never becomes a contact"
    assert contacts[email("consenting")]["attributes"]["PLAN"] == "pro"
    assert contacts[email("consenting")]["emailBlacklisted"] is False
    assert brevo_event_senders(p) == [("customer_created", email("consenting"))]
    assert outcomes(first, "contacts")["dropped_no_consent"] == 2
    assert outcomes(first, "events")["dropped_no_consent"] == 2

    # Later the consenting user withdraws; the next scheduled run sees only that.
    ingest(p, [app_event(p, "consenting", "Purchase", marketing_consent="no")])
    withdrawn = export(p, WITH_EVENTS, TARGET_BREVO_CONSENT_FIELD=CONSENT_FIELD)
    assert withdrawn["event_types"]["Purchase"]["seen"] == 1 and "Sign Up" not in withdrawn["event_types"]
    assert outcomes(withdrawn, "consent")["withdrawn_blocklisted"] == 1
    assert brevo_api(p, "GET", f"/contacts/{email('consenting')}")["emailBlacklisted"] is True
    assert set(brevo_contacts(p)) == {email("consenting")}
    assert brevo_event_senders(p) == [("customer_created", email("consenting"))], "nothing sent after withdrawal"


@pytest.mark.parametrize(
    ("calls_max", "mappings"),
    [
        pytest.param("20", CONTACTS_ONLY, id="one-call-each"),
        pytest.param("0", CONTACTS_ONLY, id="import"),
        pytest.param("20", WITH_EVENTS, id="one-call-each-with-events"),
    ],
)
def test_update_only_enriches_existing_contacts_and_creates_none(
    pipeline: Pipeline, calls_max: str, mappings: dict[str, dict[str, str]]
) -> None:
    p = pipeline
    create_contacts(p, {"known-1": "free", "known-2": "free"})
    before = brevo_contacts(p)
    start_app(p)
    users = ["known-1", "known-2", "new-1", "new-2", "new-3"]
    ingest(p, [app_event(p, user, "Sign Up", plan="pro") for user in users])
    summary = export(p, mappings, TARGET_BREVO_CONTACT_MODE="update_only", TARGET_BREVO_CONTACT_CALLS_MAX=calls_max)

    assert outcomes(summary, "contacts")["not_in_brevo"] == 3
    after = brevo_contacts(p)
    assert set(after) == set(before) == {email("known-1"), email("known-2")}, "update_only created a contact"
    assert {c["attributes"]["PLAN"] for c in after.values()} == {"pro"}
    assert {c["attributes"]["EXT_ID"] for c in after.values()} == {"known-1", "known-2"}


@pytest.mark.parametrize(
    ("calls_max", "mappings"),
    [
        pytest.param("20", CONTACTS_ONLY, id="one-call-each"),
        pytest.param("0", CONTACTS_ONLY, id="import"),
        pytest.param("0", WITH_EVENTS, id="import-with-events"),
    ],
)
def test_insert_only_creates_new_contacts_and_leaves_existing_ones_untouched(
    pipeline: Pipeline, calls_max: str, mappings: dict[str, dict[str, str]]
) -> None:
    p = pipeline
    create_contacts(p, {"known-1": "free"})
    start_app(p)
    ingest(p, [app_event(p, user, "Sign Up", plan="pro") for user in ("known-1", "new-1", "new-2")])
    export(p, mappings, TARGET_BREVO_CONTACT_MODE="insert_only", TARGET_BREVO_CONTACT_CALLS_MAX=calls_max)

    contacts = brevo_contacts(p)
    assert set(contacts) == {email("known-1"), email("new-1"), email("new-2")}
    assert contacts[email("known-1")]["attributes"] == {"PLAN": "free"}, "an existing contact was changed"
    assert contacts[email("new-1")]["attributes"] == {"PLAN": "pro", "EXT_ID": "new-1"}
    assert contacts[email("new-2")]["attributes"] == {"PLAN": "pro", "EXT_ID": "new-2"}
