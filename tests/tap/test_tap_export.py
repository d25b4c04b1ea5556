"""tap-amplitude against the sandbox's Amplitude emulator over HTTP: the export pass, state, errors."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tap.support import (
    DAY,
    STRICT_WARNINGS,
    at,
    base_config,
    bookmark,
    catalog,
    export_calls,
    ingest,
    make_events,
    run_tap,
    set_clock,
)

pytestmark = STRICT_WARNINGS


def uuids(run, stream="events"):
    return [r["uuid"] for r in run.records(stream)]


def seed_hours(sandbox, counts: dict[int, int], **extra):
    """`counts[h]` events received during hour h of DAY; returns the total."""
    for h, n in counts.items():
        ingest(sandbox, make_events(n, at(h + 0.5), prefix=f"h{h}", **extra), when=at(h + 0.5))
    return sum(counts.values())


def test_one_download_per_window_feeds_events_users_and_revenue(sandbox, tap_dir):
    seed_hours(sandbox, {0: 4, 1: 3})
    ingest(
        sandbox,
        make_events(
            2,
            at(1.7),
            prefix="buy",
            event_type="purchase",
            users=1,
            price=9.5,
            quantity=2,
            productId="sku-1",
            currency="EUR",
        ),
        when=at(1.7),
    )
    set_clock(sandbox, at(10.2))  # newest final hour: 07
    run = run_tap(tap_dir(), base_config(sandbox), streams=("events", "users", "revenue"))
    assert run.returncode == 0, run.stderr
    assert len(run.records("events")) == 9 and len(set(uuids(run))) == 9
    revenue = run.records("revenue")
    assert [(r["revenue"], r["price"], r["quantity"], r["product_id"], r["currency"]) for r in revenue] == [
        (19.0, 9.5, 2, "sku-1", "EUR")
    ] * 2
    assert {r["uuid"] for r in revenue} <= set(uuids(run))
    users = {u["user_id"]: u for u in run.records("users")}
    assert set(users) == {"user-0000", "user-0001", "user-0002"}
    assert users["user-0000"]["event_count"] == 2 + 1 + 2  # hours 0 and 1, plus the purchases
    assert users["user-0000"]["last_active"].startswith("2024-03-02T01:42")
    assert bookmark(run) == at(8).isoformat()
    assert export_calls(sandbox) == 1  # one window (00..07), one download for all three streams

    # Only a derived stream selected: the same single download, no event records.
    sandbox.admin("DELETE", "requests")
    users_only = run_tap(tap_dir(), base_config(sandbox), streams=("users",))
    assert users_only.returncode == 0, users_only.stderr
    assert users_only.records("events") == [] and len(users_only.records("users")) == 3
    assert export_calls(sandbox) == 1


def test_sdk_record_path_matches_the_direct_one_when_fields_are_deselected_or_mapped(sandbox, tap_dir):
    """Records skip the SDK's per-record deselection, conformance and message objects only when nothing would
    change them; with a deselected field or a stream map the SDK's own path runs, with the same result."""
    seed_hours(sandbox, {0: 4, 1: 3}, price=2.5, quantity=2, city="Paris")
    set_clock(sandbox, at(6))
    streams = ("events", "users", "revenue")
    direct = run_tap(tap_dir(), base_config(sandbox), streams=streams)
    assert direct.returncode == 0, direct.stderr
    assert len(direct.records("events")) == 7 and len(direct.records("revenue")) == 7

    def without(records, *fields):
        return [{k: v for k, v in r.items() if k not in fields} for r in records]

    deselected = run_tap(
        tap_dir(),
        base_config(sandbox),
        streams=streams,
        deselected=(("events", "ip_address"), ("users", "city"), ("revenue", "currency")),
    )
    assert deselected.returncode == 0, deselected.stderr
    assert deselected.records("events") == without(direct.records("events"), "ip_address")
    assert deselected.records("users") == without(direct.records("users"), "city")
    assert deselected.records("revenue") == without(direct.records("revenue"), "currency")
    schema = next(m for m in deselected.messages if m["type"] == "SCHEMA" and m["stream"] == "events")["schema"]
    assert "ip_address" not in schema["properties"]

    maps = {"stream_maps": {"events": {"city_upper": "str(city).upper()"}, "revenue": {"__alias__": "orders"}}}
    mapped = run_tap(tap_dir(), base_config(sandbox, **maps), streams=streams)
    assert mapped.returncode == 0, mapped.stderr
    assert [r.pop("city_upper") for r in mapped.records("events")] == ["PARIS"] * 7
    assert mapped.records("events") == direct.records("events")
    assert mapped.records("orders") == direct.records("revenue") and mapped.records("revenue") == []
    assert mapped.states == direct.states


