"""Crash and re-run: the target killed mid-run, then re-run on the same input, neither loses nor
duplicates events, and every STATE it emitted was covered by events Brevo had accepted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from .support import EVENTS_SCHEMA, record, state, to_lines

N_EVENTS = 240
BATCH = 10


def event_messages():
    out = [EVENTS_SCHEMA]
    for n in range(1, N_EVENTS + 1):
        out.append(
            record(
                "events",
                {
                    "uuid": f"evt-{n}",
                    "event_type": "Purchase",
                    "event_time": "2026-01-02T03:04:05Z",
                    "user_id": f"u{n % 17}",
                    "event_properties": {"n": n},
                },
            )
        )
        if n % 40 == 0:
            out.append(state({"events": n}))
    return out


def stored_numbers(brevo):
    events = brevo.admin("GET", "brevo/events", limit=10_000)["events"]
    return [e["event_properties"]["n"] for e in events]


def run_cli(config_path, input_path):
    return subprocess.Popen(
        [sys.executable, "-m", "target_brevo", "--config", str(config_path), "--input", str(input_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(("sig", "flush_interval"), [(signal.SIGTERM, 0), (signal.SIGKILL, 0), (signal.SIGTERM, 300)])
def test_kill_midway_then_rerun_delivers_each_event_once(brevo, config, tmp_path, sig, flush_interval):
    # flush_interval 0: a STATE is emitted at every STATE received, so the kill lands between emitted STATEs
    cfg = config(
        event_mapping={"Purchase": "order_completed"},
        events_batch_max_events=BATCH,
        flush_interval_seconds=flush_interval,
    )
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(cfg))
    input_path = tmp_path / "input.jsonl"
    input_path.write_text(to_lines(event_messages()))
    brevo.configure("brevo", rate_limits_enabled=False)
    # slow enough batches that the input is not over before the second SIGTERM (sent 2 s after the first)
    latency = 300 if sig == signal.SIGTERM else 60
    brevo.fault(
        action="latency", service="brevo", method="POST", path="/v3/events/batch", latency_ms=latency, count=1000
    )

    proc = run_cli(config_path, input_path)
    deadline = time.monotonic() + 60
    while len(stored_numbers(brevo)) < 60:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(sig)
    if sig == signal.SIGTERM:  # the first asks to finish the input; another, once it was seen, stops at once
        assert any("finishing the input" in proc.stderr.readline() for _ in range(1000))
        time.sleep(2.1)  # a signal within 2 s is taken for the same stop request delivered twice
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    first = stored_numbers(brevo)
    assert len(first) < N_EVENTS, "the kill came too late to test anything"
    emitted = [json.loads(line) for line in out.splitlines() if line.strip()]
    for value in emitted:  # each STATE covers only events Brevo had already accepted
        assert set(range(1, value["events"] + 1)) <= set(first)
    if flush_interval == 0:
        assert emitted, "no STATE before the kill: nothing tested about STATE coverage"
    else:
        assert not emitted  # batches were sent as they filled, but no STATE was due yet
    if sig == signal.SIGTERM:
        assert len(first) == len(set(first))

    brevo.admin("DELETE", "faults")
    proc = run_cli(config_path, input_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    final = stored_numbers(brevo)
    assert set(final) == set(range(1, N_EVENTS + 1)), "an event was lost"
    duplicates = len(final) - len(set(final))
    if sig == signal.SIGTERM:
        assert duplicates == 0
    else:
        # a hard kill can land between Brevo's answer and the ledger commit: at most one batch repeats
        assert duplicates <= BATCH
    assert json.loads(out.splitlines()[-1]) == {"events": N_EVENTS}


def test_one_sigterm_finishes_the_input_and_emits_the_last_state(brevo, config, tmp_path):
    """What a stopped `meltano run` or service looks like to the target: one SIGTERM, the tap's output ends
    soon after; everything received is delivered and the last STATE emitted, exit 0."""
    cfg = config(event_mapping={"Purchase": "order_completed"}, events_batch_max_events=BATCH)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(cfg))
    input_path = tmp_path / "input.jsonl"
    input_path.write_text(to_lines(event_messages()))
    brevo.configure("brevo", rate_limits_enabled=False)
    brevo.fault(action="latency", service="brevo", method="POST", path="/v3/events/batch", latency_ms=60, count=1000)
    proc = run_cli(config_path, input_path)
    assert wait_until(lambda: len(stored_numbers(brevo)) >= 20, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert "finishing the input" in err
    assert sorted(stored_numbers(brevo)) == list(range(1, N_EVENTS + 1))
    assert json.loads(out.splitlines()[-1]) == {"events": N_EVENTS}


def wait_until(predicate, proc, timeout: float = 60) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, proc.stderr.read()
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
