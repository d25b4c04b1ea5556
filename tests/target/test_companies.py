"""Companies against the Brevo sandbox over HTTP: Amplitude groups become companies with their contacts linked,
by one CSV import per flush; a re-run changes nothing; a property change updates the company."""

from __future__ import annotations

from target_brevo.brevo.errors import BrevoError

from .support import USERS_SCHEMA, O, S, record, run_target, schema, state, user
from .test_http import admin

GROUPS_SCHEMA = schema(
    "groups",
    {
        "group_type": {"type": "string"},
        "group_value": {"type": "string"},
        "group_properties": O,
        "members": {"type": ["array", "null"], "items": {"type": "object"}},
        "last_seen": S,
    },
    ["group_type", "group_value"],
)
MAPPING = {"company_mapping": {"group_properties.plan": "plan", "group_properties.employees": "employees"}}


def group(value, name, plan, users, group_type="company", employees=10):
    members = [{"amplitude_id": n, "user_id": f"u{n}", "email": f"user{n}@example.com"} for n in users]
    return record(
        "groups",
        {
            "group_type": group_type,
            "group_value": value,
            "group_properties": {"name": name, "plan": plan, "employees": employees},
            "members": members,
            "last_seen": "2026-01-02T03:04:05Z",
        },
    )


def companies(brevo):
    return {c["attributes"]["name"]: c for c in admin(brevo, "companies")["companies"]}


def contact_ids(brevo):
    return {c["email"]: c["id"] for c in admin(brevo, "contacts", limit=1000)["contacts"]}


def company_calls(result):
    return {k: v for k, v in result.summary["api_calls"].items() if "/companies" in k or "/crm/" in k}


def test_groups_become_companies_with_their_contacts_linked_and_a_rerun_changes_nothing(brevo, config):
    cfg = config(**MAPPING)
    users = [USERS_SCHEMA, *(user(n) for n in range(1, 6))]
    groups = [GROUPS_SCHEMA, group("acme", "Acme", "pro", [1, 2]), group("globex", "Globex", "free", [3]),
              group("team-1", "Team", "x", [4], group_type="team")]  # fmt: skip
    first = run_target(cfg, [*users, *groups, state({"n": 1})])
    found = companies(brevo)
    assert set(found) == {"Acme", "Globex"}  # `team` is not a company group type
    ids = contact_ids(brevo)
    assert found["Acme"]["linkedContactsIds"] == sorted([ids["user1@example.com"], ids["user2@example.com"]])
    assert found["Acme"]["attributes"]["plan"] == "pro" and found["Acme"]["attributes"]["employees"] == 10
    assert found["Acme"]["attributes"]["amplitude_group"] == "company:acme"
    assert first.summary["objects"]["companies"]["created"] == 2
    assert first.summary["api_calls"]["POST /companies/import"] == 1

    again = run_target(cfg, [*groups, state({"n": 2})])
    assert company_calls(again) == {}
    assert again.summary["objects"]["companies"]["unchanged"] == 2
    assert companies(brevo) == found


def test_a_property_change_or_a_new_member_updates_the_company_in_place(brevo, config):
    cfg = config(**MAPPING)
    run_target(cfg, [USERS_SCHEMA, *(user(n) for n in range(1, 4)), GROUPS_SCHEMA, group("acme", "Acme", "pro", [1])])
    before = companies(brevo)["Acme"]
    later = run_target(cfg, [GROUPS_SCHEMA, group("acme", "Acme", "enterprise", [1, 3], employees=250), state({})])
    after = companies(brevo)
    assert list(after) == ["Acme"] and after["Acme"]["id"] == before["id"]  # updated, not duplicated
    assert after["Acme"]["attributes"]["plan"] == "enterprise" and after["Acme"]["attributes"]["employees"] == 250
    assert len(after["Acme"]["linkedContactsIds"]) == 2
    assert later.summary["objects"]["companies"]["updated"] == 1
    assert "GET /companies" not in later.summary["api_calls"]  # the id was known: nothing to look up


def test_a_member_known_by_ext_id_only_is_linked_by_its_contact_id(brevo, config):
    cfg = config()
    run_target(cfg, [USERS_SCHEMA, record("users", {"amplitude_id": 7, "user_id": "u7", "user_properties": {}})])
    members = [{"amplitude_id": 7, "user_id": "u7"}, {"amplitude_id": 8, "user_id": "u8"}]  # u8 is not in Brevo
    grp = record("groups", {"group_type": "company", "group_value": "solo", "group_properties": {}, "members": members})
    result = run_target(cfg, [GROUPS_SCHEMA, grp, state({})])
    company = companies(brevo)["solo"]  # no name property: the group value
    assert len(company["linkedContactsIds"]) == 1
    assert result.summary["objects"]["companies"]["members_not_in_brevo"] == 1


def test_a_crash_between_the_import_and_its_ids_creates_no_duplicate_on_the_next_run(brevo, config):
    cfg = config(max_retries=0, **MAPPING)
    messages = [USERS_SCHEMA, user(1), user(2), GROUPS_SCHEMA, group("acme", "Acme", "pro", [1]),
                group("globex", "Globex", "free", [2]), state({})]  # fmt: skip
    brevo.fault(action="status", service="brevo", method="GET", path="/v3/companies", status=500, count=1)
    run_target(cfg, messages, expect_error=BrevoError)  # the import went through; reading the new ids did not
    assert set(companies(brevo)) == {"Acme", "Globex"}
    again = run_target(cfg, messages)
    assert again.summary["objects"]["companies"]["recovered_after_a_crash"] == 2
    assert set(companies(brevo)) == {"Acme", "Globex"} and len(admin(brevo, "companies")["companies"]) == 2
    assert companies(brevo)["Acme"]["attributes"]["plan"] == "pro"