def test_latency_horizon_follows_the_server_clock(sandbox, tap_dir):
    total = seed_hours(sandbox, {h: 2 for h in range(6)})
    set_clock(sandbox, at(5.5))  # sandbox now 05:30 -> newest final hour 02 (latency 2); local clock is far later
    config = base_config(sandbox, export_window_hours=24)
    first = run_tap(tap_dir(), config)
    assert first.returncode == 0, first.stderr
    assert len(first.records("events")) == 6
    assert all(r["server_upload_time"] < at(3).isoformat() for r in first.records("events"))
    assert bookmark(first) == at(3).isoformat()
    assert "from Amplitude server Date header" in first.stderr

    set_clock(sandbox, at(5.99))  # still 05:xx: nothing new is final
    idle = run_tap(tap_dir(), config, state=first.state)
    assert idle.returncode == 0 and idle.records("events") == []

    set_clock(sandbox, at(9.01))  # 09:00 -> newest final hour 06
    second = run_tap(tap_dir(), config, state=first.state)
    assert len(second.records("events")) == total - 6
    assert not set(uuids(first)) & set(uuids(second))
    assert bookmark(second) == at(7).isoformat()

    zero = run_tap(tap_dir(), {**config, "export_latency_hours": 0}, state=second.state)
    assert bookmark(zero) == at(9).isoformat()  # 09:xx with no latency -> newest final hour 08


def test_no_duplicates_across_runs_and_empty_windows_advance(sandbox, tap_dir):
    seed_hours(sandbox, {1: 3, 30: 2})  # hour 30 = next day 06:00
    set_clock(sandbox, at(12))
    config = base_config(sandbox, export_window_hours=4)
    first = run_tap(tap_dir(), config)
    assert len(first.records("events")) == 3 and bookmark(first) == at(10).isoformat()
    again = run_tap(tap_dir(), config, state=first.state)
    assert again.records("events") == [] and bookmark(again) == at(10).isoformat()
    set_clock(sandbox, at(40))
    later = run_tap(tap_dir(), config, state=again.state)
    assert len(later.records("events")) == 2 and bookmark(later) == at(38).isoformat()
    everything = uuids(first) + uuids(later)
    assert len(everything) == len(set(everything)) == 5
    # empty windows are counted in the summary and listed only at debug level (a line each)
    assert re.search(r"Export summary: \d+ windows \([1-9]\d* empty", later.stderr)
    assert "no data (404)" not in later.stderr


def raw_export_bytes(sandbox, hour: str) -> int:
    """Uncompressed NDJSON size of one hour, as the emulator measures exports."""
    import gzip
    import io
    import zipfile

    import requests

    response = requests.get(
        f"{sandbox.amplitude['api']}/api/2/export",
        params={"start": hour, "end": hour},
        auth=(sandbox.amplitude["api_key"], sandbox.amplitude["secret_key"]),
        timeout=30,
    )
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        size = sum(len(gzip.decompress(archive.read(name))) for name in archive.namelist())
    sandbox.admin("DELETE", "requests")
    return size


