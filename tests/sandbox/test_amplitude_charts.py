"""Saved charts over HTTP: results computed from the stored events, /query and /csv, the cost budget, the seeder's charts."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import requests
from sandbox.amplitude.cost_budget import CostBudget
from sandbox.process import SandboxProcess
from test_amplitude_support import api_get, ingest, sandbox_now

from sandbox import clock

DAYS = {"start": "2024-03-01", "end": "2024-03-03"}
START = "2024-03-01T00:00:00+00:00"


def ms(day: int, hour: float) -> int:
    """Milliseconds of 2024-03-0`day` at `hour` UTC."""
    return int((datetime(2024, 3, day, tzinfo=UTC) + timedelta(hours=hour)).timestamp() * 1000)


def event(user: str, event_type: str, day: int, hour: float, **extra: Any) -> dict[str, Any]:
    return {"user_id": user, "device_id": f"device-{user}", "event_type": event_type, "time": ms(day, hour), **extra}


def define(sb: SandboxProcess, chart_id: str, kind: str, **params: Any) -> dict[str, Any]:
    return sb.admin(
        "POST", "amplitude/charts", json={"id": chart_id, "type": kind, "params": {"range": DAYS, **params}}
    )


def chart(sb: SandboxProcess, chart_id: str, endpoint: str = "query", region: str = "us", **kwargs: Any):
    return api_get(sb, f"/api/3/chart/{chart_id}/{endpoint}", region=region, **kwargs)


def values(data: dict[str, Any]) -> list[list[Any]]:
    return [[point["value"] for point in series] for series in data["series"]]


def collapsed(data: dict[str, Any]) -> list[Any]:
    return [series[0]["value"] for series in data["seriesCollapsed"]]


def test_segmentation_uniques_totals_group_by_and_segment(sandbox: SandboxProcess) -> None:
    events = [
        event("alice-01", "Page View", 1, 9, country="France", event_properties={"page": "/"}),
        event("alice-01", "Page View", 1, 10, country="France", event_properties={"page": "/"}),
        event("bob-0002", "Page View", 1, 11, country="Germany", event_properties={"page": "/docs"}),
        event("alice-01", "Page View", 2, 9, country="France", event_properties={"page": "/docs"}),
        event("carol-03", "$identify", 3, 9, user_properties={"$set": {"plan": "pro"}}),
        event("dave-004", "Page View", 4, 9, country="France"),  # after the range
    ]
    assert ingest(sandbox, events).status_code == 200
    define(sandbox, "views", "segmentation", events=["Page View"])
    define(sandbox, "views-by-country", "segmentation", events=["Page View"], metric="totals",
           group_by=[{"type": "user", "value": "country"}])  # fmt: skip
    define(sandbox, "active", "segmentation", events=["_active"])
    define(sandbox, "french-views", "segmentation", events=["Page View"],
           segment=[{"prop": "country", "op": "is", "values": ["France"]}])  # fmt: skip
    define(sandbox, "views-by-page", "segmentation", events=["Page View"], metric="totals",
           group_by=[{"type": "event", "value": "page"}])  # fmt: skip

    views = chart(sandbox, "views").json()["data"]
    assert views["xValues"] == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert values(views) == [[2, 1, 0]] and collapsed(views) == [2] and views["seriesLabels"] == [0]
    assert views["series"][0][0] == {"setId": "", "value": 2}
    by_country = chart(sandbox, "views-by-country").json()["data"]
    assert by_country["seriesLabels"] == [[0, "France"], [0, "Germany"]]
    assert values(by_country) == [[2, 1, 0], [1, 0, 0]] and collapsed(by_country) == [3, 1]
    assert values(chart(sandbox, "active").json()["data"]) == [[2, 1, 0]]  # $identify is not an active event
    assert values(chart(sandbox, "french-views").json()["data"]) == [[1, 1, 0]]
    by_page = chart(sandbox, "views-by-page").json()["data"]
    assert by_page["seriesLabels"] == [[0, "/"], [0, "/docs"]] and values(by_page) == [[2, 0, 0], [1, 1, 0]]
    costs = {c["id"]: c["cost"] for c in sandbox.admin("GET", "amplitude/charts")["charts"]}
    # days x conditions (the segment, plus its conditions) x (events + 4 per group-by)
    assert costs == {"views": 3, "views-by-country": 15, "active": 3, "french-views": 6, "views-by-page": 15}


def test_funnel_counts_users_who_complete_the_steps_in_order_within_the_window(sandbox: SandboxProcess) -> None:
    events = [
        event("user-001", "Sign Up", 1, 10), event("user-001", "Purchase", 1, 12),  # converts on day 1
        event("user-002", "Sign Up", 1, 11), event("user-002", "Purchase", 3, 12),  # too late for 1 day
        event("user-003", "Purchase", 2, 9), event("user-003", "Sign Up", 2, 10),  # wrong order
        event("user-004", "Sign Up", 2, 8), event("user-004", "Purchase", 2, 20),  # converts on day 2
    ]  # fmt: skip
    assert ingest(sandbox, events).status_code == 200
    define(sandbox, "signup-to-purchase", "funnel", events=["Sign Up", "Purchase"])
    define(sandbox, "slow-funnel", "funnel", events=["Sign Up", "Purchase"], conversion_window_days=3)
    data = chart(sandbox, "signup-to-purchase").json()["data"]
    assert data["seriesLabels"] == ["Sign Up", "Purchase"]
    assert values(data) == [[2, 2, 0], [1, 1, 0]] and collapsed(data) == [4, 2]
    assert data["cumulative"] == [1.0, 0.5] and data["stepByStep"] == [1.0, 0.5]
    assert values(chart(sandbox, "slow-funnel").json()["data"]) == [[2, 2, 0], [2, 1, 0]]


def test_retention_counts_returns_on_day_n_and_leaves_future_days_null(sandbox: SandboxProcess) -> None:
    events = [
        event("ret-0001", "Sign Up", 1, 9), event("ret-0001", "Page View", 2, 9),
        event("ret-0002", "Sign Up", 1, 10), event("ret-0002", "Feature Click", 3, 9),
        event("ret-0003", "Sign Up", 3, 9), event("ret-0003", "Page View", 4, 9),
        event("ret-0003", "Sign Up", 3, 10),  # only the first start event counts
    ]  # fmt: skip
    assert ingest(sandbox, events).status_code == 200
    define(sandbox, "retention", "retention", start_event="Sign Up", retention_days=2)
    sandbox.admin("PUT", "clock", json={"now": "2024-03-04T12:00:00+00:00"})
    data = chart(sandbox, "retention").json()["data"]
    assert data["seriesLabels"] == ["Day 0", "Day 1", "Day 2"]
    assert values(data) == [[2, 0, 1], [1, 0, 1], [1, 0, None]]  # 03-03 + 2 days is after today
    assert collapsed(data) == [3, 2, 1]


def test_sessions_per_day_and_average_length(sandbox: SandboxProcess) -> None:
    session = ms(1, 10)
    events = [
        event("sess-001", "Page View", 1, 10, session_id=session),
        event("sess-001", "Purchase", 1, 10 + 5 / 60, session_id=session),  # 300 s
        event("sess-002", "Page View", 1, 11, session_id=ms(1, 11)),  # 0 s
        event("sess-002", "Page View", 2, 8),  # no session
        event("sess-001", "Page View", 2, 9, session_id=ms(2, 9)),
        event("sess-001", "Page View", 2, 9 + 1 / 60, session_id=ms(2, 9)),  # 60 s
    ]
    assert ingest(sandbox, events).status_code == 200
    define(sandbox, "sessions", "sessions")
    data = chart(sandbox, "sessions").json()["data"]
    assert data["seriesLabels"] == ["Sessions", "Average session length (s)"]
    assert values(data) == [[2, 1, 0], [150.0, 60.0, None]] and collapsed(data) == [3, 120.0]


def test_csv_is_the_same_result_as_text(sandbox: SandboxProcess) -> None:
    events = [
        event("alice-01", "Page View", 1, 9, country="France"),
        event("bob-0002", "Page View", 2, 9, country="Germany"),
    ]
    assert ingest(sandbox, events).status_code == 200
    sandbox.admin(
        "POST",
        "amplitude/charts",
        json={"id": "by-country", "name": "Views, by country", "type": "segmentation",
              "params": {"events": ["Page View"], "group_by": [{"type": "user", "value": "country"}], "range": DAYS}},
    )  # fmt: skip
    response = chart(sandbox, "by-country", "csv")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    text = response.json()["data"]
    assert text.startswith('"Views, by country"\r\n"Uniques of Page View (2024-03-01 to 2024-03-03, UTC)"\r\n\r\n')
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[3] == ["Segment", "\t2024-03-01", "\t2024-03-02", "\t2024-03-03"]
    assert rows[4:] == [["\tFrance", "1", "0", "0"], ["\tGermany", "0", "1", "0"]]


def test_query_can_be_retired_unknown_charts_and_bad_keys(sandbox: SandboxProcess) -> None:
    define(sandbox, "sessions", "sessions")
    assert chart(sandbox, "sessions").status_code == 200
    assert chart(sandbox, "nope").status_code == 404
    assert chart(sandbox, "nope", "csv").json()["error"]["metadata"]["details"] == "Chart nope not found"
    assert chart(sandbox, "sessions", auth=("bad", "keys")).status_code == 403
    assert chart(sandbox, "sessions", "csv", auth=None).status_code == 403
    assert chart(sandbox, "sessions", region="eu").status_code == 404  # charts belong to a project
    sandbox.configure("amplitude", chart_query_removed=1)
    gone = chart(sandbox, "sessions")
    assert (gone.status_code, gone.text) == (404, "Not Found")  # as an unknown path
    assert chart(sandbox, "sessions", "csv").status_code == 200


def test_cost_budget_per_5_minutes_answers_429_until_the_window_moves(sandbox: SandboxProcess) -> None:
    sandbox.configure("amplitude", rate_limit_scale=0.01)  # 1,000 per 5 minutes -> 10; 108,000 per hour -> 1,080
    define(sandbox, "views", "segmentation", events=["Page View"])  # costs 3
    define(sandbox, "by-country", "segmentation", events=["Page View"], group_by=[{"type": "user", "value": "c"}])
    statuses = [chart(sandbox, "views", endpoint).status_code for endpoint in ("query", "csv", "query", "csv")]
    assert statuses == [200, 200, 200, 429]
    refused = chart(sandbox, "views").json()["error"]
    assert refused["type"] == "rate_limited" and "Retry-After" not in chart(sandbox, "views").headers
    assert refused["metadata"]["details"].startswith("Exceeded the cost budget of 10 per 5 minutes: 9 used")
    too_big = chart(sandbox, "by-country").json()["error"]["metadata"]["details"]
    assert too_big == "This query costs 15, more than the cost budget of 10 per 5 minutes"
    sandbox.admin("PUT", "clock", json={"now": (sandbox_now(sandbox) + timedelta(minutes=5, seconds=1)).isoformat()})
    assert chart(sandbox, "views").status_code == 200


def test_cost_budget_windows_slide_on_the_sandbox_clock() -> None:
    """Amplitude's figures never let the hourly budget bind first (12 windows of 1,000 < 108,000), so its
    sliding window is checked with smaller figures."""
    budget = CostBudget(lambda: 1.0, windows=((10, 300.0, "5 minutes"), (25, 3600.0, "hour")))
    try:
        for minutes in (0, 6, 12):
            clock.set_offset(minutes * 60)
            assert budget.charge(8) is None
        clock.set_offset(18 * 60)
        assert budget.charge(8) == (
            "Exceeded the cost budget of 25 per hour: 24 used, this query costs 8 (cost = days x conditions x query type cost)"
        )
        assert budget.charge(1) is None
        clock.set_offset(3600 + 1)  # the first query has left the hour
        assert budget.charge(8) is None
        assert budget.charge(30) == "This query costs 30, more than the cost budget of 10 per 5 minutes"
    finally:
        clock.set_offset(0)


def test_five_concurrent_requests_per_project(sandbox: SandboxProcess) -> None:
    define(sandbox, "sessions", "sessions")
    sandbox.configure("amplitude", rate_limit_scale=0.2, api_delay_ms=1500)  # 5 concurrent -> 1
    slow: dict[str, int] = {}
    worker = threading.Thread(target=lambda: slow.update(status=chart(sandbox, "sessions").status_code))
    worker.start()
    try:
        time.sleep(0.5)
        blocked = chart(sandbox, "sessions", "csv")
        assert blocked.status_code == 429 and "concurrent" in blocked.json()["error"]["metadata"]["details"]
    finally:
        worker.join()
    assert slow["status"] == 200


def test_admin_saves_lists_replaces_and_deletes_charts(sandbox: SandboxProcess) -> None:
    url = sandbox.admin_url + "/amplitude/charts"
    bad = [
        {"type": "pie"},
        {"type": "segmentation", "params": {}},
        {"type": "segmentation", "params": {"events": ["A"], "metric": "median"}},
        {"type": "funnel", "params": {"events": ["A"]}},
        {"type": "retention", "params": {"retention_days": 7}},
        {"type": "sessions", "params": {"events": ["A"]}},
        {"type": "sessions", "params": {"range": {"start": "2024-03-05", "end": "2024-03-01"}}},
        {"type": "sessions", "params": {"range": {"last_days": 0}}},
        {"type": "sessions", "params": {"segment": [{"prop": "country", "op": "contains", "values": ["Fr"]}]}},
        {"type": "sessions", "region": "mars"},
        {"id": "no spaces", "type": "sessions"},
    ]
    for body in bad:
        response = requests.post(url, json=body, timeout=10)
        assert response.status_code == 400 and response.json()["error"], body
    created = requests.post(url, json={"type": "sessions", "params": {"range": {"last_days": 7}}}, timeout=10)
    assert created.status_code == 201
    generated = created.json()
    assert generated["id"].startswith("e-") and generated["name"] == generated["id"] and generated["cost"] == 28
    replaced = requests.post(url, json={"id": generated["id"], "name": "Weekly", "type": "sessions"}, timeout=10)
    assert replaced.status_code == 200 and replaced.json()["params"]["range"] == {"last_days": 30}
    requests.post(url, json={"id": "eu-chart", "type": "sessions", "region": "eu"}, timeout=10).raise_for_status()
    assert [c["name"] for c in sandbox.admin("GET", "amplitude/charts")["charts"]] == ["Weekly"]
    assert [c["id"] for c in sandbox.admin("GET", "amplitude/charts", region="eu")["charts"]] == ["eu-chart"]
    assert chart(sandbox, "eu-chart", region="eu").status_code == 200
    assert requests.delete(f"{url}/{generated['id']}", timeout=10).status_code == 204
    assert requests.delete(f"{url}/{generated['id']}", timeout=10).status_code == 404
    assert sandbox.admin("GET", "amplitude/charts")["charts"] == []


def test_seeded_charts_answer_from_the_seeded_events_alike_in_every_mode(sandbox: SandboxProcess) -> None:
    summary = sandbox.seed("amplitude", seed=11, users=20, events=300, days=2, start=START)
    assert summary["events"] == 300
    ids = ["seed-active-users", "seed-signups-by-country", "seed-purchase-funnel", "seed-retention", "seed-sessions"]
    assert summary["charts"] == ids
    listed = {c["id"]: c for c in sandbox.admin("GET", "amplitude/charts")["charts"]}
    assert set(listed) == set(ids)
    assert all(c["params"]["range"] == {"start": "2024-03-01", "end": "2024-03-02"} for c in listed.values())
    results = {chart_id: chart(sandbox, chart_id).json()["data"] for chart_id in ids}
    assert collapsed(results["seed-active-users"]) == [20]
    assert sum(collapsed(results["seed-signups-by-country"])) == 20  # every user signs up once, in the span
    assert collapsed(results["seed-retention"])[0] == 20
    funnel = collapsed(results["seed-purchase-funnel"])
    assert funnel[0] >= funnel[1] >= funnel[2] > 0
    sandbox.seed("amplitude", seed=11, users=20, events=300, days=2, start=START, region="eu", mode="bulk")
    assert {chart_id: chart(sandbox, chart_id, region="eu").json()["data"] for chart_id in ids} == results


def test_seed_charts_follow_the_apps_names(sandbox: SandboxProcess) -> None:
    names = {"event_types": {"Sign Up": "Account Created", "Purchase": "Order Completed"}}
    sandbox.seed("amplitude", seed=5, users=10, events=100, days=1, start=START, mode="bulk", names=names)
    listed = {c["id"]: c["params"] for c in sandbox.admin("GET", "amplitude/charts")["charts"]}
    assert listed["seed-purchase-funnel"]["events"] == ["Page View", "Add to Cart", "Order Completed"]
    assert listed["seed-retention"]["start_event"] == "Account Created"
    signups = chart(sandbox, "seed-signups-by-country").json()["data"]
    assert sum(collapsed(signups)) == 10


def test_cli_seed_over_http_saves_the_charts(sandbox: SandboxProcess, tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    ready.write_bytes(orjson.dumps(sandbox.info))
    args = [sys.executable, "-m", "sandbox", "seed", "--ready-file", str(ready), "--users", "10", "--events", "80",
            "--days", "1", "--start", START]  # fmt: skip
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    assert orjson.loads(result.stdout)["charts"][0] == "seed-active-users"
    assert collapsed(chart(sandbox, "seed-active-users").json()["data"]) == [10]
