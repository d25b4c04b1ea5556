"""tap-amplitude chart results (chart_results, chart_series) against the sandbox over HTTP, and the parsing of both
response shapes."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tap_amplitude.charts import csv_number, label_text, point_value, series_points

from tap.support import STRICT_WARNINGS, TapRun, base_config, ingest, run_tap, set_clock

pytestmark = STRICT_WARNINGS

RANGE = {"start": "2024-03-01", "end": "2024-03-02"}
NOW = datetime(2024, 3, 5, 9, tzinfo=UTC)
STREAMS = ("chart_results", "chart_series")
QUERY_ROUTE, CSV_ROUTE = "GET /api/3/chart/{chart_id}/query", "GET /api/3/chart/{chart_id}/csv"


def event(user: str, event_type: str, day: int, hour: int, country: str) -> dict[str, Any]:
    moment = datetime(2024, 3, day, hour, tzinfo=UTC)
    return {"user_id": user, "device_id": f"device-{user}", "event_type": event_type,
            "time": int(moment.timestamp() * 1000), "country": country}  # fmt: skip


def seed_charts(sandbox) -> None:
    """Three users over two days, a segmentation by country (costs 2 x 1 x 5 = 10) and a funnel (2 x 1 x 4 = 8)."""
    ingest(
        sandbox,
        [
            event("alice-01", "Page View", 1, 9, "France"),
            event("alice-01", "Purchase", 1, 10, "France"),
            event("bob-0002", "Page View", 1, 11, "Germany"),
            event("carol-03", "Page View", 2, 9, "France"),
        ],
        when=NOW,
    )
    define(sandbox, "views-by-country", "segmentation", events=["Page View"],
           group_by=[{"type": "user", "value": "country"}])  # fmt: skip
    define(sandbox, "view-to-purchase", "funnel", events=["Page View", "Purchase"])


def define(sandbox, chart_id: str, kind: str, **params: Any) -> None:
    sandbox.admin("POST", "amplitude/charts", json={"id": chart_id, "type": kind, "params": {"range": RANGE, **params}})


def config(sandbox, **overrides: Any) -> dict[str, Any]:
    return base_config(sandbox, chart_ids=["views-by-country", "view-to-purchase"], **overrides)


def statuses(sandbox, route: str) -> dict[str, int]:
    return sandbox.requests_log("amplitude_api")["statuses"].get("amplitude_api", {}).get(route, {})


def points(run: TapRun) -> dict[tuple[str, int, str], tuple[str | None, float | None]]:
    return {(r["chart_id"], r["series_index"], r["x_value"]): (r["series_label"], r["value"])
            for r in run.records("chart_series")}  # fmt: skip


EXPECTED_POINTS = {
    ("views-by-country", 0, "2024-03-01"): ("France", 1),
    ("views-by-country", 0, "2024-03-02"): ("France", 1),
    ("views-by-country", 1, "2024-03-01"): ("Germany", 1),
    ("views-by-country", 1, "2024-03-02"): ("Germany", 0),
    ("view-to-purchase", 0, "2024-03-01"): ("Page View", 2),
    ("view-to-purchase", 0, "2024-03-02"): ("Page View", 1),
    ("view-to-purchase", 1, "2024-03-01"): ("Purchase", 1),
    ("view-to-purchase", 1, "2024-03-02"): ("Purchase", 0),
}


def test_raw_results_and_flattened_series_from_query(sandbox, tap_dir):
    seed_charts(sandbox)
    run = run_tap(tap_dir(), config(sandbox), streams=STREAMS)
    assert run.returncode == 0, run.stderr
    results = {r["chart_id"]: r for r in run.records("chart_results")}
    assert set(results) == {"views-by-country", "view-to-purchase"}
    by_country = results["views-by-country"]
    assert by_country["endpoint"] == "query" and by_country["fetched_day"] == "2024-03-05"
    assert by_country["fetched_at"].startswith("2024-03-05T09:")
    assert by_country["raw"]["data"]["seriesLabels"] == [[0, "France"], [0, "Germany"]]
    assert results["view-to-purchase"]["raw"]["data"]["cumulative"] == [1.0, 0.3333]
    assert points(run) == EXPECTED_POINTS
    rows = run.records("chart_series")
    assert len(rows) == len(EXPECTED_POINTS)  # the primary key is unique
    totals = {(r["chart_id"], r["series_index"]): r["series_total"] for r in rows}
    assert totals == {("views-by-country", 0): 2, ("views-by-country", 1): 1,
                      ("view-to-purchase", 0): 3, ("view-to-purchase", 1): 1}  # fmt: skip
    assert all(r["endpoint"] == "query" and r["fetched_day"] == "2024-03-05" for r in rows)
    assert statuses(sandbox, QUERY_ROUTE) == {"200": 2} and statuses(sandbox, CSV_ROUTE) == {}


def test_falls_back_to_csv_once_query_is_gone(sandbox, tap_dir):
    seed_charts(sandbox)
    sandbox.configure("amplitude", chart_query_removed=1)
    run = run_tap(tap_dir(), config(sandbox), streams=STREAMS)
    assert run.returncode == 0, run.stderr
    assert {r["endpoint"] for r in run.records("chart_results")} == {"csv"}
    assert all(isinstance(r["raw"]["data"], str) for r in run.records("chart_results"))
    assert points(run) == EXPECTED_POINTS  # the same rows whichever endpoint answered
    assert {r["series_total"] for r in run.records("chart_series")} == {None}
    assert statuses(sandbox, QUERY_ROUTE) == {"404": 1}  # once gone, the next chart goes straight to /csv
    assert statuses(sandbox, CSV_ROUTE) == {"200": 2}
    assert "/query is gone" in run.stderr


def test_a_cost_budget_429_is_waited_out(sandbox, tap_dir):
    seed_charts(sandbox)
    sandbox.configure("amplitude", rate_limit_scale=0.015)  # 1,000 per 5 minutes -> 15: the second chart waits
    patient = config(sandbox, chart_retry_wait_seconds=0.2, chart_max_wait_seconds=120)
    done: dict[str, TapRun] = {}
    worker = threading.Thread(target=lambda: done.update(run=run_tap(tap_dir(), patient, streams=STREAMS)))
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while "429" not in statuses(sandbox, QUERY_ROUTE):
            assert time.monotonic() < deadline, "the tap never met the cost budget"
            time.sleep(0.1)
        time.sleep(0.5)  # a retry or two still refused
        set_clock(sandbox, NOW + timedelta(minutes=6))  # the first query leaves the 5-minute window
    finally:
        worker.join(timeout=120)
    run = done["run"]
    assert run.returncode == 0, run.stderr
    assert points(run) == EXPECTED_POINTS
    seen = statuses(sandbox, QUERY_ROUTE)
    assert seen["200"] == 2 and seen["429"] >= 2
    assert "HTTP 429 (Exceeded the cost budget of 15 per 5 minutes" in run.stderr
    assert "2 charts; " in run.stderr and " HTTP 429 (cost budget or concurrency)" in run.stderr


def test_a_query_over_the_budget_fails_after_chart_max_wait_seconds(sandbox, tap_dir):
    seed_charts(sandbox)
    sandbox.configure("amplitude", rate_limit_scale=0.005)  # 5 per 5 minutes: the first chart costs 10
    started = time.monotonic()
    run = run_tap(tap_dir(), config(sandbox, chart_retry_wait_seconds=0.2, chart_max_wait_seconds=1), streams=STREAMS)
    assert run.returncode != 0 and time.monotonic() - started < 60
    assert "chart views-by-country /query: still over the Dashboard API's limits" in run.stderr
    assert "raise chart_max_wait_seconds" in run.stderr
    assert run.records("chart_results") == []


def test_an_unknown_chart_fails_naming_it(sandbox, tap_dir):
    run = run_tap(tap_dir(), base_config(sandbox, chart_ids=["nope-123"]), streams=STREAMS)
    assert run.returncode != 0
    assert "chart nope-123: neither /query (HTTP 404: Chart nope-123 not found) nor /csv" in run.stderr
    assert "check chart_ids" in run.stderr


def test_without_chart_ids_nothing_is_fetched(sandbox, tap_dir):
    seed_charts(sandbox)
    run = run_tap(tap_dir(), base_config(sandbox), streams=STREAMS)
    assert run.returncode == 0, run.stderr
    assert run.records("chart_results") == run.records("chart_series") == []
    assert statuses(sandbox, QUERY_ROUTE) == statuses(sandbox, CSV_ROUTE) == {}


def test_series_alone_still_fetch_each_chart_once(sandbox, tap_dir):
    seed_charts(sandbox)
    run = run_tap(tap_dir(), config(sandbox), streams=("chart_series",))
    assert run.returncode == 0, run.stderr
    assert run.records("chart_results") == [] and points(run) == EXPECTED_POINTS
    assert statuses(sandbox, QUERY_ROUTE) == {"200": 2}


# -- parsing both shapes (no sandbox) --------------------------------------------------------------------------

AMPLITUDE_LIKE_CSV = (
    '"Weekly signups"\r\n" Uniques"\r\n\r\n'
    '"Segment","\t2024-03-01","\t2024-03-02"\r\n'
    '"\tFrance","1,234","12.5"\r\n'
    '"\tGermany","",""\r\n'
    "\r\n"
)


def test_csv_rows_after_the_segment_header():
    found = [(p.series_index, p.series_label, p.x_index, p.x_value, p.value) for p in
             series_points({"data": AMPLITUDE_LIKE_CSV})]  # fmt: skip
    assert found == [
        (0, "France", 0, "2024-03-01", 1234),
        (0, "France", 1, "2024-03-02", 12.5),
        (1, "Germany", 0, "2024-03-01", None),
        (1, "Germany", 1, "2024-03-02", None),
    ]
    assert list(series_points({"data": '"A table"\r\n"a","b"\r\n'})) == []  # no Segment header: raw only


def test_query_points_numbers_or_objects_and_labels_of_every_form():
    raw = {
        "data": {
            "series": [[3, 4], [{"setId": "", "value": 5}, {"value": None}]],
            "seriesLabels": [0, [1, "France; iOS"]],
            "seriesCollapsed": [[{"setId": "", "value": 7}], [{"setId": "", "value": 5}]],
            "xValues": ["2024-03-01", "2024-03-02"],
        }
    }
    found = [(p.series_index, p.series_label, p.x_value, p.value, p.series_total) for p in series_points(raw)]
    assert found == [
        (0, "0", "2024-03-01", 3, 7),
        (0, "0", "2024-03-02", 4, 7),
        (1, "France; iOS", "2024-03-01", 5, 5),
        (1, "France; iOS", "2024-03-02", None, 5),
    ]
    assert list(series_points({"data": {"labels": [], "values": []}})) == []
    assert label_text(["a", "b"]) == "a; b" and label_text("Day 1") == "Day 1" and label_text(None) is None
    assert point_value(True) is None and point_value("3") is None and point_value(2.5) == 2.5
    assert csv_number("40%") == 40 and csv_number("n/a") is None and csv_number(" 7 ") == 7
