"""tap-amplitude with `batch_config`: BATCH messages naming JSON Lines files instead of RECORD messages, against the
sandbox. The files hold exactly the records the RECORD path emits, and a STATE never covers a record that no BATCH
message before it has named (a resume from any STATE loses nothing)."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from tap.support import (
    DAY,
    EXPORT_STREAMS,
    STRICT_WARNINGS,
    TapRun,
    at,
    base_config,
    bookmark,
    catalog,
    ingest,
    make_events,
    run_tap,
    set_clock,
)

pytestmark = STRICT_WARNINGS

KEYS = {"events": ("uuid",), "revenue": ("uuid",), "users": ("amplitude_id", "window_start")}


def seed(sandbox) -> int:
    """Six hours of views by three users, and purchases (revenue) in hours 1 and 4; returns the event count."""
    total = 0
    for hour in range(6):
        ingest(sandbox, make_events(5, at(hour + 0.5), prefix=f"h{hour}"), when=at(hour + 0.5))
        total += 5
    for hour in (1, 4):
        purchases = make_events(
            2, at(hour + 0.7), prefix=f"buy{hour}", event_type="purchase", users=2, price=4.5, quantity=2
        )
        ingest(sandbox, purchases, when=at(hour + 0.7))
        total += 2
    set_clock(sandbox, at(10.2))  # newest final hour: 07
    return total


def batch_config(root: Path, compression: str | None = "gzip", batch_size: int = 4) -> dict[str, Any]:
    return {
        "encoding": {"format": "jsonl", "compression": compression},
        "storage": {"root": root.as_uri(), "prefix": "amp-"},
        "batch_size": batch_size,
    }


def read_batch(url: str) -> list[dict[str, Any]]:
    path = Path(unquote(urlparse(url).path))
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as file:
        return [json.loads(line) for line in file]


def batched_records(run: TapRun) -> dict[str, list[dict[str, Any]]]:
    """Per stream, the records of the files the BATCH messages name, in message order."""
    found: dict[str, list[dict[str, Any]]] = {}
    for message in run.messages:
        if message["type"] == "BATCH":
            for url in message["manifest"]:
                found.setdefault(message["stream"], []).extend(read_batch(url))
    return found


def key(stream: str, record: dict[str, Any]) -> tuple[Any, ...]:
    return (stream, *(record[name] for name in KEYS[stream]))


def announced_before_each_state(run: TapRun) -> list[tuple[dict[str, Any], set[tuple[Any, ...]]]]:
    """Each STATE with the keys of the records the BATCH messages before it named."""
    announced: set[tuple[Any, ...]] = set()
    states = []
    for message in run.messages:
        if message["type"] == "BATCH":
            announced |= {key(message["stream"], r) for url in message["manifest"] for r in read_batch(url)}
        elif message["type"] == "STATE":
            states.append((message["value"], set(announced)))
    return states


def all_keys(run: TapRun, records=None) -> set[tuple[Any, ...]]:
    records = records if records is not None else {s: run.records(s) for s in EXPORT_STREAMS}
    return {key(stream, r) for stream, rows in records.items() for r in rows}


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_batch_files_hold_exactly_the_records_of_the_record_path(sandbox, tap_dir, tmp_path, compression):
    total = seed(sandbox)
    config = base_config(sandbox, export_window_hours=2)
    records = run_tap(tap_dir(), config, streams=EXPORT_STREAMS)
    assert records.returncode == 0, records.stderr
    root = tmp_path / "batches"
    batches = run_tap(tap_dir(), {**config, "batch_config": batch_config(root, compression)}, streams=EXPORT_STREAMS)
    assert batches.returncode == 0, batches.stderr

    assert not [m for m in batches.messages if m["type"] == "RECORD"]
    files = batched_records(batches)
    assert len(records.records("events")) == total
    for stream in EXPORT_STREAMS:
        assert records.records(stream), stream
        assert files[stream] == records.records(stream), stream  # same records, same content, same order
    manifests = [url for m in batches.messages if m["type"] == "BATCH" for url in m["manifest"]]
    suffix = ".jsonl.gz" if compression == "gzip" else ".jsonl"
    assert all(Path(unquote(urlparse(url).path)).parent == root for url in manifests)
    assert all(url.rsplit("/", 1)[1].startswith("amp-tap-amplitude--") and url.endswith(suffix) for url in manifests)
    assert sorted(path.name for path in root.iterdir()) == sorted(url.rsplit("/", 1)[1] for url in manifests)
    # files roll every batch_size records
    assert all(len(read_batch(url)) <= 4 for url in manifests)
    assert len([m for m in batches.messages if m["type"] == "BATCH" and m["stream"] == "events"]) >= total // 4
    assert batches.messages[-1]["type"] == "STATE" and batches.state == records.state
    assert bookmark(batches) == at(8).isoformat()
    assert "BATCH messages: " in batches.stderr


def test_every_state_follows_the_batches_of_the_records_it_covers(sandbox, tap_dir, tmp_path):
    """Resuming from any STATE of a batch run, the records announced before it plus the resumed run's records are
    every record (users are re-derived per window, so theirs may repeat; none may be missing)."""
    seed(sandbox)
    config = {**base_config(sandbox, export_window_hours=2), "batch_config": batch_config(tmp_path / "full")}
    full = run_tap(tap_dir(), config, streams=EXPORT_STREAMS)
    assert full.returncode == 0, full.stderr
    everything = all_keys(full, batched_records(full))
    states = announced_before_each_state(full)
    resumable = [(state, announced) for state, announced in states if bookmark(state)]
    assert len(resumable) >= 4
    for number, (state, announced) in enumerate(resumable):
        resumed_config = {**config, "batch_config": batch_config(tmp_path / f"resume{number}")}
        resumed = run_tap(tap_dir(), resumed_config, streams=EXPORT_STREAMS, state=state)
        assert resumed.returncode == 0, resumed.stderr
        missing = everything - announced - all_keys(resumed, batched_records(resumed))
        assert not missing, (state, sorted(missing)[:5])


def test_a_failed_run_announces_only_complete_files_and_its_last_state_resumes(sandbox, tap_dir, tmp_path):
    total = seed(sandbox)
    # the first window downloads; every try of the second fails (max_retries 3), so the run stops in its middle
    sandbox.fault(action="latency", service="amplitude_api", path="/api/2/export", latency_ms=0, count=1)
    sandbox.fault(action="status", service="amplitude_api", path="/api/2/export", status=500, count=4)
    root = tmp_path / "failed"
    config = {**base_config(sandbox, export_window_hours=2), "batch_config": batch_config(root, batch_size=1000)}
    failed = run_tap(tap_dir(), config, streams=EXPORT_STREAMS)
    assert failed.returncode != 0
    # window 00-01's records were in files not yet full: none announced, deleted, and no STATE passed them
    assert not [m for m in failed.messages if m["type"] == "BATCH"]
    assert not root.exists() or not list(root.iterdir())
    assert bookmark(failed) is None

    resumed = run_tap(tap_dir(), {**config, "batch_config": batch_config(tmp_path / "again")}, streams=EXPORT_STREAMS)
    assert resumed.returncode == 0, resumed.stderr
    assert len(batched_records(resumed)["events"]) == total


def test_sigterm_with_records_not_yet_announced_writes_no_state_past_them(sandbox, tap_dir, tmp_path):
    """The SDK's final STATE on SIGTERM would cover the records of the open files: with batches it is not written."""
    seed(sandbox)
    sandbox.fault(action="latency", service="amplitude_api", path="/api/2/export", latency_ms=0, count=1)
    sandbox.fault(action="latency", service="amplitude_api", path="/api/2/export", latency_ms=5000, count=1)
    root = tmp_path / "terminated"
    config = {**base_config(sandbox, export_window_hours=2), "batch_config": batch_config(root, batch_size=1000)}
    work = tap_dir()
    work.mkdir(parents=True)
    (work / "config.json").write_text(json.dumps(config))
    (work / "catalog.json").write_text(json.dumps(catalog(EXPORT_STREAMS)))
    command = [sys.executable, "-m", "tap_amplitude", "--config", str(work / "config.json")]
    tap = subprocess.Popen(
        [*command, "--catalog", str(work / "catalog.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    log = []
    while not any("Exported 2024-03-02T00:00Z" in line for line in log):  # window 00-01 read, 02-03 downloading
        line = tap.stderr.readline().decode()
        assert line, "".join(log)
        log.append(line)
    time.sleep(0.3)
    tap.send_signal(signal.SIGTERM)
    out, err = tap.communicate(timeout=15)
    messages = [json.loads(line) for line in out.splitlines()]
    assert not [m for m in messages if m["type"] in ("BATCH", "RECORD")], err.decode()
    assert all(bookmark(m["value"]) is None for m in messages if m["type"] == "STATE"), messages
    assert not list(root.iterdir())


def test_batch_files_follow_deselected_fields_like_record_messages(sandbox, tap_dir, tmp_path):
    seed(sandbox)
    config = base_config(sandbox)
    deselected = (("events", "ip_address"), ("events", "user_properties"))
    records = run_tap(tap_dir(), config, deselected=deselected)
    batches = run_tap(
        tap_dir(), {**config, "batch_config": batch_config(tmp_path / "b", batch_size=10)}, deselected=deselected
    )
    assert records.returncode == 0 and batches.returncode == 0, batches.stderr
    events = batched_records(batches)["events"]
    assert events == records.records("events")
    assert events and not {"ip_address", "user_properties"} & set(events[0])


def test_an_unsupported_batch_encoding_stops_with_one_line(sandbox, tap_dir, tmp_path):
    set_clock(sandbox, DAY)
    parquet = {"encoding": {"format": "parquet"}, "storage": {"root": tmp_path.as_uri()}}
    run = run_tap(tap_dir(), {**base_config(sandbox), "batch_config": parquet})
    assert run.returncode == 1 and "encoding format 'parquet' is not supported" in run.stderr
    assert "Traceback" not in run.stderr