def test_window_is_halved_on_400_and_504(sandbox, tap_dir):
    total = seed_hours(sandbox, {h: 3 for h in range(8)})
    set_clock(sandbox, at(10))  # newest final hour 07: one window of 8 hours
    hour_bytes = raw_export_bytes(sandbox, "20240302T00")
    # Exports of more than 2 hours are "over 4 GB": 8 -> 4 -> 2 hours.
    sandbox.configure("amplitude", export_max_bytes=int(hour_bytes * 2.5))
    run = run_tap(tap_dir(), base_config(sandbox, export_window_hours=8))
    assert run.returncode == 0, run.stderr
    assert sorted(uuids(run)) == sorted(set(uuids(run))) and len(uuids(run)) == total
    assert "refused (HTTP 400" in run.stderr and bookmark(run) == at(8).isoformat()
    assert export_calls(sandbox) == 1 + 2 + 4  # 8 h refused, two 4 h refused, four 2 h downloads

    # More than one hour "times out" (504): split down to single hours.
    sandbox.configure("amplitude", export_max_bytes=4 * 1024**3, export_timeout_bytes=int(hour_bytes * 1.5))
    timed_out = run_tap(tap_dir(), base_config(sandbox, export_window_hours=8))
    assert timed_out.returncode == 0, timed_out.stderr
    assert len(uuids(timed_out)) == total and "refused (HTTP 504" in timed_out.stderr


def test_a_single_hour_too_large_stops_the_run_naming_the_hour(sandbox, tap_dir):
    seed_hours(sandbox, {0: 2, 1: 50})
    set_clock(sandbox, at(10))
    sandbox.configure("amplitude", export_max_bytes=5000)
    run = run_tap(tap_dir(), base_config(sandbox, export_window_hours=4))
    assert run.returncode != 0
    assert "export of hour 2024-03-02T01:00Z failed with HTTP 400" in run.stderr
    assert "S3 export" in run.stderr
    assert len(run.records("events")) == 2 and bookmark(run) == at(1).isoformat()


def test_corrupt_gzip_fails_loudly_and_resume_finishes_without_duplicates(sandbox, tap_dir):
    total = seed_hours(sandbox, {0: 3, 1: 3, 2: 3, 3: 3})
    set_clock(sandbox, at(9))
    sandbox.admin("POST", "amplitude/corrupt-gzip", json={"hour": "20240302T02", "region": "us", "count": 1})
    config = base_config(sandbox, export_window_hours=24)
    streams = ("events", "users", "revenue")
    broken = run_tap(tap_dir(), config, streams=streams)
    assert broken.returncode != 0
    assert "export of hour 2024-03-02T02:00Z is corrupt" in broken.stderr
    assert len(broken.records("events")) == 6 and bookmark(broken) == at(2).isoformat()
    assert broken.records("users") == []  # the users window was not finished
    assert broken.state["bookmarks"]["events"]["users_window_start"] == at(0).isoformat()

    resumed = run_tap(tap_dir(), config, streams=streams, state=broken.state)
    assert resumed.returncode == 0, resumed.stderr
    everything = uuids(broken) + uuids(resumed)
    assert len(everything) == len(set(everything)) == total
    # users of the interrupted window are rebuilt from all of its hours, events of hours 0-1 are not re-emitted
    assert sum(u["event_count"] for u in resumed.records("users")) == total
    assert "users_window_start" not in resumed.state["bookmarks"]["events"]


@pytest.mark.parametrize("workers", [0, 2])
def test_corrupt_gzip_read_by_export_workers_fails_the_same_way(sandbox, tap_dir, workers):
    total = seed_hours(sandbox, {0: 3, 1: 3, 2: 3, 3: 3})
    set_clock(sandbox, at(9))
    sandbox.admin("POST", "amplitude/corrupt-gzip", json={"hour": "20240302T02", "region": "us", "count": 1})
    config = base_config(sandbox, export_window_hours=24, export_workers=workers)
    broken = run_tap(tap_dir(), config)  # events only: the pass that export workers read
    assert broken.returncode != 0
    assert "export of hour 2024-03-02T02:00Z is corrupt: member 374182/374182_2024-03-02_2#0" in broken.stderr
    assert len(broken.records("events")) == 6 and bookmark(broken) == at(2).isoformat()
    assert "Export workers:" not in broken.stderr  # no summary for a failed pass
    resumed = run_tap(tap_dir(), config, state=broken.state)
    assert resumed.returncode == 0, resumed.stderr
    assert len(set(uuids(broken)) | set(uuids(resumed))) == len(uuids(broken)) + len(uuids(resumed)) == total


