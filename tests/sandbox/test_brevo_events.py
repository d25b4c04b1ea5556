"""Brevo emulator: POST /events and /events/batch (rules, limits, per-index errors, storage)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from brevo_spec import SpecCheckedSession
from sandbox.process import SandboxProcess


@pytest.fixture
def api(sandbox: SandboxProcess) -> SpecCheckedSession:
    sandbox.configure("brevo", rate_limits_enabled=False)
    return SpecCheckedSession(sandbox.brevo)


def event(name: str = "video_played", email: str = "jane@x.io", **extra: object) -> dict:
    return {"event_name": name, "identifiers": {"email_id": email}, **extra}


def stored(sandbox: SandboxProcess, **params: object) -> dict:
    return sandbox.admin("GET", "brevo/events", **params)


def test_event_is_stored_against_its_contact(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    api.post("/contacts/attributes/normal/AGE", json={"type": "float"})
    contact_id = api.post("/contacts", json={"email": "jane@x.io"}).json()["id"]
    body = event(
        event_date="2024-02-06T20:59:23.383Z",
        contact_properties={"AGE": 32, "FIRSTNAME": "Jane"},
        event_properties={
            "duration": 142,
            "price": 89.99,
            "autoplayed": False,
            "tags": ["a"],
            "nested": {"k-1": {"x_2": 1}},
        },
        object={"type": "subscription", "identifiers": {"ext_id": "sub-1"}},
    )
    response = api.post("/events", json=body)
    assert response.status_code == 204 and response.content == b""
    events = stored(sandbox, contact="jane@x.io")
    assert events["count"] == 1
    saved = events["events"][0]
    assert saved["contact_id"] == contact_id and saved["event_date"] == "2024-02-06T20:59:23.383Z"
    assert saved["event_properties"]["price"] == 89.99 and saved["object"]["type"] == "subscription"
    assert api.get("/contacts/jane@x.io").json()["attributes"] == {"AGE": 32, "FIRSTNAME": "Jane"}


def test_event_for_an_unknown_contact_creates_it(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    assert api.post("/events", json={"event_name": "signup", "identifiers": {"ext_id": "u-9"}}).status_code == 204
    contact = api.get("/contacts/u-9", params={"identifierType": "ext_id"}).json()
    assert stored(sandbox, contact=str(contact["id"]))["events"][0]["event_name"] == "signup"
    assert stored(sandbox)["events"][0]["event_date"].endswith("Z"), "event_date defaults to now"


def test_contact_id_wins_and_must_exist(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    first = api.post("/contacts", json={"email": "a@x.io"}).json()["id"]
    api.post("/contacts", json={"email": "b@x.io"})
    api.post("/events", json={"event_name": "x", "identifiers": {"email_id": "b@x.io", "contact_id": first}})
    assert stored(sandbox)["events"][0]["contact_id"] == first
    missing = api.post("/events", json={"event_name": "x", "identifiers": {"contact_id": 999}})
    assert missing.status_code == 400 and missing.json()["code"] == "invalid_parameter"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"identifiers": {"email_id": "a@x.io"}}, "missing_parameter"),
        ({"event_name": "x"}, "missing_parameter"),
        ({"event_name": "x", "identifiers": {}}, "out_of_range"),
        ({"event_name": "x", "identifiers": {"nickname": "a"}}, "missing_parameter"),
        ({"event_name": "video played", "identifiers": {"email_id": "a@x.io"}}, "invalid_parameter"),
        ({"event_name": "é", "identifiers": {"email_id": "a@x.io"}}, "invalid_parameter"),
        ({"event_name": "x" * 256, "identifiers": {"email_id": "a@x.io"}}, "invalid_parameter"),
        (
            {"event_name": "x", "identifiers": {"email_id": "a@x.io"}, "event_properties": {"bad key": 1}},
            "invalid_parameter",
        ),
        (
            {"event_name": "x", "identifiers": {"email_id": "a@x.io"}, "event_properties": {"n": {"bad.key": 1}}},
            "invalid_parameter",
        ),
        (
            {"event_name": "x", "identifiers": {"email_id": "a@x.io"}, "event_properties": {"v": None}},
            "invalid_parameter",
        ),
        (
            {"event_name": "x", "identifiers": {"email_id": "a@x.io"}, "event_properties": {"big": "x" * 52_000}},
            "out_of_range",
        ),
        ({"event_name": "x", "identifiers": {"email_id": "a@x.io"}, "event_date": "yesterday"}, "invalid_parameter"),
        ({"event_name": "x", "identifiers": {"email_id": "not-an-email"}}, "invalid_parameter"),
        ({"event_name": "x", "identifiers": {"phone_id": "12"}}, "invalid_parameter"),
        (
            {"event_name": "x", "identifiers": {"email_id": "a@x.io"}, "contact_properties": {"AGE": 1.5}},
            "invalid_parameter",
        ),
    ],
)
def test_event_rules(api: SpecCheckedSession, sandbox: SandboxProcess, body: dict, code: str) -> None:
    response = api.post("/events", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code, response.json()
    assert stored(sandbox)["count"] == 0


def test_batch_all_accepted_is_202(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    events = [event(email=f"u{i}@x.io", event_properties={"i": i}) for i in range(200)]
    response = api.post("/events/batch", json={"events": events})
    assert response.status_code == 202
    assert response.json() == {
        "message": "Batch accepted. Valid events have been added to the processing queue.",
        "count": 200,
    }
    assert stored(sandbox)["count"] == 200
    assert sandbox.admin("GET", "brevo/stats")["contacts"] == 200


def test_batch_partial_failure_is_207_with_indexes(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    events = [event(), event("bad name"), event(), event("also bad"), {"event_name": "x"}, event(email="broken")]
    response = api.post("/events/batch", json={"events": events})
    assert response.status_code == 207
    body = response.json()
    assert body["status"] == "partial_success"
    assert (body["total_events"], body["successful_events"], body["failed_events"]) == (6, 2, 4)
    by_message = {e["message"]: e["eventIndex"] for e in body["errors"]}
    assert by_message["event_name must be 1 to 255 letters, digits, '-' or '_'"] == [1, 3]
    assert sorted(i for indexes in by_message.values() for i in indexes) == [1, 3, 4, 5]
    assert stored(sandbox)["count"] == 2
    assert sandbox.admin("GET", "brevo/stats")["contacts"] == 1, "a failed event leaves no contact behind"


def test_batch_all_failed_is_400(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    response = api.post("/events/batch", json={"events": [event("a b"), event("c d")]})
    assert response.status_code == 400
    assert response.json() == {
        "status": "failed",
        "total_events": 2,
        "successful_events": 0,
        "failed_events": 2,
        "errors": [{"eventIndex": [0, 1], "message": "event_name must be 1 to 255 letters, digits, '-' or '_'"}],
    }


def test_batch_limits(api: SpecCheckedSession) -> None:
    too_many = api.post("/events/batch", json={"events": [event() for _ in range(201)]})
    assert too_many.status_code == 400 and too_many.json()["code"] == "out_of_range"
    big = [event(event_properties={"text": "x" * 40_000}) for _ in range(14)]
    too_big = api.post("/events/batch", json={"events": big})
    assert too_big.status_code == 400 and too_big.json() == {
        "code": "out_of_range",
        "message": "A batch is limited to 512 KB",
    }
    assert api.post("/events/batch", json={"events": []}).status_code == 400
    assert api.post("/events/batch", json=[event()]).status_code == 400, "the bare-array form of SDK 4.x is refused"


def test_admin_event_filters(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    api.post("/events/batch", json={"events": [event("a"), event("b"), event("a", email="other@x.io")]})
    assert stored(sandbox, event_name="a")["count"] == 2
    assert stored(sandbox, contact="jane@x.io", event_name="a")["count"] == 1
    page = stored(sandbox, limit=1, offset=1)
    assert page["count"] == 3 and page["events"][0]["event_name"] == "b"


def test_stored_events_say_when_they_were_accepted_on_the_real_clock(
    api: SpecCheckedSession, sandbox: SandboxProcess
) -> None:
    """`received_at` follows the (moved) sandbox clock; `accepted_at` is the real time, for latency measurements."""
    sandbox.admin("PUT", "clock", json={"offset_seconds": 86_400})
    before = time.time()
    assert api.post("/events/batch", json={"events": [event()]}).status_code == 202
    after = time.time()
    saved = stored(sandbox)["events"][0]
    assert before <= saved["accepted_at"] <= after
    received = datetime.fromisoformat(saved["received_at"]).timestamp()
    assert received - saved["accepted_at"] == pytest.approx(86_400, abs=1)
