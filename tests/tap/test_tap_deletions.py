"""The `deletions` stream: deletion jobs of the User Privacy API v1, read from the sandbox over HTTP (job days in
chunks the API accepts, paced to its 1 request/s, re-read over a look-back as their status moves on)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from tap_amplitude.client import AmplitudeError
from tap_amplitude.privacy import Pacer, day_chunks, days_to_read, deletion_records, utc_day

from tap.support import (
    DAY,
    STRICT_WARNINGS,
    at,
    base_config,
    ingest,
    make_events,
    request_deletion,
    run_tap,
    set_clock,
)

pytestmark = STRICT_WARNINGS

PROJECT_ID, PROJECT_ID_EU = 374182, 374183
DELETIONS = "/api/2/deletions/users"


def deletions_bookmark(state: dict | None) -> str | None:
    return ((state or {}).get("bookmarks", {}).get("deletions") or {}).get("replication_key_value")


def privacy_calls(sandbox, service: str = "amplitude_api") -> list[dict]:
    recent = sandbox.requests_log(service, limit=1000)["recent"]
    return [call for call in recent if call["method"] == "GET" and call["route"] == DELETIONS]


def by_user(records: list[dict], answers: list[dict]) -> dict[str, dict]:
    """Records keyed by the user id each deletion request named."""
    user_of = {e["amplitude_id"]: user for answer in answers for user, e in answer["users"].items()}
    return {user_of[r["amplitude_id"]]: r for r in records}


def ask(sandbox, user_ids: list[str], *, when, region: str = "us") -> dict:
    """A deletion request at sandbox time `when`; its answer with the entries keyed by user id (in order)."""
    set_clock(sandbox, when)  # a later sandbox time also frees the 1 request/s window
    answer = request_deletion(sandbox, user_ids, region=region)
    answer["users"] = dict(zip(user_ids, answer["amplitude_ids"], strict=True))
    return answer


# -- against the sandbox ------------------------------------------------------------------------------------------


def test_jobs_are_read_then_read_again_with_their_new_status(sandbox, tap_dir):
    ingest(sandbox, make_events(3, at(0.5), users=3), when=at(0.5))
    early = ask(sandbox, ["user-0000", "user-0001"], when=at(36))  # 2024-03-03: the job of 2024-03-10
    late = ask(sandbox, ["user-0002"], when=at(84))  # 2024-03-05: the job of 2024-03-12
    assert (early["day"], late["day"]) == ("2024-03-10", "2024-03-12")

    set_clock(sandbox, at(85))
    first = run_tap(tap_dir(), base_config(sandbox), streams=("deletions",))
    assert first.returncode == 0, first.stderr
    records = by_user(first.records("deletions"), [early, late])
    assert records["user-0000"] == {
        "amplitude_id": early["users"]["user-0000"]["amplitude_id"],
        "requester": "privacy-desk",
        "requested_on_day": "2024-03-03",
        "day": "2024-03-10",
        "status": "staging",
        "app": PROJECT_ID,
        "active_scrub_done_date": None,
    }
    assert {user: (r["day"], r["status"]) for user, r in records.items()} == {
        "user-0000": ("2024-03-10", "staging"),
        "user-0001": ("2024-03-10", "staging"),
        "user-0002": ("2024-03-12", "staging"),
    }
    assert records["user-0002"]["requested_on_day"] == "2024-03-05"
    assert deletions_bookmark(first.state) == "2024-03-12"
    assert "days 2024-03-02..2024-04-05" in first.stderr, "start_date up to today (sandbox clock) + 31 days"

    set_clock(sandbox, at(24 * 14 + 12))  # 2024-03-16: the first job is done, the second submitted
    second = run_tap(tap_dir(), base_config(sandbox), streams=("deletions",), state=first.state)
    assert second.returncode == 0, second.stderr
    again = by_user(second.records("deletions"), [early, late])
    assert {user: (r["status"], r["active_scrub_done_date"]) for user, r in again.items()} == {
        "user-0000": ("done", "2024-03-15"),
        "user-0001": ("done", "2024-03-15"),
        "user-0002": ("submitted", None),
    }
    assert deletions_bookmark(second.state) == "2024-03-12"

    short = base_config(sandbox, deletions_lookback_days=1)
    third = run_tap(tap_dir(), short, streams=("deletions",), state=second.state)
    assert third.returncode == 0, third.stderr
    assert [r["amplitude_id"] for r in third.records("deletions")] == [late["users"]["user-0002"]["amplitude_id"]]
    assert "days 2024-03-11..2024-04-16" in third.stderr
    assert deletions_bookmark(third.state) == "2024-03-12"


def test_a_long_span_is_read_in_paced_chunks_the_api_accepts(sandbox, tap_dir):
    ingest(sandbox, make_events(3, DAY - timedelta(days=400), users=3), when=DAY - timedelta(days=400))
    answers = [
        ask(sandbox, ["user-0000"], when=DAY - timedelta(days=399)),
        ask(sandbox, ["user-0001"], when=DAY - timedelta(days=200)),
        ask(sandbox, ["user-0002"], when=DAY - timedelta(days=10)),
    ]
    set_clock(sandbox, at(12))
    config = base_config(sandbox, start_date=(DAY - timedelta(days=400)).isoformat())
    run = run_tap(tap_dir(), config, streams=("deletions",))
    assert run.returncode == 0, run.stderr

    records = by_user(run.records("deletions"), answers)
    assert {user: (r["day"], r["status"]) for user, r in records.items()} == {
        "user-0000": ("2023-02-04", "done"),
        "user-0001": ("2023-08-22", "done"),
        "user-0002": ("2024-02-28", "submitted"),
    }
    assert deletions_bookmark(run.state) == "2024-02-28"
    calls = privacy_calls(sandbox)
    assert len(calls) == 3, "400 + 31 + 1 days in chunks of 180"
    assert [c["status"] for c in calls] == [200, 200, 200], "no range refused (400), no rate limit hit (429)"
    gaps = [b["started"] - a["started"] for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= 1.0, gaps


def test_a_rate_limited_answer_waits_out_the_second(sandbox, tap_dir):
    set_clock(sandbox, at(12))
    sandbox.fault(
        action="status",
        service="amplitude_api",
        path=DELETIONS,
        status=429,
        count=1,
        body={"error": {"http_code": 429, "type": "rate_limited", "metadata": {"details": "1 request per second"}}},
    )
    run = run_tap(tap_dir(), base_config(sandbox), streams=("deletions",))  # retry_backoff_seconds=0.01
    assert run.returncode == 0, run.stderr
    calls = privacy_calls(sandbox)
    assert [c["status"] for c in calls] == [429, 200]
    assert calls[1]["started"] - calls[0]["started"] >= 1.0
    assert run.records("deletions") == []


def test_eu_project(sandbox, tap_dir):
    ingest(sandbox, make_events(1, at(0.5), prefix="eu"), region="eu", when=at(0.5))
    answer = ask(sandbox, ["user-0000"], when=at(1), region="eu")
    set_clock(sandbox, at(12))
    config = base_config(sandbox, data_center="EU", api_url=sandbox.amplitude["api_eu"])
    run = run_tap(tap_dir(), config, streams=("deletions",))
    assert run.returncode == 0, run.stderr
    [record] = run.records("deletions")
    assert (record["amplitude_id"], record["day"], record["app"]) == (
        answer["users"]["user-0000"]["amplitude_id"],
        "2024-03-09",
        PROJECT_ID_EU,
    )
    assert len(privacy_calls(sandbox, "amplitude_api_eu")) == 1 and privacy_calls(sandbox) == []


def test_keys_without_privacy_access_fail_in_one_line(sandbox, tap_dir):
    set_clock(sandbox, at(12))
    sandbox.fault(
        action="status",
        service="amplitude_api",
        path=DELETIONS,
        status=403,
        count=1,
        body={"error": {"http_code": 403, "type": "forbidden", "metadata": {"details": "Permission denied"}}},
    )
    config = base_config(sandbox)
    run = run_tap(tap_dir(), config, streams=("deletions",))
    assert run.returncode == 1
    [line] = [line for line in run.stderr.splitlines() if "User Privacy API" in line]
    assert "HTTP 403: Permission denied" in line and "deselect the deletions stream" in line
    assert "Traceback" not in run.stderr
    for secret in (config["api_key"], config["secret_key"]):
        assert secret not in run.stderr and secret not in run.stdout


def test_wrong_keys_fail_at_the_credentials_check(sandbox, tap_dir):
    set_clock(sandbox, at(12))
    run = run_tap(tap_dir(), base_config(sandbox, secret_key="wrong-secret-value-123"), streams=("deletions",))
    assert run.returncode == 1 and "rejected the secret key" in run.stderr
    assert privacy_calls(sandbox) == [], "stopped before the privacy API"


# -- units ---------------------------------------------------------------------------------------------------------


def test_days_to_read_reread_the_lookback_never_before_start():
    start, today = date(2024, 1, 1), date(2024, 6, 1)
    assert days_to_read(start, None, 40, today) == (start, date(2024, 7, 2))
    assert days_to_read(start, date(2024, 5, 20), 40, today) == (date(2024, 4, 10), date(2024, 7, 2))
    assert days_to_read(start, date(2024, 1, 20), 40, today) == (start, date(2024, 7, 2))
    assert days_to_read(start, date(2024, 5, 20), 0, today)[0] == date(2024, 5, 20)


def test_day_chunks_cover_the_span_in_at_most_180_days():
    first, last = date(2023, 1, 1), date(2024, 3, 1)
    chunks = day_chunks(first, last)
    assert chunks[0][0] == first and chunks[-1][1] == last
    assert all((end - start).days + 1 <= 180 for start, end in chunks)
    assert all(b[0] == a[1] + timedelta(days=1) for a, b in itertools.pairwise(chunks))
    assert [(end - start).days + 1 for start, end in chunks] == [180, 180, 66]
    assert day_chunks(first, first) == [(first, first)]
    assert day_chunks(last, first) == []


def test_pacer_spaces_calls_from_the_previous_answer():
    now, slept = [100.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(1.0, clock=lambda: now[0], sleep=sleep)
    pacer.wait()
    now[0] += 0.3
    pacer.answered()
    pacer.wait()
    assert slept == [pytest.approx(1.0)]
    now[0] += 0.5
    pacer.answered()
    now[0] += 2.0
    pacer.wait()
    assert len(slept) == 1, "a second already passed: no wait"


def test_start_date_day_is_taken_in_utc():
    assert utc_day("2024-03-02T23:30:00-02:00") == date(2024, 3, 3)
    assert utc_day("2024-03-02T00:00:00") == date(2024, 3, 2)


def test_records_flatten_a_job_and_skip_entries_without_an_id():
    job = {
        "day": "2024-03-10",
        "status": "done",
        "amplitude_ids": [{"amplitude_id": 7, "requester": None, "requested_on_day": "2024-03-03"}],
        "app": "374182",
        "active_scrub_done_date": "2024-03-15",
    }
    skipped: list[str] = []
    assert list(deletion_records(job, skipped.append)) == [
        {
            "amplitude_id": 7,
            "requester": None,
            "requested_on_day": "2024-03-03",
            "day": "2024-03-10",
            "status": "done",
            "app": "374182",
            "active_scrub_done_date": "2024-03-15",
        }
    ]
    assert list(deletion_records({**job, "amplitude_ids": []}, skipped.append)) == []
    bad = [{"requester": "x"}, {"amplitude_id": "7a"}, *job["amplitude_ids"]]
    assert [r["amplitude_id"] for r in deletion_records({**job, "amplitude_ids": bad}, skipped.append)] == [7]
    assert len(skipped) == 2 and all("numeric amplitude_id" in reason for reason in skipped)
    with pytest.raises(AmplitudeError, match="has no day"):
        list(deletion_records({**job, "day": None}, skipped.append))
