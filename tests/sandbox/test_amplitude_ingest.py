"""Amplitude ingestion (HTTP V2, Batch, Identify) over HTTP: validation, bodies, stored form."""

from __future__ import annotations

import time

import orjson
import pytest
import requests
from sandbox.process import SandboxProcess
from test_amplitude_support import all_events, export_recent, ingest


@pytest.fixture
def amp(sandbox: SandboxProcess) -> SandboxProcess:
    sandbox.configure("amplitude", export_latency_hours=-1)
    return sandbox


def test_http_v2_accepts_and_reports(amp: SandboxProcess) -> None:
    before = time.time() * 1000
    response = ingest(
        amp, [{"user_id": "user-1001", "event_type": "Page View"}, {"device_id": "device-1", "event_type": "Open"}]
    )
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 200 and body["events_ingested"] == 2
    assert body["payload_size_bytes"] == len(response.request.body)
    assert abs(body["server_upload_time"] - before) < 5000


@pytest.mark.parametrize(
    ("payload", "error", "extra"),
    [
        (b"", "Missing request body", {}),
        (b"{not json", "Invalid JSON request body", {}),
        (b'{"events": []}', "Request missing required field", {"missing_field": "api_key"}),
        (b'{"api_key": "nope", "events": [{"user_id": "abcdef", "event_type": "x"}]}', "Invalid API key", {}),
        (b'{"api_key": "KEY"}', "Request missing required field", {"missing_field": "events"}),
        (b'{"api_key": "KEY", "events": [1, 2]}', "Invalid event JSON", {}),
    ],
)
def test_request_level_errors(amp: SandboxProcess, payload: bytes, error: str, extra: dict) -> None:
    payload = payload.replace(b"KEY", amp.amplitude["api_key"].encode())
    response = requests.post(
        amp.amplitude["ingest"] + "/2/httpapi", data=payload, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 400
    assert response.json() == {"code": 400, "error": error, **extra}


def test_event_errors_list_every_index_and_store_nothing(amp: SandboxProcess) -> None:
    events = [
        {"user_id": "user-1001", "event_type": "ok"},
        {"user_id": "user-1002"},
        {"user_id": "user-1003", "event_type": "x", "time": "2024-01-01"},
        {"event_type": "no ids"},
        {"user_id": "anonymous", "event_type": "x"},
        {"device_id": "null", "event_type": "x"},
        {"user_id": "user-1004", "event_type": "x", "user_properties": {"$set": {"a": 1}, "plain": 2}},
        {"user_id": "user-1005", "event_type": "x", "currency": "euro"},
    ]
    response = ingest(amp, events)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Request missing required field"
    assert body["events_with_missing_fields"] == {"event_type": [1], "user_id": [3]}
    assert body["events_with_invalid_fields"] == {
        "time": [2],
        "user_id": [4],
        "device_id": [5],
        "user_properties": [6],
        "currency": [7],
    }
    assert export_recent(amp).status_code == 404  # one bad event rejects the whole request


def test_short_ids_are_dropped_and_min_id_length_applies(amp: SandboxProcess) -> None:
    response = ingest(amp, [{"user_id": "abc", "event_type": "x"}])
    assert response.status_code == 400
    assert response.json()["events_with_invalid_id_lengths"] == {"user_id": [0]}
    # a short user_id next to a valid device_id is silently removed
    assert ingest(amp, [{"user_id": "abc", "device_id": "device-1", "event_type": "x"}]).status_code == 200
    assert ingest(amp, [{"user_id": "abc", "event_type": "y"}], options={"min_id_length": 3}).status_code == 200
    events = {e["event_type"]: e for e in all_events(export_recent(amp).content)}
    assert events["x"]["user_id"] is None and events["x"]["device_id"] == "device-1"
    assert events["y"]["user_id"] == "abc"


def test_size_limits_give_413(amp: SandboxProcess) -> None:
    too_many = [{"device_id": "device-1", "event_type": "x"}] * 2001
    assert ingest(amp, too_many).json() == {"code": 413, "error": "Payload too large"}
    big = [{"device_id": "device-1", "event_type": "x", "event_properties": {"blob": "a" * 1000}}] * 1100  # > 1 MB
    assert ingest(amp, big).status_code == 413
    assert ingest(amp, big, path="/batch").status_code == 200  # batch allows 20 MB
    assert requests.post(amp.amplitude["ingest"] + "/nowhere", timeout=10).json() == {
        "code": 400,
        "error": "Invalid request path",
    }


def test_stored_event_fields_revenue_and_language(amp: SandboxProcess) -> None:
    event = {
        "user_id": "user-2001", "device_id": "device-2001", "event_type": "Purchase", "time": 1700000000123,
        "price": 12.5, "quantity": 2, "productId": "sku-1", "revenueType": "purchase", "currency": "EUR",
        "event_properties": {"color": "red"}, "language": "fr-FR", "platform": "iOS", "os_name": "ios",
        "app_version": "2.1.0", "session_id": 1700000000000, "insert_id": "ins-1", "location_lat": 48.85,
        "location_lng": 2.35, "ip": "$remote", "country": "France",
    }  # fmt: skip
    assert ingest(amp, [event]).status_code == 200
    [stored] = all_events(export_recent(amp).content)
    assert stored["event_properties"] == {
        "color": "red", "$price": 12.5, "$quantity": 2, "$revenue": 25.0, "$productId": "sku-1",
        "$revenueType": "purchase", "$currency": "EUR",
    }  # fmt: skip
    assert stored["client_event_time"] == "2023-11-14 22:13:20.123000" == stored["event_time"]
    assert stored["language"] == "French" and stored["version_name"] == "2.1.0" and stored["start_version"] == "2.1.0"
    assert stored["session_id"] == 1700000000000 and stored["$insert_id"] == "ins-1"
    assert stored["ip_address"] == "127.0.0.1" and stored["location_lat"] == 48.85
    assert stored["paying"] is True and stored["app"] == amp.admin("GET", "amplitude/config")["project_id"]
    for field in ("server_upload_time", "server_received_time", "client_upload_time", "processed_time"):
        assert len(stored[field]) == 26 and stored[field][10] == " "
    for field in ("uuid", "event_id", "amplitude_id", "data", "user_properties", "group_properties", "groups",
                  "device_type", "device_family", "device_carrier", "region", "city", "dma", "library",
                  "amplitude_attribution_ids", "sample_rate", "device_model", "user_creation_time"):  # fmt: skip
        assert field in stored


def test_revenue_only_and_price_only(amp: SandboxProcess) -> None:
    ingest(amp, [{"user_id": "user-2002", "event_type": "a", "revenue": -3.5, "revenueType": "refund"},
                 {"user_id": "user-2002", "event_type": "b", "price": 4.0}])  # fmt: skip
    events = {e["event_type"]: e["event_properties"] for e in all_events(export_recent(amp).content)}
    assert events["a"] == {"$revenue": -3.5, "$revenueType": "refund"}
    assert events["b"] == {"$price": 4.0, "$quantity": 1, "$revenue": 4.0}
    bad = ingest(amp, [{"user_id": "user-2002", "event_type": "c", "productId": "sku"}])
    assert bad.status_code == 400 and bad.json()["events_with_invalid_fields"] == {"productId": [0]}


def test_insert_id_dedup(amp: SandboxProcess) -> None:
    event = {"device_id": "device-3001", "event_type": "x", "insert_id": "same"}
    assert ingest(amp, [event, event]).status_code == 200
    assert ingest(amp, [event]).status_code == 200
    assert ingest(amp, [{**event, "device_id": "device-3002"}]).status_code == 200  # other device: not a repeat
    assert len(all_events(export_recent(amp).content)) == 2


def test_amplitude_id_stable_per_user_and_device(amp: SandboxProcess) -> None:
    ingest(amp, [{"device_id": "device-4001", "event_type": "anonymous visit"}])
    ingest(amp, [{"user_id": "user-4001", "device_id": "device-4001", "event_type": "login"}])
    ingest(amp, [{"user_id": "user-4001", "device_id": "device-4002", "event_type": "other device"}])
    ingest(amp, [{"device_id": "device-4002", "event_type": "later"}])
    ingest(amp, [{"user_id": "user-4002", "event_type": "someone else"}])
    events = {e["event_type"]: e for e in all_events(export_recent(amp).content)}
    ids = {name: e["amplitude_id"] for name, e in events.items()}
    assert ids["anonymous visit"] == ids["login"] == ids["other device"] == ids["later"]
    assert ids["someone else"] != ids["login"]
    assert events["anonymous visit"]["data"]["first_event"] is True and events["login"]["data"]["first_event"] is False
    assert len(events["someone else"]["device_id"]) == 32  # derived from the user ID


def test_user_property_operations(amp: SandboxProcess) -> None:
    steps = [
        {"$set": {"plan": "free", "tags": ["a"], "n": 1, "gone": True}},
        {"$setOnce": {"plan": "pro", "first": "x"}, "$add": {"n": 4}},
        {"$append": {"tags": "b"}, "$prepend": {"tags": "z"}, "$unset": {"gone": "-"}},
        {"$postInsert": {"tags": ["b", "c"]}, "$preInsert": {"tags": ["z", "y"]}},
        {"$remove": {"tags": "a"}},
    ]
    events = [{"user_id": "user-5001", "event_type": "$identify", "user_properties": ops} for ops in steps]
    events.append({"user_id": "user-5001", "event_type": "after", "user_properties": {"city": "Lyon"}})
    assert ingest(amp, events).status_code == 200
    last = next(e for e in all_events(export_recent(amp).content) if e["event_type"] == "after")
    assert last["user_properties"] == {
        "plan": "free",
        "tags": ["y", "z", "b", "c"],
        "n": 5,
        "first": "x",
        "city": "Lyon",
    }


def test_identify_endpoint(amp: SandboxProcess) -> None:
    url = amp.amplitude["ingest"] + "/identify"
    ident = [{"user_id": "user-6001", "user_properties": {"$set": {"email": "a@example.com"}}, "country": "France"},
             {"user_id": "user-6002", "user_properties": {"plan": "pro"}}]  # fmt: skip
    response = requests.post(
        url, data={"api_key": amp.amplitude["api_key"], "identification": orjson.dumps(ident)}, timeout=10
    )
    assert (response.status_code, response.text) == (200, "success")
    multipart = requests.post(
        url,
        files={"api_key": (None, amp.amplitude["api_key"]), "identification": (None, orjson.dumps(ident[0]))},
        timeout=10,
    )
    assert multipart.status_code == 200
    assert requests.post(url, data={"api_key": "wrong", "identification": "{}"}, timeout=10).status_code == 400
    missing = requests.post(url, data={"api_key": amp.amplitude["api_key"]}, timeout=10)
    assert (missing.status_code, missing.text) == (400, "missing_event")
    events = all_events(export_recent(amp).content)
    assert {e["event_type"] for e in events} == {"$identify"}
    assert {e["user_id"]: e["user_properties"] for e in events} == {
        "user-6001": {"email": "a@example.com"},
        "user-6002": {"plan": "pro"},
    }
    assert all(e["data"]["path"] == "/identify" for e in events)


def test_eps_throttle_gives_429(amp: SandboxProcess) -> None:
    amp.configure("amplitude", rate_limit_scale=0.001)  # 1 event/s per device or user, over 30 s
    ok = ingest(amp, [{"device_id": "device-7001", "event_type": "x"}] * 30)
    assert ok.status_code == 200
    response = ingest(
        amp, [{"device_id": "device-7002", "event_type": "x"}, {"device_id": "device-7001", "event_type": "x"}]
    )
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == 429 and body["eps_threshold"] == 1
    assert body["throttled_devices"] == {"device-7001": 2} and body["throttled_events"] == [1]
