"""tap-amplitude cohorts and cohort member snapshots against the sandbox over HTTP."""

from __future__ import annotations

import requests

from tap.support import STRICT_WARNINGS, at, base_config, ingest, make_events, run_tap, set_clock

pytestmark = STRICT_WARNINGS


PROJECT_ID = 374182


def seed_users(sandbox, n: int) -> None:
    events = make_events(n, at(0.5), users=n, event_type="signup")
    for i, event in enumerate(events):
        event["user_properties"] = {
            "email": f"u{i}@example.com",
            "plan": "pro" if i % 2 else "free",
            "tags": ["a", "b"],
        }
    ingest(sandbox, events, when=at(0.5))


def upload_cohort(sandbox, name: str, user_ids: list[str]) -> str:
    response = requests.post(
        f"{sandbox.amplitude['api']}/api/3/cohorts/upload",
        json={
            "name": name,
            "app_id": PROJECT_ID,
            "id_type": "BY_USER_ID",
            "ids": user_ids,
            "owner": "qa@example.com",
            "published": True,
        },
        auth=(sandbox.amplitude["api_key"], sandbox.amplitude["secret_key"]),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["cohortId"]


def counts(sandbox) -> dict[str, int]:
    log = sandbox.requests_log("amplitude_api")["counts"]
    return log.get("amplitude_api", log)


def snapshots(run) -> dict[str, list[dict]]:
    by_cohort: dict[str, list[dict]] = {}
    for record in run.records("cohort_members"):
        by_cohort.setdefault(record["cohort_id"], []).append(record)
    return by_cohort


def test_snapshot_is_complete_and_self_describing_after_polling(sandbox, tap_dir):
    seed_users(sandbox, 5)
    set_clock(sandbox, at(1))
    sandbox.configure("amplitude", cohort_request_seconds=0.4)
    buyers = upload_cohort(sandbox, "Buyers", [f"user-{i:04d}" for i in range(4)])
    empty = upload_cohort(sandbox, "Nobody", ["not-a-known-user"])
    config = base_config(sandbox, cohort_properties=["email", "tags"])
    run = run_tap(tap_dir(), config, streams=("cohorts", "cohort_members"))
    assert run.returncode == 0, run.stderr

    cohorts = {c["id"]: c for c in run.records("cohorts")}
    assert cohorts[buyers]["name"] == "Buyers" and cohorts[buyers]["size"] == 4
    assert cohorts[buyers]["last_computed"].endswith("+00:00")

    members = snapshots(run)[buyers]
    assert [m["position"] for m in members] == [1, 2, 3, 4, 5]
    *people, end = members
    assert end["snapshot_end"] is True and end["amplitude_id"] is None and end["snapshot_size"] == 4
    assert {m["snapshot_id"] for m in members} == {end["snapshot_id"]} and {m["snapshot_size"] for m in members} == {4}
    assert not any(m["snapshot_end"] for m in people)
    assert sorted(m["user_id"] for m in people) == [f"user-{i:04d}" for i in range(4)]
    assert all(isinstance(m["amplitude_id"], int) for m in people)
    assert {m["properties"]["email"] for m in people} == {f"u{i}@example.com" for i in range(4)}
    assert all(m["properties"]["tags"] == ["a", "b"] and "plan" not in m["properties"] for m in people)

    (closing,) = snapshots(run)[empty]
    assert closing["snapshot_end"] is True and closing["snapshot_size"] == 0 and closing["position"] == 1

    log = counts(sandbox)
    assert log["GET /api/5/cohorts/request/{cohort_id}"] == 2
    assert log["GET /api/5/cohorts/request-status/{request_id}"] > 2  # polled while the job ran
    assert "completed after" in run.stderr


def test_large_cohort_follows_the_redirect_and_renews_an_expired_link(sandbox, tap_dir):
    seed_users(sandbox, 6)
    set_clock(sandbox, at(1))
    sandbox.configure("amplitude", cohort_request_seconds=0, cohort_redirect_rows=2, cohort_url_ttl_seconds=2)
    cohort = upload_cohort(sandbox, "Everyone", [f"user-{i:04d}" for i in range(6)])
    # The first pre-signed link is used only after it has expired.
    sandbox.fault(action="latency", service="amplitude_api", path="/_s3/*", latency_ms=3200, count=1)
    run = run_tap(tap_dir(), base_config(sandbox, cohort_ids=["Everyone"]), streams=("cohort_members",))
    assert run.returncode == 0, run.stderr
    members = snapshots(run)[cohort]
    assert len(members) == 7 and members[-1]["snapshot_end"] and members[-1]["snapshot_size"] == 6
    assert "has expired (HTTP 403); asking for a new one" in run.stderr
    assert "X-Amz-Signature" not in run.stderr  # pre-signed links are logged without their query
    log = counts(sandbox)
    assert log["GET /api/5/cohorts/request/{request_id}/file"] == 2
    assert sum(v for k, v in log.items() if k.startswith("GET /_s3/")) == 2


def test_poll_timeout_fails_without_a_closing_record(sandbox, tap_dir):
    seed_users(sandbox, 2)
    set_clock(sandbox, at(1))
    sandbox.configure("amplitude", cohort_request_seconds=60)
    upload_cohort(sandbox, "Slow", ["user-0000"])
    run = run_tap(tap_dir(), base_config(sandbox, cohort_poll_timeout=0.5), streams=("cohort_members",))
    assert run.returncode != 0
    assert "was not ready after 0.5 s" in run.stderr and "cohort_poll_timeout" in run.stderr
    assert run.records("cohort_members") == []


def test_unknown_cohort_name_is_a_clear_error(sandbox, tap_dir):
    set_clock(sandbox, at(1))
    run = run_tap(tap_dir(), base_config(sandbox, cohort_ids=["No such cohort"]), streams=("cohort_members",))
    assert run.returncode != 0 and "no cohort has the id or name 'No such cohort'" in run.stderr


def test_event_types_stream(sandbox, tap_dir):
    ingest(sandbox, make_events(2, at(0.5), event_type="Add to Cart"), when=at(0.5))
    set_clock(sandbox, at(1))
    run = run_tap(tap_dir(), base_config(sandbox), streams=("event_types",))
    assert run.returncode == 0, run.stderr
    assert "Add to Cart" in {r["value"] for r in run.records("event_types")}