def test_export_workers_end_with_the_tap_even_when_it_is_killed(sandbox, tap_dir):
    import json
    import signal
    import subprocess
    import sys

    import psutil

    seed_hours(sandbox, {h: 2000 for h in range(4)})
    set_clock(sandbox, at(9))
    sandbox.configure("amplitude", export_partition_events=100)
    work = tap_dir()
    work.mkdir(parents=True)
    (work / "config.json").write_text(json.dumps(base_config(sandbox, export_window_hours=1, export_workers=2)))
    (work / "catalog.json").write_text(json.dumps(catalog(("events",))))
    command = [sys.executable, "-m", "tap_amplitude", "--config", str(work / "config.json")]
    tap = subprocess.Popen(
        [*command, "--catalog", str(work / "catalog.json")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    while not (line := tap.stdout.readline()).startswith(b'{"type":"RECORD"'):
        assert line, "the tap ended before its first record"
    workers = psutil.Process(tap.pid).children()
    assert len(workers) == 2
    tap.send_signal(signal.SIGKILL)  # no clean-up of any kind: the workers see their stdin close
    tap.wait()
    tap.stdout.close()
    _, alive = psutil.wait_procs(workers, timeout=20)
    assert not alive, [p.cmdline() for p in alive]


@pytest.mark.parametrize("workers", [0, 2])
def test_sigterm_while_the_next_window_downloads_leaves_clean_output_and_a_resumable_state(sandbox, tap_dir, workers):
    """Window 00-01 is read while window 02-03 downloads (slowly, here); SIGTERM then: every line written is whole
    JSON, the last one is the final STATE at the hour boundary, and a resume emits the rest exactly once."""
    import json
    import signal
    import subprocess
    import sys
    import time

    total = seed_hours(sandbox, {h: 300 for h in range(4)})
    set_clock(sandbox, at(9))
    sandbox.fault(action="latency", service="amplitude_api", path="/api/2/export", latency_ms=0, count=1)
    sandbox.fault(action="latency", service="amplitude_api", path="/api/2/export", latency_ms=5000, count=1)
    config = base_config(sandbox, export_window_hours=2, export_workers=workers)
    work = tap_dir()
    work.mkdir(parents=True)
    (work / "config.json").write_text(json.dumps(config))
    (work / "catalog.json").write_text(json.dumps(catalog(("events",))))
    tap = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tap_amplitude",
            "--config",
            str(work / "config.json"),
            "--catalog",
            str(work / "catalog.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines = []
    while not any(b'"replication_key_value":"2024-03-02T02:00:00+00:00"' in line for line in lines):
        line = tap.stdout.readline()
        assert line, tap.stderr.read().decode()
        lines.append(line)
    time.sleep(0.3)  # in the 5 s download of the second window
    started = time.monotonic()
    tap.send_signal(signal.SIGTERM)
    out, err = tap.communicate(timeout=15)
    assert time.monotonic() - started < 3, "the download thread must not hold the exit"
    messages = [json.loads(line) for line in [*lines, *out.splitlines(keepends=True)]]
    assert messages[-1]["type"] == "STATE" and bookmark(messages[-1]["value"]) == at(2).isoformat(), err.decode()
    first = [m["record"]["uuid"] for m in messages if m["type"] == "RECORD"]
    assert len(first) == len(set(first)) == 600

    resumed = run_tap(tap_dir(), config, state=messages[-1]["value"])
    assert resumed.returncode == 0, resumed.stderr
    assert len(set(first) | set(uuids(resumed))) == len(first) + len(uuids(resumed)) == total


def test_resume_from_a_mid_run_state(sandbox, tap_dir):
    total = seed_hours(sandbox, {0: 2, 1: 2, 2: 2, 3: 2})
    set_clock(sandbox, at(9))
    config = base_config(sandbox, export_window_hours=24)
    full = run_tap(tap_dir(), config)
    hour_states = [s for s in full.states if bookmark(s)]
    middle = next(s for s in hour_states if bookmark(s) == at(2).isoformat())  # as if killed after hour 01
    resumed = run_tap(tap_dir(), config, state=middle)
    assert sorted(uuids(resumed)) == sorted(
        r["uuid"] for r in full.records("events") if r["server_upload_time"] >= at(2).isoformat()
    )
    assert len(uuids(full)) == total
    # every STATE the tap wrote is an hour boundary: a kill at any point resumes cleanly
    assert all(bookmark(s).endswith(":00:00+00:00") for s in hour_states)


def test_event_type_filters(sandbox, tap_dir):
    ingest(
        sandbox,
        make_events(3, at(0.5), prefix="v", event_type="view")
        + make_events(2, at(0.5), prefix="c", event_type="click")
        + make_events(1, at(0.5), prefix="p", event_type="purchase", price=1.0),
        when=at(0.5),
    )
    set_clock(sandbox, at(6))
    streams = ("events", "revenue", "users")
    only = run_tap(tap_dir(), base_config(sandbox, event_types_include=["click", "purchase"]), streams=streams)
    assert Counter(r["event_type"] for r in only.records("events")) == {"click": 2, "purchase": 1}
    assert len(only.records("revenue")) == 1
    assert sum(u["event_count"] for u in only.records("users")) == 3
    without = run_tap(tap_dir(), base_config(sandbox, event_types_exclude=["view", "purchase"]), streams=streams)
    assert Counter(r["event_type"] for r in without.records("events")) == {"click": 2}
    assert without.records("revenue") == []
    assert "3 filtered out" in without.stderr or "4 filtered out" in without.stderr


def test_eu_routing(sandbox, tap_dir):
    ingest(sandbox, make_events(2, at(0.5), prefix="us"), when=at(0.5))
    ingest(sandbox, make_events(3, at(0.5), prefix="eu"), region="eu", when=at(0.5))
    set_clock(sandbox, at(6))
    eu = run_tap(tap_dir(), base_config(sandbox, data_center="EU", api_url=sandbox.amplitude["api_eu"]))
    assert eu.returncode == 0, eu.stderr
    assert sorted(r["$insert_id"] for r in eu.records("events")) == [
        "eu-2024030200-0",
        "eu-2024030200-1",
        "eu-2024030200-2",
    ]
    assert {r["app"] for r in eu.records("events")} == {374183}
    assert export_calls(sandbox, "amplitude_api_eu") == 1 and export_calls(sandbox, "amplitude_api") == 0


def test_transient_failures_and_non_zip_bodies_are_retried(sandbox, tap_dir):
    seed_hours(sandbox, {0: 3})
    set_clock(sandbox, at(6))
    sandbox.fault(action="status", service="amplitude_api", path="/api/2/export", status=503, count=1)
    sandbox.fault(action="status", service="amplitude_api", path="/api/2/export", status=429, count=1)
    sandbox.fault(
        action="status",
        service="amplitude_api",
        path="/api/2/export",
        status=200,
        count=1,
        body="<html>maintenance</html>",
        headers={"Content-Type": "text/html"},
    )
    run = run_tap(tap_dir(), base_config(sandbox))
    assert run.returncode == 0, run.stderr
    assert len(run.records("events")) == 3
    assert "body is not a zip archive" in run.stderr
    assert export_calls(sandbox) == 4


def test_unexpected_404_is_an_error_not_an_empty_window(sandbox, tap_dir):
    set_clock(sandbox, at(6))
    sandbox.fault(action="status", service="amplitude_api", path="/api/2/export", status=404, count=1, body="Not Found")
    run = run_tap(tap_dir(), base_config(sandbox))
    assert run.returncode != 0 and "looks wrong (check api_url)" in run.stderr
    assert bookmark(run) is None


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"secret_key": "wrong-secret-value-123"}, "rejected the secret key"),
        (
            {"api_key": "wrong-api-key-value-456"},
            "Either api_key is wrong or the project lives in the other data center",
        ),
    ],
)
def test_credential_errors_say_what_is_wrong_and_never_show_secrets(sandbox, tap_dir, override, expected):
    set_clock(sandbox, at(6))
    config = base_config(sandbox, **override)
    run = run_tap(tap_dir(), config, streams=("events", "cohorts", "event_types"))
    assert run.returncode != 0
    assert expected in run.stderr
    for secret in (config["api_key"], config["secret_key"]):
        assert secret not in run.stderr and secret not in run.stdout


