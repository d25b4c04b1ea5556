"""Brevo emulator: folders, lists and list membership (1..150 per call, success/failure, `all`)."""

from __future__ import annotations

import pytest
from brevo_spec import SpecCheckedSession
from sandbox.process import SandboxProcess


@pytest.fixture
def api(sandbox: SandboxProcess) -> SpecCheckedSession:
    sandbox.configure("brevo", rate_limits_enabled=False)
    return SpecCheckedSession(sandbox.brevo)


def new_list(api: SpecCheckedSession, name: str = "Customers", folder_id: int = 1) -> int:
    response = api.post("/contacts/lists", json={"name": name, "folderId": folder_id})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_folders_crud(api: SpecCheckedSession) -> None:
    default = api.get("/contacts/folders").json()
    assert default["count"] == 1 and default["folders"][0]["id"] == 1
    created = api.post("/contacts/folders", json={"name": "Imports"})
    assert created.status_code == 201
    folder_id = created.json()["id"]
    assert api.get(f"/contacts/folders/{folder_id}").json()["name"] == "Imports"
    assert api.put(f"/contacts/folders/{folder_id}", json={"name": "Synced"}).status_code == 204
    assert api.get(f"/contacts/folders/{folder_id}").json()["name"] == "Synced"
    list_id = new_list(api, "In folder", folder_id)
    assert api.get(f"/contacts/folders/{folder_id}/lists").json()["lists"][0]["id"] == list_id
    assert api.delete(f"/contacts/folders/{folder_id}").status_code == 204
    assert api.get(f"/contacts/lists/{list_id}").status_code == 404, "deleting a folder deletes its lists"
    for call in (api.get, api.delete):
        missing = call(f"/contacts/folders/{folder_id}")
        assert missing.status_code == 404
        assert missing.json() == {"code": "document_not_found", "message": "Folder ID does not exist"}
    assert api.get("/contacts/folders", params={"limit": 51}).status_code == 400


def test_lists_crud_and_paging(api: SpecCheckedSession) -> None:
    ids = [new_list(api, f"L{i}") for i in range(3)]
    listed = api.get("/contacts/lists", params={"limit": 2}).json()
    assert listed["count"] == 3 and [x["id"] for x in listed["lists"]] == ids[::-1][:2]
    assert listed["lists"][0] == {
        "id": ids[2],
        "name": "L2",
        "folderId": 1,
        "uniqueSubscribers": 0,
        "totalSubscribers": 0,
        "totalBlacklisted": 0,
    }
    detail = api.get(f"/contacts/lists/{ids[0]}").json()
    assert detail["dynamicList"] is False and detail["createdAt"].endswith("Z") and detail["folderId"] == 1
    assert api.put(f"/contacts/lists/{ids[0]}", json={"name": "Renamed"}).status_code == 204
    assert api.get(f"/contacts/lists/{ids[0]}").json()["name"] == "Renamed"
    assert api.delete(f"/contacts/lists/{ids[0]}").status_code == 204
    missing = api.get(f"/contacts/lists/{ids[0]}")
    assert missing.status_code == 404
    assert missing.json() == {"code": "document_not_found", "message": "List ID does not exist"}
    assert api.get("/contacts/lists", params={"limit": 51}).json()["code"] == "out_of_range"


def test_create_list_errors(api: SpecCheckedSession) -> None:
    assert api.post("/contacts/lists", json={"name": "No folder"}).json()["code"] == "missing_parameter"
    unknown = api.post("/contacts/lists", json={"name": "X", "folderId": 99})
    assert unknown.status_code == 400 and unknown.json()["message"] == "Folder ID does not exist"


def test_add_by_emails_ids_and_ext_ids(api: SpecCheckedSession) -> None:
    list_id = new_list(api)
    a = api.post("/contacts", json={"email": "a@x.io", "ext_id": "ea"}).json()["id"]
    b = api.post("/contacts", json={"email": "b@x.io", "ext_id": "eb"}).json()["id"]
    c = api.post("/contacts", json={"email": "c@x.io", "ext_id": "ec"}).json()["id"]
    added = api.post(f"/contacts/lists/{list_id}/contacts/add", json={"emails": ["A@x.io", "ghost@x.io"]})
    assert added.status_code == 201
    assert added.json() == {"contacts": {"success": ["A@x.io"], "failure": ["ghost@x.io"]}}
    by_id = api.post(f"/contacts/lists/{list_id}/contacts/add", json={"ids": [a, b, 999]})
    assert by_id.json() == {"contacts": {"success": [b], "failure": [a, 999]}}
    by_ext = api.post(f"/contacts/lists/{list_id}/contacts/add", json={"extIds": ["ec"]})
    assert by_ext.json() == {"contacts": {"success": ["ec"], "failure": []}}
    members = api.get(f"/contacts/lists/{list_id}/contacts").json()
    assert members["count"] == 3 and sorted(m["id"] for m in members["contacts"]) == [a, b, c]
    assert api.get(f"/contacts/lists/{list_id}").json()["totalSubscribers"] == 3


