"""Brevo emulator: GET /smtp/statistics/events over the simulated transactional emails (spec, filters, paging)."""

from __future__ import annotations

import collections
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from brevo_spec import SpecCheckedSession, assert_request_valid
from sandbox.brevo import ratelimit
from sandbox.process import SandboxProcess

PARIS = ZoneInfo("Europe/Paris")
STATISTICS_NAMES = {
    "request": "requests",
    "delivered": "delivered",
    "hard_bounce": "hardBounces",
    "soft_bounce": "softBounces",
    "spam": "spam",
    "opened": "opened",
    "click": "clicks",
    "invalid_email": "invalid",
    "deferred": "deferred",
    "blocked": "blocked",
    "unsubscribed": "unsubscribed",
    "error": "error",
    "proxy_open": "loadedByProxy",
}
RATES = {
    "delivered": 0.9,
    "opened": 0.6,
    "click": 0.3,
    "unsubscribed": 0.05,
    "hard_bounce": 0.05,
    "soft_bounce": 0.05,
    "blocked": 0.02,
    "invalid_email": 0.02,
    "deferred": 0.1,
    "error": 0.01,
    "spam": 0.02,
    "proxy_open": 0.1,
}


@pytest.fixture
def api(sandbox: SandboxProcess) -> SpecCheckedSession:
    return SpecCheckedSession(sandbox.brevo)


