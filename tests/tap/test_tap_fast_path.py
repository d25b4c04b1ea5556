"""Events written straight from the read loop (`EventsStream._write_events`), or encoded by export workers
(`_write_lines`), give the very bytes the SDK's record loop gives: the same RECORD lines (time_extracted aside, a
clock reading), the same STATE messages at the same places (every STATE_MSG_FREQUENCY records, here 7 so that
pieces are cut mid-way), the same record count metric. With a stream map or a deselected field the fast path
stays off and the SDK's own path runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tap.support import STRICT_WARNINGS, at, base_config, catalog, ingest, make_events, set_clock

pytestmark = STRICT_WARNINGS

# Runs the real CLI with the STATE cadence lowered and the fast path counted (or switched off with "sdk").
RUNNER = """
import atexit, sys
from tap_amplitude import streams
from tap_amplitude.tap import TapAmplitude

streams.EventsStream.STATE_MSG_FREQUENCY = 7
if sys.argv.pop(1) == "sdk":
    streams.EventsStream.fast_path_allowed = False
fast = []
write_events, write_lines = streams.EventsStream._write_events, streams.EventsStream._write_lines

def counted(self, output, events):
    fast.append(len(events))
    write_events(self, output, events)

def counted_lines(self, output, lines, count):
    fast.append(count)
    write_lines(self, output, lines, count)

streams.EventsStream._write_events = counted
streams.EventsStream._write_lines = counted_lines
atexit.register(lambda: print(f"FAST-PATH-EVENTS {sum(fast)}", file=sys.stderr))
TapAmplitude.cli()
"""
TIME_EXTRACTED = re.compile(r',"time_extracted":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"\}$')
METRIC = re.compile(r'METRIC: (\{.*"metric":"record_count".*\})')


def run(
    workdir: Path, mode: str, config: dict[str, Any], streams: tuple[str, ...], **kwargs: Any
) -> tuple[list[str], int, dict]:
    """(stdout lines with time_extracted blanked, events written by the fast path, record counts per stream)."""
    workdir.mkdir(parents=True)
    (workdir / "config.json").write_text(json.dumps(config))
    (workdir / "catalog.json").write_text(json.dumps(catalog(streams, **kwargs)))
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            RUNNER,
            mode,
            "--config",
            str(workdir / "config.json"),
            "--catalog",
            str(workdir / "catalog.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "LOGLEVEL": "debug"},  # METRIC lines are logged at debug level only
    )
    assert done.returncode == 0, done.stderr
    lines = []
    for line in done.stdout.split("\n")[:-1]:  # not splitlines(): a record may hold U+2028
        if line.startswith('{"type":"RECORD"'):
            assert TIME_EXTRACTED.search(line), line
            line = TIME_EXTRACTED.sub(',"time_extracted":"-"}', line)
        lines.append(line)
    fast = int(re.search(r"FAST-PATH-EVENTS (\d+)", done.stderr).group(1))
    counts: dict[str, int] = {}
    for match in METRIC.finditer(done.stderr):
        metric = json.loads(match.group(1))
        counts[metric["tags"]["stream"]] = counts.get(metric["tags"]["stream"], 0) + metric["value"]
    return lines, fast, counts


def seed(sandbox) -> int:
    total = 0
    for h, n in {0: 23, 1: 1, 3: 30, 5: 9}.items():
        events = make_events(
            n,
            at(h + 0.5),
            prefix=f"h{h}",
            users=4,
            price=2.5,
            quantity=2,
            event_properties={"note": 'naïve café \u2028 "quoted" \\ back', "nested": {"list": [1, 2.25, None, True]}},
            user_properties={"plan": "pro", "score": 1e-7},
        )
        ingest(sandbox, events, when=at(h + 0.5))
        total += n
    set_clock(sandbox, at(9))
    return total


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_fast_path_output_is_byte_identical_to_the_sdk_record_loop(sandbox, tap_dir, workers):
    total = seed(sandbox)
    sandbox.configure("amplitude", export_partition_events=5)  # hours of several members, spread over workers
    config = base_config(sandbox, export_window_hours=2, export_workers=workers)
    fast_lines, fast_events, fast_counts = run(tap_dir(), "fast", config, ("events",))
    sdk_lines, sdk_events, sdk_counts = run(tap_dir(), "sdk", config, ("events",))
    assert fast_events == total and sdk_events == 0
    assert fast_lines == sdk_lines
    assert sum(line.startswith('{"type":"RECORD"') for line in fast_lines) == total
    assert sum(line.startswith('{"type":"STATE"') for line in fast_lines) >= 4
    assert fast_counts == sdk_counts == {"events": total}


def test_fast_path_with_children_and_filters_is_byte_identical(sandbox, tap_dir):
    total = seed(sandbox)
    ingest(sandbox, make_events(5, at(6.5), prefix="skip", event_type="skipped"), when=at(6.5))
    set_clock(sandbox, at(9))
    config = base_config(sandbox, export_window_hours=3, event_types_exclude=["skipped"])
    streams = ("events", "users", "revenue", "groups")
    fast_lines, fast_events, fast_counts = run(tap_dir(), "fast", config, streams)
    sdk_lines, sdk_events, sdk_counts = run(tap_dir(), "sdk", config, streams)
    assert fast_events == total and sdk_events == 0
    assert fast_lines == sdk_lines
    assert fast_counts == sdk_counts and fast_counts["events"] == total and fast_counts["revenue"] == total


@pytest.mark.parametrize("workers", [0, 2])
def test_event_type_filters_apply_in_export_workers(sandbox, tap_dir, workers):
    total = seed(sandbox)
    ingest(sandbox, make_events(5, at(6.5), prefix="skip", event_type="skipped"), when=at(6.5))
    set_clock(sandbox, at(9))
    config = base_config(sandbox, export_window_hours=3, event_types_exclude=["skipped"], export_workers=workers)
    fast_lines, fast_events, fast_counts = run(tap_dir(), "fast", config, ("events",))
    sdk_lines, _, sdk_counts = run(tap_dir(), "sdk", config, ("events",))
    assert fast_events == total and fast_lines == sdk_lines and fast_counts == sdk_counts == {"events": total}


def test_stream_maps_and_deselected_fields_keep_the_sdk_path(sandbox, tap_dir):
    total = seed(sandbox)
    maps = base_config(sandbox, stream_maps={"events": {"city_upper": "str(city).upper()"}})
    mapped, mapped_fast, _ = run(tap_dir(), "fast", maps, ("events",))
    assert mapped_fast == 0
    records = [json.loads(line)["record"] for line in mapped if line.startswith('{"type":"RECORD"')]
    assert len(records) == total and all("city_upper" in r for r in records)
    deselected, deselected_fast, _ = run(
        tap_dir(), "fast", base_config(sandbox), ("events",), deselected=(("events", "ip_address"),)
    )
    assert deselected_fast == 0
    records = [json.loads(line)["record"] for line in deselected if line.startswith('{"type":"RECORD"')]
    assert len(records) == total and all("ip_address" not in r for r in records)
