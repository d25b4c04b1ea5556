"""Brevo emulator: rate limits per scope and plan, x-sib-ratelimit-* headers, 429, speed-up."""

from __future__ import annotations

import time

import pytest
import requests
from brevo_spec import SpecCheckedSession
from sandbox.process import SandboxProcess

HEADERS = ("x-sib-ratelimit-limit", "x-sib-ratelimit-remaining", "x-sib-ratelimit-reset")


@pytest.fixture
def api(sandbox: SandboxProcess) -> SpecCheckedSession:
    return SpecCheckedSession(sandbox.brevo)


def limits(response: requests.Response) -> tuple[int, int, int]:
    return tuple(int(response.headers[h]) for h in HEADERS)  # type: ignore[return-value]


def until_429(call, most: int) -> tuple[int, requests.Response]:  # type: ignore[no-untyped-def]
    for sent in range(1, most + 1):
        response = call()
        if response.status_code == 429:
            return sent, response
    raise AssertionError(f"no 429 after {most} calls")


def test_every_response_carries_the_headers(api: SpecCheckedSession) -> None:
    for response in (
        api.get("/contacts"),
        api.post("/contacts", json={}),
        api.get("/processes/1"),
        api.post("/events", json={"event_name": "x", "identifiers": {"email_id": "a@x.io"}}),
        requests.get(api.base_url + "/no/such/route", headers=api.headers, timeout=10),
    ):
        assert all(h in response.headers for h in HEADERS), response.request.url
        assert "retry-after" not in response.headers


def test_other_bucket_is_100_per_hour_then_429(api: SpecCheckedSession) -> None:
    first = api.get("/processes")
    assert limits(first)[:2] == (100, 99)
    assert 0 < limits(first)[2] <= 3600
    sent, blocked = until_429(lambda: api.get("/processes"), 120)
    assert sent == 100, "the 101st call in the hour is refused"
    assert blocked.json() == {"code": "too_many_requests", "message": "Too many requests"}
    limit, remaining, reset = limits(blocked)
    assert (limit, remaining) == (100, 0) and 1 <= reset <= 3600
    assert api.get("/contacts").status_code == 200, "other scopes keep their own bucket"


def test_contacts_bucket_is_10_per_second(api: SpecCheckedSession) -> None:
    # Start at the beginning of a second so ten calls fit in one window.
    time.sleep(1 - (time.time() % 1) + 0.01)
    sent, blocked = until_429(lambda: api.get("/contacts"), 30)
    assert sent == 11
    assert limits(blocked) == (10, 0, 1)


def test_orders_bucket_is_5_per_second(api: SpecCheckedSession) -> None:
    time.sleep(1 - (time.time() % 1) + 0.01)
    sent, blocked = until_429(lambda: api.post("/orders/status", json={}), 20)
    assert sent == 6 and limits(blocked)[0] == 5


def test_events_batch_shares_the_events_bucket(api: SpecCheckedSession) -> None:
    time.sleep(1 - (time.time() % 1) + 0.01)
    body = {"event_name": "x", "identifiers": {"email_id": "a@x.io"}}
    for _ in range(5):
        assert api.post("/events", json=body).status_code == 204
    response = api.post("/events/batch", json={"events": [body]})
    assert limits(response)[:2] == (10, 4)


def test_plans(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    sandbox.configure("brevo", plan="advanced")
    assert limits(api.get("/processes"))[0] == 200
    assert limits(api.get("/contacts"))[0] == 20
    sandbox.configure("brevo", plan="extended")
    assert limits(api.get("/processes"))[0] == 600
    assert limits(api.get("/contacts"))[0] == 60
    assert limits(api.post("/orders/status", json={}))[0] == 15


def test_window_scale_makes_the_hour_short(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    sandbox.configure("brevo", rate_limit_window_scale=0.01)  # an hour lasts 36 s
    sandbox.admin("PUT", "clock", json={"now": "2030-01-01T00:00:00Z"})  # the start of a window
    sent, blocked = until_429(lambda: api.get("/processes"), 150)
    assert sent == 101
    reset = limits(blocked)[2]
    assert 20 <= reset <= 36
    sandbox.admin("PUT", "clock", json={"now": "2030-01-01T00:00:36Z"})
    assert api.get("/processes").status_code == 200, "the bucket is full again once reset seconds have passed"


def test_moving_the_clock_an_hour_refills_the_bucket(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    for _ in range(3):
        api.get("/processes")
    assert limits(api.get("/processes"))[1] == 96
    sandbox.admin("PUT", "clock", json={"offset_seconds": 3600})
    assert limits(api.get("/processes"))[1] == 99


def test_disabled_limits_never_429(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    sandbox.configure("brevo", rate_limits_enabled=False)
    for _ in range(12):  # the orders bucket allows 5 a second
        response = api.post("/orders/status", json={})
        assert response.status_code == 400
    assert limits(response)[:2] == (5, 5)


def test_unauthorised_calls_do_not_spend_the_bucket(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    for _ in range(5):
        requests.get(sandbox.brevo["api"] + "/processes", timeout=10)
    assert limits(api.get("/processes"))[1] == 99


def test_admin_routes_are_not_rate_limited(api: SpecCheckedSession, sandbox: SandboxProcess) -> None:
    for _ in range(10):
        sandbox.admin("GET", "brevo/stats")
    assert limits(api.get("/processes"))[1] == 99