@pytest.mark.parametrize(("project_region", "wrong", "right"), [("us", "EU", "US"), ("eu", "US", "EU")])
def test_wrong_data_center_is_named_in_the_error(sandbox, tap_dir, project_region, wrong, right):
    """Real keys of a project in one region, used against the other region's host: Amplitude answers
    403 Invalid API Key there (the sandbox's `key_region`), and the error says which data center to set."""
    ingest(sandbox, make_events(2, at(0.5), prefix="dc"), region=project_region, when=at(0.5))
    set_clock(sandbox, at(6))
    sandbox.configure("amplitude", key_region=project_region)
    host = {"US": sandbox.amplitude["api"], "EU": sandbox.amplitude["api_eu"]}
    config = base_config(sandbox, data_center=wrong, api_url=host[wrong])
    run = run_tap(tap_dir(), config, streams=("events", "cohorts", "event_types"))
    assert run.returncode != 0
    assert "HTTP 403: Invalid API Key" in run.stderr
    assert f"data_center is {wrong}; a project created in the {right} region needs data_center={right}" in run.stderr
    for secret in (config["api_key"], config["secret_key"]):
        assert secret not in run.stderr and secret not in run.stdout
    assert export_calls(sandbox, "amplitude_api" if wrong == "US" else "amplitude_api_eu") == 0  # stopped at the check

    fixed = run_tap(tap_dir(), {**config, "data_center": right, "api_url": host[right]})
    assert fixed.returncode == 0, fixed.stderr
    assert len(fixed.records("events")) == 2


def test_plain_http_is_refused_for_remote_hosts(sandbox, tap_dir):
    run = run_tap(tap_dir(), base_config(sandbox, api_url="http://example.com"))
    assert run.returncode != 0 and "must be an https URL" in run.stderr


def test_data_center_picks_the_documented_hosts():
    import logging

    from tap_amplitude.client import AmplitudeClient

    def host(**config):
        return AmplitudeClient({"api_key": "k", "secret_key": "s", **config}, logging.getLogger("t")).base_url

    assert host() == "https://amplitude.com"
    assert host(data_center="EU") == "https://analytics.eu.amplitude.com"
    assert host(data_center="EU", api_url="http://127.0.0.1:9/") == "http://127.0.0.1:9"


def test_no_secret_in_any_output_of_a_successful_run(sandbox, tap_dir):
    seed_hours(sandbox, {0: 2}, price=1.0)
    set_clock(sandbox, at(6))
    config = base_config(sandbox)
    run = run_tap(tap_dir(), config, streams=("events", "users", "revenue", "event_types", "cohorts"))
    assert run.returncode == 0, run.stderr
    for secret in (config["api_key"], config["secret_key"]):
        assert secret not in run.stderr and secret not in run.stdout
    assert DAY.year == 2024