def simulate(sb: SandboxProcess, **body: Any) -> dict[str, Any]:
    response = sb.http.post(f"{sb.admin_url}/brevo/simulate/transactional", json=body, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()


def report(api: SpecCheckedSession, **params: Any) -> list[dict[str, Any]]:
    assert_request_valid("GET", "/v3/smtp/statistics/events", query=params)
    response = api.get("/smtp/statistics/events", params=params)
    assert response.status_code == 200, response.text
    return response.json()["events"]


def epoch_ms(date: str) -> int:
    moment = datetime.fromisoformat(date)
    assert moment.utcoffset() is not None, "dates carry their offset"
    return round(moment.timestamp() * 1000)


def pulled_key(event: dict[str, Any]) -> tuple[str, str, int]:
    return event["messageId"], event["event"], epoch_ms(event["date"])


def pushed_key(event: dict[str, Any]) -> tuple[str, str, int]:
    return event["message-id"], STATISTICS_NAMES[event["event"]], event["ts_epoch"]


def test_the_report_holds_exactly_the_simulated_transactional_events(
    sandbox: SandboxProcess, api: SpecCheckedSession
) -> None:
    sandbox.seed("brevo", lists=["Cohort"], contacts=10, contact_list_ids=[1])
    campaign = sandbox.http.post(f"{sandbox.admin_url}/brevo/simulate/campaign", json={"list_id": 1}, timeout=30)
    assert campaign.status_code == 201, "marketing events are not transactional ones"
    sent = simulate(
        sandbox,
        emails=[f"user{i}@example.com" for i in range(200)],
        rates=RATES,
        seed=11,
        template_id=7,
        tags=["welcome"],
        subject="Welcome",
        sender="hello@shop.example",
    )
    expected = [e for e in sent["events"] if e["event"] in STATISTICS_NAMES]
    assert len(expected) < len(sent["events"]), "unique opens are webhook-only"
    events = report(api)
    assert sorted(map(pulled_key, events)) == sorted(map(pushed_key, expected))
    assert {e["event"] for e in events} >= {"requests", "delivered", "opened", "clicks", "hardBounces", "deferred"}
    for event in events:
        assert event["from"] == "hello@shop.example" and event["subject"] == "Welcome"
        assert event["tag"] == "welcome" and event["templateId"] == 7
        assert datetime.fromisoformat(event["date"]).utcoffset() in (timedelta(hours=1), timedelta(hours=2))
        assert ("ip" in event) == (event["event"] in ("opened", "clicks", "loadedByProxy"))
        assert ("link" in event) == (event["event"] == "clicks")
        if event["event"] in ("hardBounces", "softBounces", "deferred", "blocked"):
            assert event["reason"]
    times = [epoch_ms(e["date"]) for e in events]
    assert times == sorted(times, reverse=True), "newest first by default"
    ascending = [epoch_ms(e["date"]) for e in report(api, sort="asc")]
    assert ascending == sorted(times)


def test_filters(sandbox: SandboxProcess, api: SpecCheckedSession) -> None:
    first = simulate(
        sandbox,
        emails=["a@example.com", "b@example.com"],
        rates=RATES | {"hard_bounce": 0.5},
        seed=3,
        template_id=1,
        tags=["one", "shared"],
    )
    second = simulate(
        sandbox,
        emails=["a@example.com", "c@example.com"],
        rates={"opened": 1, "click": 1},
        seed=4,
        template_id=2,
        tags=["two", "shared"],
    )
    everything = report(api)
    assert len(everything) == sum(1 for s in (first, second) for e in s["events"] if e["event"] in STATISTICS_NAMES)

    by_email = report(api, email="A@Example.com")
    assert by_email and {e["email"] for e in by_email} == {"a@example.com"}
    assert len(by_email) == sum(1 for e in everything if e["email"] == "a@example.com")

    clicks = report(api, event="clicks")
    assert clicks and {e["event"] for e in clicks} == {"clicks"}
    bounces = report(api, event="bounces")
    assert {e["event"] for e in bounces} <= {"hardBounces", "softBounces"}
    assert len(bounces) == sum(1 for e in everything if e["event"] in ("hardBounces", "softBounces"))

    message_id = second["messages"][0]["messageId"]
    one_message = report(api, messageId=message_id)
    assert one_message and {e["messageId"] for e in one_message} == {message_id}

    assert {e["templateId"] for e in report(api, templateId=2)} == {2}
    assert len(report(api, templateId=2)) + len(report(api, templateId=1)) == len(everything)
    assert report(api, templateId=3) == []

    assert {e["tag"] for e in report(api, tags='["two"]')} == {"two"}
    assert len(report(api, tags='["one","two"]')) == len(everything)
    assert len(report(api, tags="shared")) == len(everything)
    assert report(api, tags='["none"]') == []


def test_limit_offset_and_the_default_page(sandbox: SandboxProcess, api: SpecCheckedSession) -> None:
    simulate(sandbox, emails=[f"u{i}@example.com" for i in range(1300)], seed=1)  # a request and a delivery each
    assert len(report(api)) == 2500, "2,500 events by default"
    assert len(report(api, limit=5000)) == 2600
    everything = report(api, limit=5000, sort="asc")
    pages = [report(api, limit=1000, offset=offset, sort="asc") for offset in (0, 1000, 2000)]
    assert [len(p) for p in pages] == [1000, 1000, 600]
    assert [e for page in pages for e in page] == everything
    assert report(api, offset=2600) == []
    too_many = api.get("/smtp/statistics/events", params={"limit": 5001})
    assert too_many.status_code == 400 and too_many.json()["code"] == "out_of_range"


def test_dates(sandbox: SandboxProcess, api: SpecCheckedSession) -> None:
    simulate(sandbox, emails=["a@example.com"], seed=1, spread_seconds=60)
    today = datetime.now(PARIS).date()
    assert len(report(api, startDate=str(today), endDate=str(today))) == 2
    assert report(api, startDate=str(today - timedelta(days=5)), endDate=str(today - timedelta(days=1))) == []
    assert len(report(api, days=1)) == 2

    offset = sandbox.admin("GET", "clock")["offset_seconds"]
    sandbox.admin("PUT", "clock", json={"offset_seconds": offset + 40 * 86400})
    assert report(api) == [], "the last 30 days by default"
    assert len(report(api, days=41)) == 2
    later = today + timedelta(days=40)
    assert len(report(api, startDate=str(later - timedelta(days=90)), endDate=str(later))) == 2

    for params, code in [
        ({"startDate": str(today)}, "missing_parameter"),
        ({"endDate": str(today)}, "missing_parameter"),
        ({"startDate": str(today), "endDate": str(today - timedelta(days=1))}, "invalid_parameter"),
        ({"startDate": str(today - timedelta(days=91)), "endDate": str(today)}, "out_of_range"),
        ({"startDate": "30/11/2026", "endDate": str(today)}, "invalid_parameter"),
        ({"startDate": str(today), "endDate": str(today), "days": 3}, "invalid_parameter"),
        ({"days": 0}, "invalid_parameter"),
        ({"days": 91}, "out_of_range"),
        ({"event": "opens"}, "invalid_parameter"),
        ({"sort": "up"}, "invalid_parameter"),
    ]:
        response = api.get("/smtp/statistics/events", params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["code"] == code, (params, response.json())


def test_every_smtp_endpoint_shares_the_300_per_hour_bucket(sandbox: SandboxProcess, api: SpecCheckedSession) -> None:
    assert ratelimit.scope_of("GET", "/smtp/statistics/events") == ratelimit.scope_of("DELETE", "/smtp/log/x") == "smtp"
    first = api.get("/smtp/statistics/events")
    assert (first.headers["x-sib-ratelimit-limit"], first.headers["x-sib-ratelimit-remaining"]) == ("300", "299")
    assert 0 < int(first.headers["x-sib-ratelimit-reset"]) <= 3600
    api.delete("/smtp/log/a@example.com")
    third = api.get("/smtp/statistics/events")
    assert third.headers["x-sib-ratelimit-remaining"] == "297"
    assert api.get("/webhooks").headers["x-sib-ratelimit-limit"] == "100", "webhooks are in the other bucket"
    statuses = collections.Counter(api.get("/smtp/statistics/events").status_code for _ in range(298))
    assert statuses == {200: 297, 429: 1}
    refused = api.get("/smtp/statistics/events")
    assert refused.status_code == 429 and refused.json() == {
        "code": "too_many_requests",
        "message": "Too many requests",
    }


def test_a_simulated_message_id_can_be_named_for_log_deletion(sandbox: SandboxProcess, api: SpecCheckedSession) -> None:
    sent = simulate(sandbox, emails=["a@example.com"], seed=1)
    message_id = sent["messages"][0]["messageId"]
    assert api.delete("/smtp/log/" + quote(message_id, safe="")).status_code == 204
    unknown = api.delete("/smtp/log/" + quote("<202611301200.1@smtp-relay.mailin.fr>", safe=""))
    assert unknown.status_code == 404 and unknown.json()["message"] == "Message ID not found"
    logged = sandbox.admin("GET", "brevo/smtp-log-deletions")["deletions"]
    assert [(d["identifier"], d["kind"], d["status"]) for d in logged] == [
        (message_id, "message_id", 204),
        ("<202611301200.1@smtp-relay.mailin.fr>", "message_id", 404),
    ]
