"""Amplitude dashboard reads over HTTP: user search, user activity, events list, REST limits."""

from __future__ import annotations

import threading
import time

import pytest
from sandbox.process import SandboxProcess
from test_amplitude_support import api_get, ingest


@pytest.fixture
def amp(sandbox: SandboxProcess) -> SandboxProcess:
    events = [
        {"user_id": "alice-0001", "device_id": "device-a1", "event_type": "$identify", "user_properties": {"$set": {"plan": "pro"}}, "time": 1_700_000_000_000, "session_id": 1_700_000_000_000},
        {"user_id": "alice-0001", "device_id": "device-a1", "event_type": "Page View", "time": 1_700_000_060_000, "session_id": 1_700_000_000_000, "platform": "iOS", "country": "France", "app_version": "1.0"},
        {"user_id": "alice-0001", "device_id": "device-a1", "event_type": "Purchase", "price": 10.0, "quantity": 2, "time": 1_700_086_400_000, "session_id": 1_700_086_400_000},
        {"user_id": "alicia-0002", "event_type": "Page View"},
        {"user_id": "bob-00003", "event_type": "Page View"},
    ]  # fmt: skip
    assert ingest(sandbox, events).status_code == 200
    return sandbox


def _alice(sb: SandboxProcess) -> int:
    return api_get(sb, "/api/2/usersearch", user="alice-0001").json()["matches"][0]["amplitude_id"]


def test_usersearch(amp: SandboxProcess) -> None:
    exact = api_get(amp, "/api/2/usersearch", user="alice-0001").json()
    assert exact["type"] == "match_user_or_device_id" and [m["user_id"] for m in exact["matches"]] == ["alice-0001"]
    prefix = api_get(amp, "/api/2/usersearch", user="ali").json()
    assert [m["user_id"] for m in prefix["matches"]] == ["alice-0001", "alicia-0002"]
    by_device = api_get(amp, "/api/2/usersearch", user="device-a1").json()["matches"]
    by_amplitude_id = api_get(amp, "/api/2/usersearch", user=str(_alice(amp))).json()["matches"]
    assert by_device == by_amplitude_id == exact["matches"]
    assert api_get(amp, "/api/2/usersearch", user="zed").json() == {"type": "nomatch", "matches": []}
    assert api_get(amp, "/api/2/usersearch").status_code == 400
    assert api_get(amp, "/api/2/usersearch", user="bob", auth=None).status_code == 403


def test_useractivity(amp: SandboxProcess) -> None:
    body = api_get(amp, "/api/2/useractivity", user=_alice(amp)).json()
    data = body["userData"]
    assert data["user_id"] == "alice-0001" and data["canonical_amplitude_id"] == _alice(amp)
    assert (data["num_events"], data["num_sessions"], data["purchases"], data["revenue"]) == (3, 2, 1, 20.0)
    assert (data["first_used"], data["last_used"]) == ("2023-11-14", "2023-11-15")
    assert data["usage_time"] == 60_000 and data["device_ids"] == ["device-a1"]
    assert data["properties"] == {"plan": "pro"} and data["country"] == "France" and data["platform"] == "iOS"
    assert [e["event_type"] for e in body["events"]] == ["Purchase", "Page View", "$identify"]
    earliest = api_get(amp, "/api/2/useractivity", user=_alice(amp), direction="earliest", limit=1, offset=1).json()
    assert [e["event_type"] for e in earliest["events"]] == ["Page View"]
    assert api_get(amp, "/api/2/useractivity", user=_alice(amp), limit=1001).status_code == 400
    assert api_get(amp, "/api/2/useractivity", user="alice").status_code == 400
    assert api_get(amp, "/api/2/useractivity", user="1").status_code == 404


def test_events_list(amp: SandboxProcess) -> None:
    data = api_get(amp, "/api/2/events/list").json()["data"]
    totals = {d["value"]: d["totals"] for d in data}
    assert totals == {"Page View": 3, "Purchase": 1}  # $identify is not an event type
    assert all(d["display"] == d["value"] and d["hidden"] is False and d["deleted"] is False for d in data)


def test_user_queries_hourly_limit(amp: SandboxProcess) -> None:
    amp.configure("amplitude", rate_limit_scale=0.01)  # 360/hour -> 3
    statuses = [api_get(amp, "/api/2/usersearch", user="bob").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    body = api_get(amp, "/api/2/useractivity", user="1").json()
    assert body["error"]["type"] == "rate_limited"


def test_concurrent_request_limit(amp: SandboxProcess) -> None:
    amp.configure("amplitude", rate_limit_scale=0.2, api_delay_ms=1500)  # 5 concurrent -> 1, each request takes 1.5 s
    slow: dict[str, int] = {}
    worker = threading.Thread(target=lambda: slow.update(status=api_get(amp, "/api/2/events/list").status_code))
    worker.start()
    try:
        time.sleep(0.5)
        blocked = api_get(amp, "/api/3/cohorts")
        assert blocked.status_code == 429 and blocked.json()["error"]["type"] == "rate_limited"
    finally:
        worker.join()
    assert slow["status"] == 200
    amp.configure("amplitude", api_delay_ms=0)
    assert api_get(amp, "/api/3/cohorts").status_code == 200
