"""target-amplitude against the sandbox over HTTP: read back through the Export API by insert_id."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from amplitude_target_support import by_insert_id, email_event, exported, ingest_statuses, messages, run_target

EVENTS = ["opened", "click", "unsubscribed", "hard_bounce", "unique_opened", "delivered", "request", "spam"]


def set_clock(sandbox: Any, moment: datetime) -> None:
    sandbox.admin("PUT", "clock", json={"now": moment.isoformat()})


def start_of_a_bucket(sandbox: Any) -> datetime:
    """Move the sandbox clock to the start of a 30-second throttle bucket (a test then has 30 s in it)."""
    now = datetime.fromisoformat(sandbox.admin("GET", "clock")["now"]).astimezone(UTC)
    moment = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    set_clock(sandbox, moment)
    return moment


def post_events(sandbox: Any, events: list[dict[str, Any]], path: str = "/2/httpapi") -> requests.Response:
    body = {"api_key": sandbox.amplitude["api_key"], "events": events}
    return requests.post(sandbox.amplitude["ingest"] + path, json=body, timeout=30)


def test_every_event_arrives_once_and_a_rerun_sends_nothing(amplitude, config) -> None:
    records = [email_event(n, EVENTS[n % len(EVENTS)]) for n in range(80)]
    records[5] = email_event(5, "opened", ext_id="ext-user-0005")
    records[6] = email_event(6, "opened", email=None) | {"email": None}  # nobody: rejected
    cfg = config()
    run = run_target(cfg, messages(records))
    assert run.error is None
    sent = [r for r in records if r["event"] not in ("unique_opened",) and r["email"] is not None or r.get("ext_id")]
    assert run.summary["sent"] == len(sent) == 69
    assert run.summary["skipped"] == 10 and run.summary["rejected"] == 1
    assert run.states[-1] == {"bookmarks": {"email_events": {"n": 80, "done": True}}}

    found = by_insert_id(exported(amplitude))
    assert set(found) == {f"brevo-{r['event_id']}" for r in sent}
    assert all(len(events) == 1 for events in found.values())
    opened = found[f"brevo-{records[5]['event_id']}"][0]
    assert opened["user_id"] == "ext-user-0005" and opened["event_type"] == "Email Opened"
    assert opened["event_properties"]["campaign_name"] == "November news"
    unsubscribed = found[f"brevo-{records[2]['event_id']}"][0]
    assert unsubscribed["event_type"] == "Email Unsubscribed" and unsubscribed["user_id"] == records[2]["email"]
    assert unsubscribed["user_properties"]["email_unsubscribed"] is True
    assert unsubscribed["event_time"].startswith("2026-11-30 09:00:02")
    assert run.rejects[0]["reason"].startswith("no user id") and run.rejects[0]["key"] == records[6]["event_id"]

    requests_before = sum(ingest_statuses(amplitude).values())
    again = run_target(cfg, messages(records))
    assert again.error is None
    assert again.summary["sent"] == 0 and again.summary["duplicates_skipped"] == 69 and again.summary["requests"] == 0
    assert sum(ingest_statuses(amplitude).values()) == requests_before
    assert again.states[-1] == run.states[-1]
    assert sum(len(v) for v in by_insert_id(exported(amplitude)).values()) == 69


def test_min_id_length_is_passed_and_a_short_id_goes_through(amplitude, config) -> None:
    run = run_target(config(min_id_length=3), messages([email_event(1, ext_id="abc")]))
    assert run.error is None and run.summary["sent"] == 1
    assert [e["user_id"] for e in exported(amplitude)] == ["abc"]


def test_http_v2_throttle_holds_the_users_events_and_sends_the_others(amplitude, config) -> None:
    amplitude.configure("amplitude", rate_limit_scale=0.01)  # HTTP V2: 30 eps -> 1 per user, 30 per 30-second bucket
    moment = start_of_a_bucket(amplitude)
    busy = [{"user_id": "busy@example.com", "event_type": "App Used", "insert_id": f"app-{n}"} for n in range(20)]
    assert post_events(amplitude, busy).status_code == 200
    records = [email_event(n, "opened", email="busy@example.com") for n in range(15)]
    records += [email_event(100 + n, "opened", email=f"calm{n}@example.com") for n in range(5)]

    def next_bucket_after_the_429() -> None:
        deadline = time.monotonic() + 20
        while ingest_statuses(amplitude).get("429", 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        set_clock(amplitude, moment + timedelta(seconds=31))

    mover = threading.Thread(target=next_bucket_after_the_429)
    mover.start()
    run = run_target(config(throttle_wait_seconds=0.5), messages(records))
    mover.join()
    assert run.error is None
    assert run.summary["sent"] == 20 and run.summary["throttled"] >= 15
    assert ingest_statuses(amplitude)["429"] >= 1
    found = by_insert_id(exported(amplitude))
    assert all(len(found[f"brevo-{r['event_id']}"]) == 1 for r in records)


def test_batch_daily_quota_rejects_that_users_events(amplitude, config) -> None:
    amplitude.configure("amplitude", rate_limit_scale=0.0001)  # Batch: 500,000 a day -> 50 per user or device
    moment = start_of_a_bucket(amplitude)
    for hours in (3, 2):  # 50 events of one user earlier today, in other throttle buckets
        set_clock(amplitude, moment - timedelta(hours=hours))
        earlier = [
            {"user_id": "spammer@example.com", "event_type": "Spam", "insert_id": f"s{hours}-{n}"} for n in range(25)
        ]
        assert post_events(amplitude, earlier, "/batch").status_code == 200
    set_clock(amplitude, moment)
    records = [email_event(n, "opened", email="spammer@example.com") for n in range(3)]
    records += [email_event(100 + n, "opened", email=f"calm{n}@example.com") for n in range(3)]
    run = run_target(config(use_batch=True), messages(records))
    assert run.error is None
    assert run.summary["sent"] == 3 and run.summary["rejected"] == 3
    assert {r["reason"] for r in run.rejects} == {"exceeded Amplitude's daily quota for this user or device (429)"}
    assert {r["key"] for r in run.rejects} == {r["event_id"] for r in records[:3]}
    assert run.summary["endpoint"].endswith("/batch")


def test_413_shrinks_the_request(amplitude, config) -> None:
    amplitude.fault(action="status", service="amplitude_ingest", path="/2/httpapi", status=413,
                    body={"code": 413, "error": "Payload too large"}, count=1)  # fmt: skip
    records = [email_event(n, "opened") for n in range(40)]
    run = run_target(config(max_events_per_request=40), messages(records))
    assert run.error is None
    assert run.summary["sent"] == 40 and run.summary["shrunk_on_413"] == 1
    assert ingest_statuses(amplitude) == {"413": 1, "200": 2}
    assert len(by_insert_id(exported(amplitude))) == 40


def test_a_real_413_from_the_sandbox_past_2000_events_is_avoided(amplitude, config) -> None:
    records = [email_event(n, "opened", email=f"p{n % 100}@example.com") for n in range(2100)]
    run = run_target(config(max_events_per_request=1999), messages(records, states=False))
    assert run.error is None and run.summary["sent"] == 2100 and run.summary["requests"] == 2


def test_400_resends_all_but_the_invalid_events(amplitude, config) -> None:
    records = [email_event(n, "opened") for n in range(10)]
    records[4] = email_event(4, "opened", ext_id="x" * 1100)  # Amplitude takes strings of 1,024 characters at most
    run = run_target(config(), messages(records))
    assert run.error is None
    assert run.summary["sent"] == 9 and run.summary["rejected"] == 1
    assert ingest_statuses(amplitude) == {"400": 1, "200": 1}
    (reject,) = run.rejects
    assert reject["key"] == records[4]["event_id"] and reject["insert_id"] == f"brevo-{records[4]['event_id']}"
    assert reject["reason"] == "refused by Amplitude (400 Invalid field values on some events): invalid field user_id"
    assert f"brevo-{records[4]['event_id']}" not in by_insert_id(exported(amplitude))


def test_5xx_are_retried_with_the_same_insert_ids(amplitude, config) -> None:
    for status in (500, 503, 504):
        amplitude.fault(action="status", service="amplitude_ingest", path="/2/httpapi", status=status, count=1)
    records = [email_event(n, "click") for n in range(12)]
    run = run_target(config(), messages(records))
    assert run.error is None
    assert run.summary["sent"] == 12 and run.summary["retries"] == 3 and run.summary["requests"] == 4
    assert ingest_statuses(amplitude) == {"500": 1, "503": 1, "504": 1, "200": 1}
    assert all(len(v) == 1 for v in by_insert_id(exported(amplitude)).values())


def test_retries_spent_stop_the_run_without_state_or_ledger(amplitude, config) -> None:
    amplitude.fault(action="status", service="amplitude_ingest", path="/2/httpapi", status=502, count=10)
    cfg = config(max_retries=2)
    run = run_target(cfg, messages([email_event(1)]))
    assert run.error is not None and "still failing after 3 attempts (502" in str(run.error)
    assert run.states == [] and run.summary["completed"] is False
    amplitude.admin("DELETE", "faults")
    retry = run_target(cfg, messages([email_event(1)]))
    assert retry.error is None and retry.summary["sent"] == 1 and retry.summary["duplicates_skipped"] == 0


def test_a_bad_api_key_stops_the_cli_with_a_clear_error(amplitude, config, tmp_path) -> None:
    bad_key = "0123456789abcdef0123456789abcdef"
    cfg = config(api_key=bad_key)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    text = "".join(json.dumps(m) + "\n" for m in messages([email_event(n) for n in range(3)]))
    done = subprocess.run(
        [sys.executable, "-m", "target_amplitude", "--config", str(path)],
        input=text, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Amplitude refused the api_key (400 Invalid API key)" in done.stderr
    assert bad_key not in done.stderr and bad_key not in done.stdout and done.stdout.strip() == ""
    assert ingest_statuses(amplitude) == {"400": 1}
    assert exported(amplitude) == []


def test_about_lists_the_settings() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "target_amplitude", "--about", "--format", "json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    about = json.loads(done.stdout)
    properties = about["settings"]["properties"]
    assert about["name"] == "target-amplitude" and about["version"] == "0.1.0"
    assert properties["api_key"].get("writeOnly") is True
    assert {"data_center", "api_url", "use_batch", "min_id_length", "event_mapping", "ledger_path"} <= set(properties)


def test_a_state_is_emitted_once_the_events_before_it_are_in(amplitude, config, caplog) -> None:
    records = [email_event(n, "opened") for n in range(30)]
    caplog.set_level("INFO", logger="target_amplitude.summary")
    run = run_target(config(flush_interval_seconds=0), messages(records))  # a STATE after every 10 records
    assert run.error is None
    assert [s["bookmarks"]["email_events"]["n"] for s in run.states] == [10, 20, 30, 30]
    assert run.summary["requests"] == 3 and ingest_statuses(amplitude) == {"200": 3}
    (line,) = [r.getMessage() for r in caplog.records if r.name == "target_amplitude.summary"]
    summary = json.loads(line.removeprefix("target-amplitude run summary: "))
    assert {k: summary[k] for k in ("sent", "skipped", "rejected", "duplicates_skipped", "requests", "retries", "throttled")} == {
        "sent": 30, "skipped": 0, "rejected": 0, "duplicates_skipped": 0, "requests": 3, "retries": 0, "throttled": 0,
    }  # fmt: skip
    assert amplitude.amplitude["api_key"] not in line


def test_the_ack_file_holds_the_last_state_and_rejects_keep_earlier_runs(amplitude, config, tmp_path) -> None:
    ack = tmp_path / "delivered-state.json"
    nobody = {**email_event(1, "opened"), "email": None}  # no identity: rejected
    first = run_target(config(state_ack_file=str(ack)), messages([nobody]))
    assert first.error is None and first.summary["rejected"] == 1
    assert json.loads(ack.read_text()) == first.states[-1]
    records = [email_event(10 + n, "opened") for n in range(12)]
    second = run_target(config(state_ack_file=str(ack)), messages([*records, nobody]))
    assert second.error is None
    assert json.loads(ack.read_text()) == second.states[-1] == {"bookmarks": {"email_events": {"n": 13, "done": True}}}
    lines = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["run_id"] != lines[1]["run_id"], "the first run's reject is still there"


def test_sigterm_delivers_what_is_held_and_the_run_counts_as_completed(amplitude, config, tmp_path) -> None:
    """A service stopped by its supervisor: what it read is delivered, its last STATE covers it, exit 0."""
    path = tmp_path / "config.json"
    summary_file = tmp_path / "summary.json"
    # a long flush interval: the records are still held when the signal comes
    path.write_text(json.dumps(config(summary_file=str(summary_file), flush_interval_seconds=3600)))
    records = [email_event(n) for n in range(5)]
    process = subprocess.Popen(
        [sys.executable, "-m", "target_amplitude", "--config", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdin is not None
    process.stdin.write("".join(json.dumps(m) + "\n" for m in messages(records)))
    process.stdin.flush()  # the pipe stays open, as a running tap keeps it
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-2000:]
    summary = json.loads(summary_file.read_text())
    assert summary["completed"] is True and summary["stopped_by_signal"] == signal.SIGTERM
    assert json.loads(out.splitlines()[-1]) == {"bookmarks": {"email_events": {"n": 5, "done": True}}}
    assert set(by_insert_id(exported(amplitude))) == {f"brevo-{r['event_id']}" for r in records}