def test_add_when_nothing_could_be_added_is_400(api: SpecCheckedSession) -> None:
    list_id = new_list(api)
    api.post("/contacts", json={"email": "a@x.io", "listIds": [list_id]})
    for body in ({"emails": ["a@x.io"]}, {"emails": ["ghost@x.io"]}):
        response = api.post(f"/contacts/lists/{list_id}/contacts/add", json=body)
        assert response.status_code == 400
        assert response.json() == {
            "code": "invalid_parameter",
            "message": "Contact already in list and/or does not exist",
        }


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"emails": []},
        {"emails": [f"u{i}@x.io" for i in range(151)]},
        {"emails": ["a@x.io"], "ids": [1]},
        {"ids": ["x"]},
    ],
)
def test_add_body_rules(api: SpecCheckedSession, body: dict) -> None:
    list_id = new_list(api)
    response = api.post(f"/contacts/lists/{list_id}/contacts/add", json=body)
    assert response.status_code == 400, response.text


def test_add_150_at_once(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    list_id = new_list(api)
    sandbox.seed("brevo", contacts=150)
    emails = [f"seed{i}@example.com" for i in range(1, 151)]
    response = api.post(f"/contacts/lists/{list_id}/contacts/add", json={"emails": emails})
    assert response.status_code == 201 and len(response.json()["contacts"]["success"]) == 150
    page = api.get(f"/contacts/lists/{list_id}/contacts", params={"limit": 500, "sort": "asc"}).json()
    assert page["count"] == 150 and page["contacts"][0]["email"] == "seed1@example.com"
    assert api.get(f"/contacts/lists/{list_id}/contacts", params={"limit": 501}).status_code == 400


def test_unknown_list(api: SpecCheckedSession) -> None:
    api.post("/contacts", json={"email": "a@x.io"})
    for method, path, body in [
        ("POST", "/contacts/lists/99/contacts/add", {"emails": ["a@x.io"]}),
        ("POST", "/contacts/lists/99/contacts/remove", {"emails": ["a@x.io"]}),
        ("GET", "/contacts/lists/99/contacts", None),
    ]:
        response = api.request(method, path, json=body)
        assert response.status_code == 404
        assert response.json() == {"code": "document_not_found", "message": "List ID does not exist"}


def test_remove_members(api: SpecCheckedSession) -> None:
    list_id = new_list(api)
    api.post("/contacts", json={"email": "a@x.io", "listIds": [list_id]})
    api.post("/contacts", json={"email": "b@x.io", "listIds": [list_id]})
    removed = api.post(f"/contacts/lists/{list_id}/contacts/remove", json={"emails": ["a@x.io", "ghost@x.io"]})
    assert removed.status_code == 201
    assert removed.json() == {"contacts": {"success": ["a@x.io"], "failure": ["ghost@x.io"]}}
    again = api.post(f"/contacts/lists/{list_id}/contacts/remove", json={"emails": ["a@x.io"]})
    assert again.status_code == 400
    assert again.json() == {
        "code": "invalid_parameter",
        "message": "Contact already removed from list and/or does not exist",
    }
    assert api.get("/contacts/a@x.io").json()["listIds"] == []


def test_remove_all(api: SpecCheckedSession) -> None:
    list_id = new_list(api)
    for i in range(3):
        api.post("/contacts", json={"email": f"u{i}@x.io", "listIds": [list_id]})
    removed = api.post(f"/contacts/lists/{list_id}/contacts/remove", json={"all": True})
    assert removed.status_code == 201
    body = removed.json()["contacts"]
    assert body["total"] == 3
    assert api.get(f"/processes/{body['processId']}").json()["status"] == "completed"
    assert api.get(f"/contacts/lists/{list_id}/contacts").json()["count"] == 0
    empty = api.post(f"/contacts/lists/{list_id}/contacts/remove", json={"all": True})
    assert empty.status_code == 400
    assert empty.json()["message"] == "Contacts already removed from list and/or does not exist"


def test_admin_members_view(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    list_id = new_list(api)
    api.post("/contacts", json={"email": "a@x.io", "ext_id": "e1", "listIds": [list_id]})
    members = sandbox.admin("GET", f"brevo/lists/{list_id}/members")
    assert members == {"count": 1, "members": [{"id": 1, "email": "a@x.io", "ext_id": "e1", "sms": None}]}
    assert sandbox.admin("GET", "brevo/lists")["lists"][0]["totalSubscribers"] == 1
