"""Amplitude User Privacy API v1 over HTTP: deletion jobs, their lifecycle on the sandbox clock, limits."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from sandbox.process import SandboxProcess
from test_amplitude_support import api_get, api_post, ingest

DELETIONS = "/api/2/deletions/users"
START = "2030-01-10T12:00:00Z"  # the job of a request on 2030-01-10 is due 2030-01-17


@pytest.fixture
def amp(sandbox: SandboxProcess) -> SandboxProcess:
    events = [{"user_id": f"person-{n}", "event_type": "Page View"} for n in range(3)]
    assert ingest(sandbox, events).status_code == 200
    assert ingest(sandbox, [{"user_id": "person-eu", "event_type": "Page View"}], region="eu").status_code == 200
    sandbox.configure("amplitude", rate_limit_scale=1000)  # the 1 request/s limit has its own test
    sandbox.admin("PUT", "clock", json={"now": START})
    return sandbox


def _create(sb: SandboxProcess, region: str = "us", **body: Any) -> requests.Response:
    return api_post(sb, DELETIONS, {"requester": "dpo@example.com", **body}, region=region)


def _list(sb: SandboxProcess, start: str = "2030-01-01", end: str = "2030-03-01", region: str = "us") -> Any:
    response = api_get(sb, DELETIONS, region=region, start_day=start, end_day=end)
    assert response.status_code == 200, response.text
    return response.json()


def _remove(sb: SandboxProcess, amplitude_id: int, day: str) -> requests.Response:
    auth = (sb.amplitude["api_key"], sb.amplitude["secret_key"])
    return requests.delete(f"{sb.amplitude['api']}{DELETIONS}/{amplitude_id}/{day}", auth=auth, timeout=30)


def _move_to(sb: SandboxProcess, day: str) -> None:
    sb.admin("PUT", "clock", json={"now": f"{day}T12:00:00Z"})


def _amplitude_ids(sb: SandboxProcess, *user_ids: str) -> list[int]:
    return [api_get(sb, "/api/2/usersearch", user=u).json()["matches"][0]["amplitude_id"] for u in user_ids]


def test_create_maps_user_ids_and_lists_the_staging_job(amp: SandboxProcess) -> None:
    first, second = _amplitude_ids(amp, "person-0", "person-1")
    created = _create(amp, amplitude_ids=[first], user_ids=["person-1"], include_mapped_user_ids=True)
    assert created.status_code == 200, created.text
    body = created.json()
    assert (body["day"], body["status"], body["invalid_ids"]) == ("2030-01-17", "staging", [])
    assert body["app"] == amp.admin("GET", "amplitude/config")["project_id"]
    assert body["amplitude_ids"] == [
        {
            "amplitude_id": first,
            "requester": "dpo@example.com",
            "requested_on_day": "2030-01-10",
            "user_id": "person-0",
        },
        {
            "amplitude_id": second,
            "requester": "dpo@example.com",
            "requested_on_day": "2030-01-10",
            "user_id": "person-1",
        },
    ]
    plain = _create(amp, user_ids=["person-2"]).json()["amplitude_ids"]
    assert "user_id" not in plain[0]
    [job] = _list(amp)
    assert job["day"] == "2030-01-17" and job["status"] == "staging" and job["active_scrub_done_date"] is None
    assert [e["amplitude_id"] for e in job["amplitude_ids"]] == sorted([first, second, plain[0]["amplitude_id"]])
    assert all(set(e) == {"amplitude_id", "requester", "requested_on_day"} for e in job["amplitude_ids"])
    assert _list(amp, start="2030-01-18", end="2030-02-01") == []


def test_lifecycle_staging_submitted_done_and_removal(amp: SandboxProcess) -> None:
    first, second = _amplitude_ids(amp, "person-0", "person-1")
    assert _create(amp, amplitude_ids=[first, second]).status_code == 200
    assert _remove(amp, 999, "2030-01-17").status_code == 404
    removed = _remove(amp, first, "2030-01-17")
    assert removed.status_code == 200 and removed.json()["amplitude_id"] == first
    assert [e["amplitude_id"] for e in _list(amp)[0]["amplitude_ids"]] == [second]
    _move_to(amp, "2030-01-13")  # still staging the day before the lock
    assert _list(amp)[0]["status"] == "staging"
    _move_to(amp, "2030-01-14")  # 3 days before the job day: edits lock
    assert _list(amp)[0]["status"] == "submitted"
    assert _remove(amp, second, "2030-01-17").status_code == 400
    _move_to(amp, "2030-01-21")
    assert _list(amp)[0]["status"] == "submitted"
    _move_to(amp, "2030-01-22")
    [job] = _list(amp)
    assert (job["status"], job["active_scrub_done_date"]) == ("done", "2030-01-22")
    assert [e["amplitude_id"] for e in job["amplitude_ids"]] == [second]


def test_invalid_ids(amp: SandboxProcess) -> None:
    [known] = _amplitude_ids(amp, "person-0")
    refused = _create(amp, amplitude_ids=[known, 12345], user_ids=["nobody"])
    assert refused.status_code == 400 and "12345" in refused.text
    assert _list(amp) == []
    ignored = _create(amp, amplitude_ids=[known, 12345], user_ids=["nobody"], ignore_invalid_id=True).json()
    assert ignored["invalid_ids"] == [12345, "nobody"]
    assert [e["amplitude_id"] for e in ignored["amplitude_ids"]] == [known]
    assert _create(amp).status_code == 400
    assert _create(amp, amplitude_ids=["x"]).status_code == 400


def test_at_most_100_ids_per_request(amp: SandboxProcess) -> None:
    [known] = _amplitude_ids(amp, "person-0")
    too_many = _create(amp, amplitude_ids=[known] + list(range(1, 51)), user_ids=[f"u{n}" for n in range(50)])
    assert too_many.status_code == 400 and "100" in too_many.text
    exactly = _create(amp, amplitude_ids=list(range(1, 100)) + [known], ignore_invalid_id=True)
    assert exactly.status_code == 200 and len(exactly.json()["invalid_ids"]) == 99


def test_list_range_rules(amp: SandboxProcess) -> None:
    assert api_get(amp, DELETIONS, start_day="2030-01-01").status_code == 400
    assert api_get(amp, DELETIONS, start_day="2030-02-01", end_day="2030-01-01").status_code == 400
    assert api_get(amp, DELETIONS, start_day="2030-01-01", end_day="2030-07-10").status_code == 400
    assert api_get(amp, DELETIONS, start_day="20300101", end_day="2030-01-02").status_code == 400
    assert _list(amp, start="2030-01-01", end="2030-07-03") == []
    assert api_get(amp, DELETIONS, auth=None, start_day="2030-01-01", end_day="2030-01-02").status_code == 403


def test_at_most_8_running_jobs(amp: SandboxProcess) -> None:
    [known] = _amplitude_ids(amp, "person-0")
    for day in range(10, 18):  # one new job per request day; none done before 2030-01-22
        _move_to(amp, f"2030-01-{day}")
        assert _create(amp, amplitude_ids=[known]).status_code == 200
    assert _create(amp, amplitude_ids=[known]).status_code == 200  # joins today's job: not a new one
    _move_to(amp, "2030-01-18")
    assert _create(amp, amplitude_ids=[known]).status_code == 429
    _move_to(amp, "2030-01-22")  # the first job (due 01-17) is done
    assert _create(amp, amplitude_ids=[known]).status_code == 200
    assert len(_list(amp)) == 9


def test_one_request_per_second(amp: SandboxProcess) -> None:
    amp.configure("amplitude", rate_limit_scale=1)
    assert api_get(amp, DELETIONS, start_day="2030-01-01", end_day="2030-01-02").status_code == 200
    limited = _create(amp, user_ids=["person-0"])
    assert limited.status_code == 429 and limited.json()["error"]["type"] == "rate_limited"
    assert api_get(amp, DELETIONS, region="eu", start_day="2030-01-01", end_day="2030-01-02").status_code == 200
    amp.admin("PUT", "clock", json={"now": "2030-01-10T12:00:02Z"})
    assert _create(amp, user_ids=["person-0"]).status_code == 200


def test_eu_project_is_separate(amp: SandboxProcess) -> None:
    assert _create(amp, user_ids=["person-eu"]).status_code == 400
    eu = _create(amp, region="eu", user_ids=["person-eu"])
    assert eu.status_code == 200 and eu.json()["app"] == amp.admin("GET", "amplitude/config")["project_id_eu"]
    assert _list(amp) == []
    assert len(_list(amp, region="eu")) == 1
