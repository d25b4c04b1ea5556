"""Brevo emulator: POST /contacts/import (json and CSV), processes, counters, the removed batch."""

from __future__ import annotations

import time

import pytest
from brevo_spec import SpecCheckedSession
from sandbox.process import SandboxProcess


@pytest.fixture
def api(sandbox: SandboxProcess) -> SpecCheckedSession:
    sandbox.configure("brevo", rate_limits_enabled=False, import_delay_seconds=0)
    session = SpecCheckedSession(sandbox.brevo)
    assert session.post("/contacts/lists", json={"name": "Imported", "folderId": 1}).json()["id"] == 1
    return session


def wait_done(api: SpecCheckedSession, process_id: int, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process = api.get(f"/processes/{process_id}").json()
        if process["status"] in ("completed", "failed"):
            return process
        time.sleep(0.02)
    raise AssertionError(f"process {process_id} not done: {process}")


def start_import(api: SpecCheckedSession, body: dict) -> int:
    response = api.post("/contacts/import", json=body)
    assert response.status_code == 202, response.text
    return response.json()["processId"]


def test_json_import_creates_updates_and_counts(api: SpecCheckedSession) -> None:
    api.post("/contacts/attributes/normal/AGE", json={"type": "float"})
    api.post("/contacts", json={"email": "old@x.io", "attributes": {"FIRSTNAME": "Old", "LASTNAME": "Keep"}})
    rows = [
        {"email": "old@x.io", "attributes": {"FIRSTNAME": "Updated", "LASTNAME": ""}},
        {"email": "new@x.io", "attributes": {"FIRSTNAME": "New", "AGE": 41, "SMS": "+33612345678", "UNKNOWN": 1}},
        {"email": "not-an-email", "attributes": {"FIRSTNAME": "Bad"}},
        {"email": "NEW@x.io", "attributes": {"FIRSTNAME": "Repeat"}},
        {"attributes": {"EXT_ID": "crm-1", "FIRSTNAME": "NoEmail"}},
        {"email": "phone@x.io", "attributes": {"SMS": "33612345678"}},
    ]
    process_id = start_import(api, {"jsonBody": rows, "listIds": [1]})
    done = wait_done(api, process_id)
    assert done["name"] == "IMPORTUSER" and done["status"] == "completed"
    assert done["info"]["import"] == {
        "invalid_emails": 1,
        "duplicate_contact_id": 0,
        "duplicate_ext_id": 0,
        "duplicate_email_id": 1,
        "duplicate_phone_id": 1,
        "duplicate_whatsapp_id": 0,
        "duplicate_landline_number_id": 0,
    }
    assert done["completed_at"].endswith("Z")
    old = api.get("/contacts/old@x.io").json()
    assert old["attributes"] == {"FIRSTNAME": "Updated", "LASTNAME": "Keep"}, "empty values keep data by default"
    assert old["listIds"] == [1]
    new = api.get("/contacts/new@x.io").json()
    assert new["attributes"] == {"FIRSTNAME": "New", "AGE": 41, "SMS": "33612345678"}
    assert api.get("/contacts/crm-1", params={"identifierType": "ext_id"}).json()["listIds"] == [1]
    assert "SMS" not in api.get("/contacts/phone@x.io").json()["attributes"]
    assert api.get("/contacts/not-an-email").status_code == 404


def test_empty_contacts_attributes_erases(api: SpecCheckedSession) -> None:
    api.post("/contacts", json={"email": "a@x.io", "attributes": {"FIRSTNAME": "A", "LASTNAME": "B"}})
    body = {
        "jsonBody": [{"email": "a@x.io", "attributes": {"LASTNAME": ""}}],
        "listIds": [1],
        "emptyContactsAttributes": True,
    }
    wait_done(api, start_import(api, body))
    assert api.get("/contacts/a@x.io").json()["attributes"] == {"FIRSTNAME": "A"}


def test_update_existing_contacts_false_leaves_them(api: SpecCheckedSession) -> None:
    api.post("/contacts", json={"email": "a@x.io", "attributes": {"FIRSTNAME": "A"}})
    body = {
        "jsonBody": [{"email": "a@x.io", "attributes": {"FIRSTNAME": "Changed"}}, {"email": "b@x.io"}],
        "listIds": [1],
        "updateExistingContacts": False,
    }
    wait_done(api, start_import(api, body))
    assert api.get("/contacts/a@x.io").json()["attributes"] == {"FIRSTNAME": "A"}
    assert api.get("/contacts/b@x.io").status_code == 200


def test_csv_file_body(api: SpecCheckedSession) -> None:
    api.post("/contacts/attributes/normal/AGE", json={"type": "float"})
    api.post("/contacts/attributes/normal/PAYING", json={"type": "boolean"})
    api.post("/contacts/attributes/normal/SIGNUP", json={"type": "date"})
    csv = "EMAIL;FIRSTNAME;AGE;PAYING;SIGNUP;SMS\na@x.io;Ann;32;true;2024-01-31;+33612345678\nb@x.io;Bob;n/a;no;31/01/2024;\n\n"
    wait_done(api, start_import(api, {"fileBody": csv, "listIds": [1], "emailBlacklist": True}))
    a = api.get("/contacts/a@x.io").json()
    assert a["attributes"] == {
        "FIRSTNAME": "Ann",
        "AGE": 32,
        "PAYING": True,
        "SIGNUP": "2024-01-31",
        "SMS": "33612345678",
    }
    assert a["emailBlacklisted"] is True and a["listIds"] == [1]
    assert api.get("/contacts/b@x.io").json()["attributes"] == {"FIRSTNAME": "Bob", "PAYING": False}


def test_new_list(api: SpecCheckedSession) -> None:
    body = {"jsonBody": [{"email": "a@x.io"}], "newList": {"listName": "Fresh", "folderId": 1}}
    wait_done(api, start_import(api, body))
    assert api.get("/contacts/a@x.io").json()["listIds"] == [2]
    assert api.get("/contacts/lists/2").json()["name"] == "Fresh"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"listIds": [1]}, "missing_parameter"),
        ({"jsonBody": [{"email": "a@x.io"}]}, "missing_parameter"),
        ({"jsonBody": [{"email": "a@x.io"}], "fileBody": "EMAIL\na@x.io", "listIds": [1]}, "invalid_parameter"),
        ({"fileUrl": "https://example.com/contacts.csv", "listIds": [1]}, "invalid_parameter"),
        ({"fileBody": "NAME;CITY\nAnn;Paris", "listIds": [1]}, "invalid_parameter"),
        ({"jsonBody": [{"email": "a@x.io"}], "listIds": [42]}, "invalid_parameter"),
        ({"jsonBody": [{"email": "a@x.io"}], "newList": {"listName": "X"}}, "missing_parameter"),
        ({"jsonBody": {"email": "a@x.io"}, "listIds": [1]}, "invalid_parameter"),
    ],
)
def test_import_request_errors(api: SpecCheckedSession, body: dict, code: str) -> None:
    response = api.post("/contacts/import", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code


def test_ten_megabyte_cap(api: SpecCheckedSession) -> None:
    row = "x" * 1000
    csv = "EMAIL;FIRSTNAME\n" + "".join(f"u{i}@x.io;{row}\n" for i in range(10_600))
    assert len(csv.encode()) > 10 * 1024 * 1024
    response = api.post("/contacts/import", json={"fileBody": csv, "listIds": [1]})
    assert response.status_code == 400
    assert response.json()["code"] == "out_of_range"


def test_process_goes_queued_processing_completed(sandbox: SandboxProcess, api: SpecCheckedSession) -> None:
    sandbox.configure("brevo", import_delay_seconds=0.6)
    process_id = start_import(api, {"jsonBody": [{"email": "slow@x.io"}], "listIds": [1]})
    seen = [api.get(f"/processes/{process_id}").json()["status"]]
    assert seen == ["queued"]
    assert api.get("/contacts/slow@x.io").status_code == 404, "nothing applied before completion"
    deadline = time.monotonic() + 5
    while seen[-1] != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)
        status = api.get(f"/processes/{process_id}").json()["status"]
        if status != seen[-1]:
            seen.append(status)
    assert seen == ["queued", "processing", "completed"]
    assert api.get("/contacts/slow@x.io").status_code == 200
    listed = api.get("/processes", params={"limit": 5}).json()
    assert listed["count"] == 1 and listed["processes"][0]["id"] == process_id


def test_unknown_process(api: SpecCheckedSession) -> None:
    response = api.get("/processes/9999")
    assert response.status_code == 404
    assert response.json() == {"code": "invalid_parameter", "message": "processId is invalid"}


def test_removed_batch_endpoint(api: SpecCheckedSession) -> None:
    response = api.post("/contacts/batch", json={"contacts": [{"email": "a@x.io", "attributes": {"FIRSTNAME": "A"}}]})
    assert response.status_code == 404
    assert response.json() == {
        "code": "document_not_found",
        "message": "POST /contacts/batch was removed on 2026-10-30; use POST /contacts/import",
    }
