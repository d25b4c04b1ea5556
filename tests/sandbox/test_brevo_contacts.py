"""Brevo emulator: auth, contacts CRUD, attributes, identifiers and phones, over HTTP."""

from __future__ import annotations

import time

import pytest
import requests
from brevo_spec import SpecCheckedSession
from sandbox.process import SandboxProcess


@pytest.fixture
def api(sandbox: SandboxProcess) -> SpecCheckedSession:
    sandbox.configure("brevo", rate_limits_enabled=False)
    return SpecCheckedSession(sandbox.brevo)


def contact(api: SpecCheckedSession, identifier: str, **params: str) -> dict:
    response = api.get(f"/contacts/{identifier}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------- auth and envelope


@pytest.mark.parametrize("headers", [{}, {"api-key": "xkeysib-wrong"}, {"authorization": "Bearer nope"}])
def test_missing_or_wrong_key_is_401(sandbox: SandboxProcess, headers: dict) -> None:
    response = requests.get(sandbox.brevo["api"] + "/contacts", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"code": "unauthorized", "message": "Key not found"}
    assert response.headers["x-sib-ratelimit-limit"] == "10"


def test_bearer_token_is_accepted_like_the_api_key(sandbox: SandboxProcess) -> None:
    response = requests.get(
        sandbox.brevo["api"] + "/contacts", headers={"authorization": "Bearer " + sandbox.brevo["api_key"]}, timeout=10
    )
    assert response.status_code == 200


def test_unknown_route_and_wrong_method(api: SpecCheckedSession) -> None:
    unknown = requests.get(api.base_url + "/nothing/here", headers=api.headers, timeout=10)
    assert unknown.status_code == 404 and unknown.json()["code"] == "document_not_found"
    wrong = requests.patch(api.base_url + "/contacts", headers=api.headers, timeout=10)
    assert wrong.status_code == 405
    assert wrong.json() == {"code": "method_not_allowed", "message": "PATCH Method is not allowed on this path"}


def test_body_that_is_not_json_is_400(api: SpecCheckedSession) -> None:
    response = api.post("/contacts", data=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"code": "invalid_parameter", "message": "Input must be a valid JSON object"}


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        ({"email": 5}, "invalid_parameter", "email"),
        ({"email": "a@x.io", "attributes": {"FIRSTNAME": None}}, "invalid_parameter", "attributes.FIRSTNAME"),
        ({"email": "a@x.io", "listIds": ["one"]}, "invalid_parameter", "listIds"),
        ({"email": "a@x.io", "updateEnabled": "yes"}, "invalid_parameter", "updateEnabled"),
    ],
)
def test_requests_that_break_the_spec_get_brevo_400(
    api: SpecCheckedSession, body: dict, code: str, needle: str
) -> None:
    response = api.post("/contacts", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert needle in response.json()["message"]


def test_query_parameters_are_validated(api: SpecCheckedSession) -> None:
    assert api.get("/contacts", params={"limit": 1001}).json()["code"] == "out_of_range"
    bad = api.get("/contacts", params={"limit": "ten"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_parameter"
    assert api.get("/contacts", params={"sort": "sideways"}).status_code == 400
    assert api.get("/contacts/x@y.io", params={"identifierType": "nickname"}).status_code == 400


# ---------------------------------------------------------------- create


def test_create_contact_then_read_it_back_typed(api: SpecCheckedSession) -> None:
    api.post("/contacts/attributes/normal/AGE", json={"type": "float"})
    api.post("/contacts/attributes/normal/BIRTHDAY", json={"type": "date"})
    api.post("/contacts/attributes/normal/VIP", json={"type": "boolean"})
    body = {
        "email": "Jane.Doe@Example.com",
        "ext_id": "u-1",
        "attributes": {"FIRSTNAME": "Jane", "AGE": 32.5, "BIRTHDAY": "1990-04-01", "VIP": True, "UNKNOWN": "x"},
        "emailBlacklisted": False,
        "smsBlacklisted": True,
    }
    created = api.post("/contacts", json=body)
    assert created.status_code == 201
    contact_id = created.json()["id"]
    got = contact(api, "jane.doe@example.com")
    assert got["id"] == contact_id
    assert got["email"] == "jane.doe@example.com"
    assert got["attributes"] == {
        "FIRSTNAME": "Jane",
        "AGE": 32.5,
        "BIRTHDAY": "1990-04-01",
        "VIP": True,
        "EXT_ID": "u-1",
    }
    assert got["smsBlacklisted"] is True and got["emailBlacklisted"] is False
    assert got["createdAt"].endswith("Z") and got["listIds"] == []


def test_mistyped_values_are_ignored_not_rejected(api: SpecCheckedSession) -> None:
    api.post("/contacts/attributes/normal/AGE", json={"type": "float"})
    api.post("/contacts/attributes/normal/BIRTHDAY", json={"type": "date"})
    api.post("/contacts/attributes/normal/VIP", json={"type": "boolean"})
    response = api.post(
        "/contacts",
        json={"email": "a@x.io", "attributes": {"AGE": "old", "BIRTHDAY": "01/04/1990", "VIP": "yes", "LASTNAME": 7}},
    )
    assert response.status_code == 201
    assert contact(api, "a@x.io")["attributes"] == {}


def test_create_needs_an_identifier(api: SpecCheckedSession) -> None:
    response = api.post("/contacts", json={"attributes": {"FIRSTNAME": "Nobody"}})
    assert response.status_code == 400
    assert response.json() == {
        "code": "missing_parameter",
        "message": "Please provide Email or SMS attribute value to create user",
    }


def test_invalid_email_is_rejected(api: SpecCheckedSession) -> None:
    response = api.post("/contacts", json={"email": "not-an-email"})
    assert response.status_code == 400


def test_duplicate_email_and_sms_errors_carry_metadata(api: SpecCheckedSession) -> None:
    assert api.post("/contacts", json={"email": "a@x.io", "attributes": {"SMS": "+33612345678"}}).status_code == 201
    dup = api.post("/contacts", json={"email": "A@x.io"})
    assert dup.status_code == 400
    assert dup.json() == {
        "code": "duplicate_parameter",
        "message": "Unable to create contact, email is already associated with another Contact",
        "metadata": {"duplicate_identifiers": ["email"]},
    }
    sms = api.post("/contacts", json={"email": "b@x.io", "attributes": {"SMS": "0033612345678"}})
    assert sms.status_code == 400
    assert sms.json()["metadata"] == {"duplicate_identifiers": ["SMS"]}
    assert "SMS is already associated" in sms.json()["message"]


def test_update_enabled_updates_and_answers_204(api: SpecCheckedSession) -> None:
    first = api.post("/contacts", json={"email": "a@x.io", "attributes": {"FIRSTNAME": "A"}}).json()["id"]
    again = api.post("/contacts", json={"email": "a@x.io", "attributes": {"LASTNAME": "B"}, "updateEnabled": True})
    assert again.status_code == 204 and again.content == b""
    got = contact(api, "a@x.io")
    assert got["id"] == first and got["attributes"] == {"FIRSTNAME": "A", "LASTNAME": "B"}
    with_id = api.post("/contacts", json={"email": "a@x.io", "updateEnabled": True, "getId": True})
    assert with_id.status_code == 201 and with_id.json() == {"id": first}


def test_update_enabled_still_refuses_an_sms_owned_by_another_contact(api: SpecCheckedSession) -> None:
    api.post("/contacts", json={"email": "a@x.io", "attributes": {"SMS": "33612345678"}})
    api.post("/contacts", json={"email": "b@x.io"})
    clash = api.post("/contacts", json={"email": "b@x.io", "attributes": {"SMS": "33612345678"}, "updateEnabled": True})
    assert clash.status_code == 400 and clash.json()["metadata"] == {"duplicate_identifiers": ["SMS"]}
    merged = api.post(
        "/contacts",
        json={"email": "b@x.io", "attributes": {"SMS": "33612345678"}, "updateEnabled": True, "forceMerge": True},
    )
    assert merged.status_code == 204
    assert contact(api, "b@x.io")["attributes"]["SMS"] == "33612345678"
    assert api.get("/contacts/a@x.io").status_code == 404


@pytest.mark.parametrize("phone", ["33612345678", "+33612345678", "0033612345678", "+33 6 12 34 56 78"])
def test_phone_formats_with_country_code_are_stored_as_digits(api: SpecCheckedSession, phone: str) -> None:
    assert api.post("/contacts", json={"attributes": {"SMS": phone}}).status_code == 201
    got = contact(api, "33612345678", identifierType="phone_id")
    assert got["attributes"]["SMS"] == "33612345678"
    assert got["email"] == "33612345678@mailin-sms.com"


@pytest.mark.parametrize("phone", ["0612345678", "12", "+1555", "phone", True])
def test_invalid_phone_is_400(api: SpecCheckedSession, phone: object) -> None:
    response = api.post("/contacts", json={"email": "a@x.io", "attributes": {"SMS": phone}})
    assert response.status_code == 400
    assert response.json() == {"code": "invalid_parameter", "message": "Invalid phone number"}
    update_target = api.post("/contacts", json={"email": "b@x.io"})
    assert update_target.status_code == 201
    response = api.put("/contacts/b@x.io", json={"attributes": {"SMS": phone}})
    assert response.status_code == 400 and response.json()["message"] == "Invalid phone number"


def test_ext_id_only_contact(api: SpecCheckedSession) -> None:
    assert api.post("/contacts", json={"ext_id": "crm-42"}).status_code == 201
    got = contact(api, "crm-42", identifierType="ext_id")
    assert "email" not in got and got["attributes"] == {"EXT_ID": "crm-42"}
    dup = api.post("/contacts", json={"ext_id": "crm-42", "email": "c@x.io"})
    assert dup.status_code == 400 and dup.json()["metadata"] == {"duplicate_identifiers": ["ext_id"]}


# ---------------------------------------------------------------- read, update, delete


def test_identifier_resolution(api: SpecCheckedSession) -> None:
    contact_id = api.post(
        "/contacts",
        json={"email": "a@x.io", "ext_id": "e1", "attributes": {"SMS": "+33612345678", "WHATSAPP": "+33612345679"}},
    ).json()["id"]
    for identifier, kind in [
        ("a@x.io", None),
        (str(contact_id), None),
        ("33612345678", None),
        ("a@x.io", "email_id"),
        (str(contact_id), "contact_id"),
        ("e1", "ext_id"),
        ("+33612345678", "phone_id"),
        ("33612345679", "whatsapp_id"),
    ]:
        params = {"identifierType": kind} if kind else {}
        assert contact(api, identifier, **params)["id"] == contact_id, (identifier, kind)
    missing = api.get("/contacts/e1")
    assert missing.status_code == 404
    assert missing.json() == {"code": "document_not_found", "message": "Contact does not exist"}


def test_update_contact(api: SpecCheckedSession) -> None:
    list_id = api.post("/contacts/lists", json={"name": "L", "folderId": 1}).json()["id"]
    other = api.post("/contacts/lists", json={"name": "M", "folderId": 1}).json()["id"]
    api.post(
        "/contacts", json={"email": "a@x.io", "attributes": {"FIRSTNAME": "A", "LASTNAME": "Z"}, "listIds": [other]}
    )
    before = contact(api, "a@x.io")["modifiedAt"]
    time.sleep(0.01)
    response = api.put(
        "/contacts/a@x.io",
        json={
            "attributes": {"EMAIL": "new@x.io", "FIRSTNAME": "B", "LASTNAME": ""},
            "ext_id": "e9",
            "emailBlacklisted": True,
            "listIds": [list_id],
            "unlinkListIds": [other],
        },
    )
    assert response.status_code == 204
    assert api.get("/contacts/a@x.io").status_code == 404
    got = contact(api, "new@x.io")
    assert got["attributes"] == {"FIRSTNAME": "B", "EXT_ID": "e9"}
    assert got["emailBlacklisted"] is True and got["listIds"] == [list_id]
    assert got["modifiedAt"] > before


def test_update_errors(api: SpecCheckedSession) -> None:
    api.post("/contacts", json={"email": "a@x.io"})
    api.post("/contacts", json={"email": "b@x.io"})
    missing = api.put("/contacts/zz@x.io", json={"attributes": {"FIRSTNAME": "Z"}})
    assert missing.status_code == 404 and missing.json()["code"] == "document_not_found"
    clash = api.put("/contacts/a@x.io", json={"attributes": {"EMAIL": "b@x.io"}})
    assert clash.status_code == 400 and clash.json()["code"] == "duplicate_parameter"
    assert clash.json()["message"] == "Unable to update contact, email is already associated with another Contact"
    unknown_list = api.put("/contacts/a@x.io", json={"listIds": [999]})
    assert unknown_list.status_code == 400


def test_delete_contact(api: SpecCheckedSession) -> None:
    contact_id = api.post("/contacts", json={"email": "a@x.io", "ext_id": "e1"}).json()["id"]
    assert api.delete("/contacts/e1", params={"identifierType": "ext_id"}).status_code == 204
    assert api.get(f"/contacts/{contact_id}").status_code == 404
    assert api.delete("/contacts/a@x.io").status_code == 404


# ---------------------------------------------------------------- listing


def test_list_contacts_pages_sorts_and_filters(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    for i in range(5):
        api.post("/contacts", json={"email": f"u{i}@x.io", "attributes": {"FIRSTNAME": f"N{i % 2}"}})
    page = api.get("/contacts", params={"limit": 2, "offset": 1}).json()
    assert page["count"] == 5 and [c["email"] for c in page["contacts"]] == ["u3@x.io", "u2@x.io"]
    asc = api.get("/contacts", params={"limit": 2, "sort": "asc"}).json()
    assert [c["email"] for c in asc["contacts"]] == ["u0@x.io", "u1@x.io"]
    filtered = api.get("/contacts", params={"filter": 'equals(FIRSTNAME,"N1")'}).json()
    assert sorted(c["email"] for c in filtered["contacts"]) == ["u1@x.io", "u3@x.io"]
    assert api.get("/contacts", params={"filter": "contains(X)"}).status_code == 400


def test_modified_since(api: SpecCheckedSession) -> None:
    api.post("/contacts", json={"email": "old@x.io"})
    stamp = contact(api, "old@x.io")["modifiedAt"]
    time.sleep(0.01)
    api.post("/contacts", json={"email": "new@x.io"})
    newer = api.get("/contacts", params={"modifiedSince": "2099-01-01T00:00:00.000Z"}).json()
    assert newer == {"contacts": [], "count": 0}
    after = contact(api, "new@x.io")["modifiedAt"]
    since = api.get("/contacts", params={"modifiedSince": after}).json()
    assert [c["email"] for c in since["contacts"]] == ["new@x.io"]
    both = api.get("/contacts", params={"modifiedSince": stamp}).json()
    assert both["count"] == 2
    assert api.get("/contacts", params={"modifiedSince": "last tuesday"}).status_code == 400
    created = api.get("/contacts", params={"createdSince": after}).json()
    assert created["count"] == 1


def test_list_contacts_by_list(api: SpecCheckedSession) -> None:
    list_id = api.post("/contacts/lists", json={"name": "L", "folderId": 1}).json()["id"]
    api.post("/contacts", json={"email": "in@x.io", "listIds": [list_id]})
    api.post("/contacts", json={"email": "out@x.io"})
    found = api.get("/contacts", params={"listIds": [list_id]}).json()
    assert [c["email"] for c in found["contacts"]] == ["in@x.io"] and found["contacts"][0]["listIds"] == [list_id]


# ---------------------------------------------------------------- attributes


def test_default_attributes(api: SpecCheckedSession) -> None:
    listed = api.get("/contacts/attributes").json()["attributes"]
    assert listed == [
        {"name": "FIRSTNAME", "category": "normal", "type": "text"},
        {"name": "LASTNAME", "category": "normal", "type": "text"},
        {"name": "SMS", "category": "normal", "type": "text"},
    ]


def test_create_every_attribute_type(api: SpecCheckedSession) -> None:
    cases = [
        ("normal", "NICK", {"type": "text"}),
        ("normal", "SIGNUP", {"type": "date"}),
        ("normal", "LTV", {"type": "float"}),
        ("normal", "PAYING", {"type": "boolean"}),
        ("normal", "OWNER", {"type": "user"}),
        ("normal", "PLANS", {"type": "multiple-choice", "multiCategoryOptions": ["free", "pro"]}),
        ("transactional", "ORDER_ID", {"type": "id"}),
        (
            "category",
            "GENDER",
            {"type": "category", "enumeration": [{"value": 1, "label": "Men"}, {"value": 2, "label": "Women"}]},
        ),
        ("calculated", "TOTAL", {"value": "SUM[ORDER_PRICE]"}),
    ]
    for category, name, body in cases:
        response = api.post(f"/contacts/attributes/{category}/{name}", json=body)
        assert response.status_code == 201, (name, response.text)
        assert response.content == b""
    listed = {a["name"]: a for a in api.get("/contacts/attributes").json()["attributes"]}
    assert listed["PLANS"]["multiCategoryOptions"] == ["free", "pro"]
    assert listed["GENDER"]["enumeration"][1] == {"value": 2, "label": "Women"}
    assert listed["ORDER_ID"] == {"name": "ORDER_ID", "category": "transactional", "type": "id"}
    api.post(
        "/contacts",
        json={
            "email": "a@x.io",
            "attributes": {
                "PLANS": ["pro"],
                "GENDER": 2,
                "LTV": 10,
                "PAYING": False,
                "SIGNUP": "2024-02-29",
                "TOTAL": 5,
            },
        },
    )
    stored = contact(api, "a@x.io")["attributes"]
    assert stored == {"PLANS": ["pro"], "GENDER": "Women", "LTV": 10, "PAYING": False, "SIGNUP": "2024-02-29"}
    api.put("/contacts/a@x.io", json={"attributes": {"PLANS": ["enterprise"], "GENDER": 9}})
    assert contact(api, "a@x.io")["attributes"]["PLANS"] == ["pro"]


def test_attribute_errors_update_and_delete(api: SpecCheckedSession) -> None:
    assert api.post("/contacts/attributes/normal/FIRSTNAME", json={"type": "text"}).status_code == 400
    assert api.post("/contacts/attributes/transactional/X", json={"type": "multiple-choice"}).status_code == 400
    assert api.post("/contacts/attributes/normal/ID2", json={"type": "id"}).status_code == 400
    assert api.post("/contacts/attributes/category/C", json={"type": "category"}).status_code == 400
    assert api.post("/contacts/attributes/weird/X", json={"type": "text"}).status_code == 400
    api.post("/contacts/attributes/normal/PLANS", json={"type": "multiple-choice", "multiCategoryOptions": ["a"]})
    assert api.put("/contacts/attributes/normal/PLANS", json={"multiCategoryOptions": ["b"]}).status_code == 204
    listed = {a["name"]: a for a in api.get("/contacts/attributes").json()["attributes"]}
    assert listed["PLANS"]["multiCategoryOptions"] == ["a", "b"]
    assert api.put("/contacts/attributes/normal/NOPE", json={"multiCategoryOptions": ["b"]}).status_code == 404
    assert api.delete("/contacts/attributes/normal/PLANS").status_code == 204
    assert api.delete("/contacts/attributes/normal/PLANS").status_code == 404
