"""Brevo emulator, what privacy handling relies on: transactional log deletion, contact deletion,
blocklisting, create/import that must not overwrite, and finding contacts to act on."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
import requests
from brevo_spec import SpecCheckedSession
from sandbox.brevo import ratelimit
from sandbox.process import SandboxProcess

MESSAGE_ID = "<202611301200.12345678901@smtp-relay.mailin.fr>"


@pytest.fixture
def api(sandbox: SandboxProcess) -> SpecCheckedSession:
    sandbox.configure("brevo", rate_limits_enabled=False, import_delay_seconds=0)
    return SpecCheckedSession(sandbox.brevo)


def smtp_log(identifier: str) -> str:
    return "/smtp/log/" + quote(identifier, safe="")


def deletions(sandbox: SandboxProcess) -> list[dict]:
    return sandbox.admin("GET", "brevo/smtp-log-deletions")["deletions"]


def wait_done(api: SpecCheckedSession, process_id: int, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process = api.get(f"/processes/{process_id}").json()
        if process["status"] in ("completed", "failed"):
            return process
        time.sleep(0.02)
    raise AssertionError(f"process {process_id} not done")


def import_rows(api: SpecCheckedSession, body: dict) -> dict:
    response = api.post("/contacts/import", json=body)
    assert response.status_code == 202, response.text
    return wait_done(api, response.json()["processId"])


def new_list(api: SpecCheckedSession, name: str = "L") -> int:
    return api.post("/contacts/lists", json={"name": name, "folderId": 1}).json()["id"]


# ---------------------------------------------------------------- DELETE /smtp/log/{identifier}


def test_deleting_an_emails_transactional_logs_is_accepted_and_recorded(
    api: SpecCheckedSession, sandbox: SandboxProcess
) -> None:
    sandbox.admin("PUT", "clock", json={"now": "2030-05-01T10:00:00Z"})
    response = api.delete(smtp_log("Jane.Doe@Example.com"))
    assert response.status_code == 204 and response.content == b""
    assert deletions(sandbox) == [
        {
            "id": 1,
            "identifier": "jane.doe@example.com",
            "kind": "email",
            "status": 204,
            "requested_at": deletions(sandbox)[0]["requested_at"],
        }
    ]
    assert deletions(sandbox)[0]["requested_at"].startswith("2030-05-01T10:00:0"), "on the sandbox clock"
    assert api.delete(smtp_log("jane.doe@example.com")).status_code == 204, "asynchronous: asking twice is fine"
    assert sandbox.admin("GET", "brevo/stats")["smtp_log_deletions"] == 2


def test_an_unknown_message_id_is_404_and_recorded(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    response = api.delete(smtp_log(MESSAGE_ID))
    assert response.status_code == 404
    assert response.json() == {"code": "document_not_found", "message": "Message ID not found"}
    [recorded] = deletions(sandbox)
    assert (recorded["identifier"], recorded["kind"], recorded["status"]) == (MESSAGE_ID, "message_id", 404)


@pytest.mark.parametrize("identifier", ["not-an-email", "jane@", "<no-at-sign>", "<a@b> trailing", "12345"])
def test_a_malformed_identifier_is_400_and_not_recorded(
    api: SpecCheckedSession, sandbox: SandboxProcess, identifier: str
) -> None:
    response = api.delete(smtp_log(identifier))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_parameter"
    assert deletions(sandbox) == []


def test_smtp_log_needs_the_key_and_only_takes_delete(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    anonymous = requests.delete(api.base_url + smtp_log("a@x.io"), timeout=10)
    assert anonymous.status_code == 401
    wrong_method = requests.get(api.base_url + smtp_log("a@x.io"), headers=api.headers, timeout=10)
    assert wrong_method.status_code == 405
    assert deletions(sandbox) == []


def test_smtp_log_counts_in_the_smtp_bucket(sandbox: SandboxProcess) -> None:
    """Every `/smtp/*` route shares one 300-requests-per-hour bucket (general plan)."""
    api = SpecCheckedSession(sandbox.brevo)
    assert ratelimit.scope_of("DELETE", "/smtp/log/a@x.io") == "smtp"
    first = api.delete(smtp_log("a@x.io"))
    assert (first.headers["x-sib-ratelimit-limit"], first.headers["x-sib-ratelimit-remaining"]) == ("300", "299")
    shared = api.get("/smtp/statistics/events")
    assert shared.headers["x-sib-ratelimit-remaining"] == "298", "the same bucket as GET /smtp/statistics/events"
    other = api.get("/processes")
    assert other.headers["x-sib-ratelimit-limit"] == "100", "not the bucket of all other endpoints"


def test_reset_forgets_smtp_log_deletions(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    api.delete(smtp_log("a@x.io"))
    sandbox.reset()
    assert deletions(sandbox) == []
    assert sandbox.admin("GET", "brevo/smtp-log-deletions", limit=1) == {"count": 0, "deletions": []}


# ---------------------------------------------------------------- DELETE /contacts/{identifier}


@pytest.mark.parametrize(
    ("identifier", "identifier_type"),
    [
        ("a@x.io", None),
        ("A@X.io", "email_id"),
        ("crm-1", "ext_id"),
        ("{id}", "contact_id"),
        ("{id}", None),
    ],
)
def test_deleted_contact_is_gone_everywhere_and_can_come_back_as_a_new_one(
    api: SpecCheckedSession, sandbox: SandboxProcess, identifier: str, identifier_type: str | None
) -> None:
    list_id = new_list(api)
    contact_id = api.post(
        "/contacts", json={"email": "a@x.io", "ext_id": "crm-1", "attributes": {"FIRSTNAME": "A"}, "listIds": [list_id]}
    ).json()["id"]
    api.post("/contacts", json={"email": "b@x.io", "listIds": [list_id]})
    params = {"identifierType": identifier_type} if identifier_type else {}
    deleted = api.delete(f"/contacts/{identifier.format(id=contact_id)}", params=params)
    assert deleted.status_code == 204 and deleted.content == b""

    assert api.get(f"/contacts/{contact_id}").status_code == 404
    assert api.get("/contacts/crm-1", params={"identifierType": "ext_id"}).status_code == 404
    assert [c["email"] for c in api.get("/contacts").json()["contacts"]] == ["b@x.io"]
    members = api.get(f"/contacts/lists/{list_id}/contacts").json()
    assert [c["email"] for c in members["contacts"]] == ["b@x.io"] and members["count"] == 1
    assert api.get(f"/contacts/lists/{list_id}").json()["uniqueSubscribers"] == 1
    assert api.delete(f"/contacts/{identifier.format(id=contact_id)}", params=params).status_code == 404

    done = import_rows(
        api, {"jsonBody": [{"email": "a@x.io", "attributes": {"EXT_ID": "crm-1"}}], "listIds": [list_id]}
    )
    assert done["status"] == "completed"
    back = api.get("/contacts/a@x.io").json()
    assert back["id"] > contact_id, "a new contact, with a new id"
    assert back["attributes"] == {"EXT_ID": "crm-1"}, "nothing of the deleted contact survives"
    assert back["listIds"] == [list_id]


@pytest.mark.parametrize(
    ("identifier", "identifier_type"),
    [("nobody@x.io", None), ("nobody@x.io", "email_id"), ("crm-9", "ext_id"), ("999", "contact_id"), ("999", None)],
)
def test_deleting_an_absent_contact_is_404(
    api: SpecCheckedSession, identifier: str, identifier_type: str | None
) -> None:
    api.post("/contacts", json={"email": "a@x.io", "ext_id": "crm-1"})
    params = {"identifierType": identifier_type} if identifier_type else {}
    response = api.delete(f"/contacts/{identifier}", params=params)
    assert response.status_code == 404
    assert response.json() == {"code": "document_not_found", "message": "Contact does not exist"}
    assert api.get("/contacts").json()["count"] == 1


# ---------------------------------------------------------------- blocklisting


def test_blocklisting_an_existing_contact(api: SpecCheckedSession) -> None:
    contact_id = api.post("/contacts", json={"email": "a@x.io", "attributes": {"FIRSTNAME": "A"}}).json()["id"]
    assert api.put("/contacts/a@x.io", json={"emailBlacklisted": True}).status_code == 204
    assert api.put(f"/contacts/{contact_id}", json={"smsBlacklisted": True}).status_code == 204
    got = api.get(f"/contacts/{contact_id}").json()
    assert (got["emailBlacklisted"], got["smsBlacklisted"]) == (True, True)
    assert got["attributes"] == {"FIRSTNAME": "A"}, "blocklisting leaves attributes alone"
    listed = api.get("/contacts").json()["contacts"][0]
    assert (listed["emailBlacklisted"], listed["smsBlacklisted"]) == (True, True)
    assert api.put("/contacts/a@x.io", json={"emailBlacklisted": False}).status_code == 204
    again = api.get("/contacts/a@x.io").json()
    assert (again["emailBlacklisted"], again["smsBlacklisted"]) == (False, True), "each flag on its own"


def test_blocklisting_an_absent_contact_is_404_and_creates_nothing(api: SpecCheckedSession) -> None:
    response = api.put("/contacts/ghost@x.io", json={"emailBlacklisted": True, "smsBlacklisted": True})
    assert response.status_code == 404
    assert response.json() == {"code": "document_not_found", "message": "Contact does not exist"}
    assert (
        api.put("/contacts/ghost-1", params={"identifierType": "ext_id"}, json={"emailBlacklisted": True}).status_code
        == 404
    )
    assert api.get("/contacts").json()["count"] == 0


# ---------------------------------------------------------------- create and import must not overwrite


@pytest.mark.parametrize("update_enabled", [False, None])
def test_create_without_update_enabled_refuses_an_existing_contact(
    api: SpecCheckedSession, update_enabled: bool | None
) -> None:
    list_id = new_list(api)
    api.post("/contacts", json={"email": "a@x.io", "ext_id": "crm-1", "attributes": {"FIRSTNAME": "Kept"}})
    before = api.get("/contacts/a@x.io").json()
    body: dict = {
        "email": "A@x.io",
        "ext_id": "crm-2",
        "attributes": {"FIRSTNAME": "Overwritten", "LASTNAME": "New"},
        "emailBlacklisted": True,
        "listIds": [list_id],
    }
    if update_enabled is not None:
        body["updateEnabled"] = update_enabled
    response = api.post("/contacts", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "duplicate_parameter"
    assert response.json()["metadata"] == {"duplicate_identifiers": ["email"]}
    after = api.get("/contacts/a@x.io").json()
    assert after == before, "nothing of the refused request is applied"
    assert api.get("/contacts/crm-2", params={"identifierType": "ext_id"}).status_code == 404


def test_import_without_updating_existing_contacts_only_adds_them_to_the_lists(api: SpecCheckedSession) -> None:
    list_id = new_list(api)
    api.post("/contacts/attributes/normal/AMPLITUDE_ID", json={"type": "float"})
    api.post("/contacts", json={"email": "old@x.io", "attributes": {"FIRSTNAME": "Old", "AMPLITUDE_ID": 1}})
    before = api.get("/contacts/old@x.io").json()
    rows = [
        {"email": "old@x.io", "attributes": {"FIRSTNAME": "Changed", "AMPLITUDE_ID": 2, "EXT_ID": "crm-1"}},
        {"email": "new@x.io", "attributes": {"FIRSTNAME": "New", "AMPLITUDE_ID": 3}},
    ]
    body = {"jsonBody": rows, "listIds": [list_id], "updateExistingContacts": False, "emailBlacklist": True}
    assert import_rows(api, body)["status"] == "completed"
    old = api.get("/contacts/old@x.io").json()
    assert old["attributes"] == before["attributes"] == {"FIRSTNAME": "Old", "AMPLITUDE_ID": 1}
    assert old["emailBlacklisted"] is False, "the import's blocklist flag does not reach existing contacts"
    assert old["listIds"] == [list_id], "existing contacts still join the import's lists"
    new = api.get("/contacts/new@x.io").json()
    assert new["attributes"] == {"FIRSTNAME": "New", "AMPLITUDE_ID": 3}
    assert new["listIds"] == [list_id] and new["emailBlacklisted"] is True


# ---------------------------------------------------------------- finding contacts


def test_filter_finds_a_contact_by_a_float_or_text_attribute(api: SpecCheckedSession) -> None:
    api.post("/contacts/attributes/normal/AMPLITUDE_ID", json={"type": "float"})
    api.post("/contacts/attributes/normal/AMPLITUDE_USER", json={"type": "text"})
    api.post("/contacts", json={"email": "int@x.io", "attributes": {"AMPLITUDE_ID": 123, "AMPLITUDE_USER": "123"}})
    api.post("/contacts", json={"email": "float@x.io", "attributes": {"AMPLITUDE_ID": 456.0}})
    api.post("/contacts", json={"email": "big@x.io", "attributes": {"AMPLITUDE_ID": 98765432109876}})
    api.post("/contacts", json={"email": "other@x.io", "attributes": {"AMPLITUDE_ID": 1234, "AMPLITUDE_USER": "u-1"}})

    def found(expression: str) -> list[str]:
        response = api.get("/contacts", params={"filter": expression})
        assert response.status_code == 200, response.text
        return [c["email"] for c in response.json()["contacts"]]

    assert found('equals(AMPLITUDE_ID,"123")') == ["int@x.io"]
    assert found("equals(AMPLITUDE_ID,123)") == ["int@x.io"]
    assert found('equals(AMPLITUDE_ID,"456")') == ["float@x.io"], "a number stored as 456.0"
    assert found('equals(AMPLITUDE_ID,"98765432109876")') == ["big@x.io"]
    assert found('equals(AMPLITUDE_ID,"12")') == []
    assert found('equals(AMPLITUDE_USER,"123")') == ["int@x.io"]
    assert found('equals(AMPLITUDE_USER,"u-1")') == ["other@x.io"]
    assert found('equals(amplitude_user,"u-1")') == ["other@x.io"], "attribute names are upper-cased"


def test_paging_through_every_contact_with_its_email_and_ext_id(
    api: SpecCheckedSession, sandbox: SandboxProcess
) -> None:
    total = 2345
    people = [{"email": f"p{i}@x.io", "attributes": {"EXT_ID": f"amp-{i}"}} for i in range(total)]
    people.append({"email": "no-ext@x.io"})
    assert sandbox.seed("brevo", contacts=people)["contacts"] == total + 1
    seen: dict[str, str | None] = {}
    offset = 0
    while True:
        page = api.get("/contacts", params={"limit": 1000, "offset": offset}).json()
        assert page["count"] == total + 1
        for contact in page["contacts"]:
            assert contact["email"] not in seen, "no contact twice"
            seen[contact["email"]] = contact["attributes"].get("EXT_ID")
        if len(page["contacts"]) < 1000:
            break
        offset += 1000
    assert offset == 2000
    assert seen == {**{f"p{i}@x.io": f"amp-{i}" for i in range(total)}, "no-ext@x.io": None}
    assert api.get("/contacts", params={"limit": 1001}).status_code == 400, "1000 is the most per page"
