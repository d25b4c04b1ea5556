"""The real-time path's latency (issue 12): from the moment the sandbox's HTTP V2 API accepts an event to the
moment the Brevo emulator accepts it, through `tap-amplitude-streaming | target-brevo`.

The two plugins run from the project venv as two processes joined by a pipe, exactly as Meltano joins them
(Meltano itself is left out: it only relays the pipe and would blur the per-plugin RSS and CPU figures). The
sandbox's Webhooks Streaming destination pushes every ingested event to the tap's receiver with no push delay
(our part of the path only); the tap spools it, emits records and a STATE every second; target-brevo
(`flush_interval_seconds` 1, its `state_ack_file` paired with the tap's `delivered_state_file`) sends them with
`POST /events/batch`. A load generator posts HTTP V2 batches (10 a second, events spread over several users)
at each rate in turn.

Figures per rate: end-to-end latency p50/p95/p99/max (the sandbox's delivery log has when HTTP V2 accepted each
event, keyed by its `insert_id`; the Brevo emulator's `accepted_at` says when it stored it, joined through the
`bench_id` event property that target-brevo forwards), the receiver's acknowledgement time (the delivery
log's sent -> answered), events delivered / sent, `/events/batch` calls per second against Brevo's 10 per
second and events per call, and RSS and CPU of the tap and the target. Goals (issue 12): p95 <= 5 s at 500
events/s, acknowledgement p99 <= 100 ms, memory flat.

    .venv/bin/python bench/realtime_latency.py                         # 100 and 500 events/s, 60 s each
    .venv/bin/python bench/realtime_latency.py --rates 500 --seconds 10 --no-results   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlib
import psutil
import requests

TAP = benchlib.VENV_BIN / "tap-amplitude-streaming"
TARGET = benchlib.VENV_BIN / "target-brevo"
LOGS = benchlib.OUT / "realtime"
TAP_LOG = LOGS / "tap.log"
TARGET_LOG = LOGS / "target.log"

DEFAULT_RATES = (100, 500)
DEFAULT_SECONDS = 60.0
DEFAULT_USERS = 50
TICK_SECONDS = 0.1  # one HTTP V2 request per tick, as an app's SDK batches its events
SAMPLE_SECONDS = 0.5  # RSS and CPU sampling period
STALL_SECONDS = 10.0  # no new event in Brevo for this long after the load stopped: the rest is held (see `deliver`)
DRAIN_TIMEOUT_SECONDS = 60.0  # after the nudge, how long delivery may make no progress before giving up
START_TIMEOUT_SECONDS = 60.0

# Issue 12's goals and Brevo's ceiling.
GOAL_P95_SECONDS = 5.0
GOAL_P95_RATE = 500
GOAL_ACK_P99_SECONDS = 0.100
BREVO_BATCH_CALLS_PER_SECOND = 10
BREVO_EVENTS_PER_BATCH = 200
BREVO_CEILING = BREVO_BATCH_CALLS_PER_SECOND * BREVO_EVENTS_PER_BATCH
# "Memory flat": RSS at the end of the run within this much of the RSS after the warm-up.
FLAT_TOLERANCE_MB = 10.0

EVENTS_BATCH_ROUTE = "/events/batch"
NUDGE_EVENT = "realtime_bench_nudge"
WARM_UP_EVENT = "realtime_bench_warmup"
_LISTENING = re.compile(r"Receiving Amplitude webhooks on (http://[0-9.]+:\d+)")


# -- the pipeline: tap | target ----------------------------------------------------------------------------


@dataclass
class Pipeline:
    """The running plugins, the receiver's base URL and the secret the webhook destination must send."""

    tap: subprocess.Popen[bytes]
    target: subprocess.Popen[bytes]
    receiver_url: str
    secret: str

    def check_running(self) -> None:
        """SystemExit with the log's tail when a plugin has exited: the figures would be meaningless."""
        for name, process, log in ((TAP.name, self.tap, TAP_LOG), (TARGET.name, self.target, TARGET_LOG)):
            if process.poll() is not None:
                raise _exited(name, process.returncode, log)


def _write_private(path: Path, document: dict[str, Any]) -> None:
    """A config file readable by its owner only: it holds the shared secret and the Brevo key."""
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        json.dump(document, handle)


@contextlib.contextmanager
def pipeline(sandbox: Any, work: Path, event_names: Sequence[str]) -> Iterator[Pipeline]:
    """Start both plugins joined by a pipe; on exit SIGTERM the tap (it drains and writes its last STATE),
    which ends the target's input, and wait for both."""
    secret = f"Bearer {secrets.token_urlsafe(32)}"
    delivered_state = work / "delivered-state.json"
    tap_config = {
        "secret": secret,
        "port": 0,
        "spool_path": str(work / "spool.sqlite3"),
        "state_interval_seconds": 1,
        "delivered_state_file": str(delivered_state),
    }
    target_config = {
        "api_url": sandbox.brevo["api"],
        "api_key": sandbox.brevo["api_key"],
        "flush_interval_seconds": 1,
        "state_ack_file": str(delivered_state),
        "event_mapping": {name: name for name in event_names},
        "ledger_path": str(work / "ledger.sqlite3"),
        "privacy_store_path": str(work / "privacy.sqlite3"),
        "rejects_file": str(work / "rejects.jsonl"),
        "summary_file": str(work / "target-summary.json"),
    }
    _write_private(work / "tap.json", tap_config)
    _write_private(work / "target.json", target_config)
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(TAP_LOG, "wb") as tap_err, open(TARGET_LOG, "wb") as target_err, open(os.devnull, "wb") as devnull:
        tap = subprocess.Popen(
            [str(TAP), "--config", str(work / "tap.json")], stdout=subprocess.PIPE, stderr=tap_err, cwd=work
        )
        assert tap.stdout is not None
        target = subprocess.Popen(
            [str(TARGET), "--config", str(work / "target.json")],
            stdin=tap.stdout,
            stdout=devnull,  # its STATE messages: Meltano would keep the last one
            stderr=target_err,
            cwd=work,
        )
        tap.stdout.close()  # the target holds the read end now
        try:
            url = benchlib.listening_url(tap, TAP_LOG, _LISTENING, START_TIMEOUT_SECONDS)
            yield Pipeline(tap, target, url, secret)
        finally:
            _stop(tap, target)
    for name, process, log in ((TAP.name, tap, TAP_LOG), (TARGET.name, target, TARGET_LOG)):
        if process.returncode != 0:
            raise _exited(name, process.returncode, log)


def _exited(name: str, returncode: int | None, log: Path) -> SystemExit:
    return SystemExit(f"{name} exited with {returncode} (log {log}):\n{benchlib.log_tail(log)}")


def _stop(tap: subprocess.Popen[bytes], target: subprocess.Popen[bytes]) -> None:
    if tap.poll() is None:
        tap.send_signal(signal.SIGTERM)
    for process in (tap, target):
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- load ----------------------------------------------------------------------------------------------------


@dataclass
class Load:
    """What the generator sent in one phase."""

    event_name: str
    rate: int
    sent: int = 0
    requests: int = 0
    refused: dict[int, int] = field(default_factory=dict)  # HTTP status -> requests (events not counted as sent)
    resent: int = 0  # requests sent again on a new connection after a connection error, as an SDK would
    started: float = 0.0  # time.time()
    ended: float = 0.0
    late_ticks: int = 0  # ticks sent more than one tick behind schedule (the generator could not keep up)


class HttpV2:
    """Posts events to the sandbox's HTTP V2 API over one keep-alive connection. Every event gets a unique
    `insert_id` (the run's prefix and a counter), also sent as the `bench_id` event property: the join key on
    the Brevo side. Users take turns."""

    def __init__(self, sandbox: Any, users: int, prefix: str) -> None:
        self.url = sandbox.amplitude["ingest"] + "/2/httpapi"
        self.api_key = sandbox.amplitude["api_key"]
        self.users = users
        self.prefix = prefix
        self.number = 0
        self.http = requests.Session()

    def post(self, event_type: str, count: int) -> tuple[int, bool]:
        """One request of `count` events: its HTTP status, and whether it had to be sent again on a new connection
        (the same `insert_id`s: Amplitude keeps one event per `insert_id`)."""
        now_ms = int(time.time() * 1000)
        events = []
        for _ in range(count):
            insert_id = f"{self.prefix}-{self.number}"
            events.append(
                {
                    "user_id": f"bench-user-{self.number % self.users:04d}",
                    "event_type": event_type,
                    "insert_id": insert_id,
                    "time": now_ms,
                    "event_properties": {"bench_id": insert_id, "number": self.number},
                }
            )
            self.number += 1
        body = {"api_key": self.api_key, "events": events}
        try:
            return self.http.post(self.url, json=body, timeout=30).status_code, False
        except requests.ConnectionError:
            self.http.close()
            return self.http.post(self.url, json=body, timeout=30).status_code, True


def generate(client: HttpV2, load: Load, seconds: float) -> None:
    """`load.rate` events per second for `seconds`, one request per tick, on a fixed schedule (a late tick is
    sent at once, so the rate holds on average)."""
    ticks = max(1, round(seconds / TICK_SECONDS))
    load.started = time.time()
    start = time.monotonic()
    for tick in range(ticks):
        pause = start + tick * TICK_SECONDS - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        elif pause < -TICK_SECONDS:
            load.late_ticks += 1
        count = math.floor((tick + 1) * load.rate * TICK_SECONDS) - math.floor(tick * load.rate * TICK_SECONDS)
        if not count:
            continue
        status, resent = client.post(load.event_name, count)
        load.requests += 1
        load.resent += resent
        if status == 200:
            load.sent += count
        else:
            load.refused[status] = load.refused.get(status, 0) + 1
    load.ended = time.time()


# -- sampling the plugins ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    at: float  # time.time()
    rss: dict[str, int]  # process name -> bytes
    cpu: dict[str, float]  # process name -> user + system seconds so far


class Sampler(threading.Thread):
    """RSS and CPU time of named processes every SAMPLE_SECONDS, kept as a series."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.samples: list[Sample] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.samples.append(self.sample())
            self._done.wait(SAMPLE_SECONDS)

    def sample(self) -> Sample:
        rss, cpu = {}, {}
        for name, process in self.processes.items():
            with contextlib.suppress(psutil.Error):
                rss[name] = process.memory_info().rss
                times = process.cpu_times()
                cpu[name] = times.user + times.system
        return Sample(time.time(), rss, cpu)

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in list(self.samples) if start <= s.at <= end]

    def stop(self) -> None:
        self._done.set()
        self.join()


# -- reading what happened from the sandbox -----------------------------------------------------------------


def deliveries(sandbox: Any) -> list[dict[str, Any]]:
    """Every event push in the sandbox's delivery log (cleared at the start of the phase)."""
    entries: list[dict[str, Any]] = []
    after = 0
    while True:
        page = sandbox.admin("GET", "amplitude/deliveries", after=after, limit=10_000, kind="event")["deliveries"]
        if not page:
            return entries
        entries += page
        after = page[-1]["seq"]


def brevo_count(sandbox: Any, event_name: str) -> int:
    return sandbox.admin("GET", "brevo/events", event_name=event_name, limit=1)["count"]


def brevo_events(sandbox: Any, event_name: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        page = sandbox.admin("GET", "brevo/events", event_name=event_name, limit=5_000, offset=len(events))
        events += page["events"]
        if not page["events"] or len(events) >= page["count"]:
            return events


@dataclass
class Bench:
    """What a phase works with: the sandbox, the running plugins, the load's client, the RSS/CPU sampler."""

    sandbox: Any
    pipeline: Pipeline
    client: HttpV2
    sampler: Sampler


def wait_delivered(bench: Bench, event_name: str, expected: int, patience: float) -> int:
    """Wait until Brevo holds `expected` events named `event_name`, or until it made no progress for `patience`
    seconds; the events it holds."""
    held, progressed = 0, time.monotonic()
    while True:
        bench.pipeline.check_running()
        count = brevo_count(bench.sandbox, event_name)
        if count > held:
            held, progressed = count, time.monotonic()
        if held >= expected or time.monotonic() - progressed > patience:
            return held
        time.sleep(0.5)


@dataclass
class Delivery:
    held: int  # events in Brevo at the end
    nudged_at: float | None  # time.time() of the nudge, when delivery stalled before every event arrived
    ended: float  # time.time() when the wait ended


def deliver(bench: Bench, event_name: str, expected: int) -> Delivery:
    """Wait for a phase's events in Brevo. When delivery stalls short of them (target-brevo flushes its last
    partial batch only on a STATE that comes at least `flush_interval_seconds` after its previous flush, so the
    pipeline relies on the tap repeating its STATE until delivered), post one event of another type, whose
    record and STATE let the target flush, and wait again. The events that arrive after this nudge are counted
    as held at the end, apart from the latencies (theirs would be this script's wait, not the pipeline's), so a
    stall shows as such instead of as a loss or a made-up latency."""
    held = wait_delivered(bench, event_name, expected, STALL_SECONDS)
    nudged_at = None
    if held < expected:
        nudged_at = time.time()
        bench.client.post(NUDGE_EVENT, 1)
        held = wait_delivered(bench, event_name, expected, DRAIN_TIMEOUT_SECONDS)
    return Delivery(held, nudged_at, time.time())


def brevo_batch_calls(sandbox: Any, start: float, end: float) -> list[dict[str, Any]]:
    """The Brevo emulator's `/events/batch` requests that started between `start` and `end`."""
    recent = sandbox.requests_log("brevo", limit=50_000)["recent"]
    return [r for r in recent if r["route"].endswith(EVENTS_BATCH_ROUTE) and start <= r["started"] <= end]


def peak_per_second(moments: Sequence[float]) -> int:
    """The most of `moments` inside any one-second window."""
    ordered, best, first = sorted(moments), 0, 0
    for last, moment in enumerate(ordered):
        while moment - ordered[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


# -- one phase -----------------------------------------------------------------------------------------------


@dataclass
class Phase:
    load: Load
    delivery: Delivery
    delivered: int  # distinct events of the phase held by Brevo
    duplicates: int  # extra copies in Brevo
    latencies: list[float]  # seconds, HTTP V2 accepted -> Brevo stored, of the events that arrived unaided
    held_latencies: list[float]  # the same, of the events that arrived only after the nudge
    acks: list[float]  # seconds, push sent -> receiver answered, one per push request
    push_failures: int  # push requests without a 2xx (timeouts, errors, 5xx)
    batch_calls: list[dict[str, Any]]
    samples: list[Sample]

    @property
    def lost(self) -> int:
        return self.load.sent - self.delivered

    @property
    def accepted_calls(self) -> list[dict[str, Any]]:
        return [c for c in self.batch_calls if 200 <= c["status"] < 300]

    @property
    def throttled_calls(self) -> int:
        return sum(1 for c in self.batch_calls if c["status"] == 429)

    def calls_per_second(self) -> float:
        """Mean accepted `/events/batch` calls per second while the load ran."""
        during = [c for c in self.accepted_calls if c["started"] <= self.load.ended]
        return len(during) / max(self.load.ended - self.load.started, 1e-9)

    def rss(self, name: str) -> tuple[float, float, float]:
        """(start, peak, end) RSS in MB of one process over the phase, delivery included."""
        values = [s.rss[name] / benchlib.MB for s in self.samples if name in s.rss]
        return (values[0], max(values), values[-1]) if values else (math.nan, math.nan, math.nan)

    def cpu_share(self, name: str) -> float:
        """CPU seconds per second while the load ran (1.0 = one core busy)."""
        values = [(s.at, s.cpu[name]) for s in self.samples if name in s.cpu and s.at <= self.load.ended]
        if len(values) < 2:
            return math.nan
        (first_at, first), (last_at, last) = values[0], values[-1]
        return (last - first) / max(last_at - first_at, 1e-9)


def run_phase(bench: Bench, event_name: str, rate: int, seconds: float) -> Phase:
    sandbox, client = bench.sandbox, bench.client
    sandbox.admin("DELETE", "amplitude/deliveries")
    sandbox.admin("DELETE", "requests")
    load = Load(event_name, rate)
    generate(client, load, seconds)
    delivery = deliver(bench, event_name, load.sent)
    time.sleep(SAMPLE_SECONDS * 2)  # a sample or two after delivery: the "end" RSS

    accepted_at: dict[str, float] = {}
    acks, failures = [], 0
    for entry in deliveries(sandbox):
        if entry["key"].startswith(client.prefix) and not entry["duplicate"]:
            accepted_at.setdefault(entry["key"], entry["accepted_at"])
        if entry["status"] is not None and 200 <= entry["status"] < 300:
            acks.append(entry["answered_at"] - entry["sent_at"])
        else:
            failures += 1
    stored: dict[str, float] = {}
    duplicates = 0
    for event in brevo_events(sandbox, event_name):
        bench_id = (event.get("event_properties") or {}).get("bench_id")
        if bench_id in stored:
            duplicates += 1
        elif bench_id is not None:
            stored[bench_id] = event["accepted_at"]
    latencies, held = [], []
    for key, accepted in accepted_at.items():
        if key in stored:
            after_nudge = delivery.nudged_at is not None and stored[key] >= delivery.nudged_at
            (held if after_nudge else latencies).append(stored[key] - accepted)
    return Phase(
        load=load,
        delivery=delivery,
        delivered=len(stored),
        duplicates=duplicates,
        latencies=latencies,
        held_latencies=held,
        acks=acks,
        push_failures=failures,
        batch_calls=brevo_batch_calls(sandbox, load.started, delivery.ended),
        samples=bench.sampler.between(load.started - SAMPLE_SECONDS, time.time()),
    )


def warm_up(bench: Bench) -> None:
    """A second of events through the whole path before measuring: the first connections, the target's first
    Brevo calls and contact creation are not what the phases measure; it also proves that the path works."""
    load = Load(WARM_UP_EVENT, rate=50)
    generate(bench.client, load, 1.0)
    delivery = deliver(bench, WARM_UP_EVENT, load.sent)
    if delivery.held < load.sent:
        raise SystemExit(
            f"warm-up: Brevo holds {delivery.held} of {load.sent} events; see {TAP_LOG}, {TARGET_LOG} "
            f"and {benchlib.OUT}/sandbox.log"
        )


# -- report --------------------------------------------------------------------------------------------------


def _mb(sample: Sample, name: str) -> float:
    return sample.rss.get(name, 0) / benchlib.MB


def report(phases: list[Phase], baseline: Sample, final: Sample, command: str, notes: dict[str, str]) -> str:
    rows = []
    for phase in phases:
        load, lat = phase.load, phase.latencies
        calls = phase.accepted_calls
        held = len(phase.held_latencies)
        rows.append(
            [
                f"{load.rate:,}",
                f"{load.ended - load.started:.0f} s",
                f"{phase.delivered:,} / {load.sent:,}" + (f" (**{phase.lost:,} lost**)" if phase.lost else ""),
                benchlib.seconds_text(benchlib.percentile(lat, 0.50)),
                f"**{benchlib.seconds_text(benchlib.percentile(lat, 0.95))}**",
                benchlib.seconds_text(benchlib.percentile(lat, 0.99)),
                benchlib.seconds_text(max(lat, default=math.nan)),
                f"**{held:,}**" if held else "0",
                f"{benchlib.seconds_text(benchlib.percentile(phase.acks, 0.50))} / **{benchlib.seconds_text(benchlib.percentile(phase.acks, 0.99))}**",
                f"{phase.calls_per_second():.2f} (peak {peak_per_second([c['started'] for c in calls])})",
                f"{phase.delivered / max(len(calls), 1):.0f}",
                f"{phase.throttled_calls}",
                "{:.0f} / {:.0f} / {:.0f}".format(*phase.rss("tap")),
                "{:.0f} / {:.0f} / {:.0f}".format(*phase.rss("target")),
                f"{phase.cpu_share('tap'):.0%} / {phase.cpu_share('target'):.0%} / {phase.cpu_share('sandbox'):.0%}",
            ]
        )
    header = [
        "Events/s",
        "Load",
        "In Brevo / sent",
        "p50",
        "p95",
        "p99",
        "max",
        "Held at the end",
        "Ack p50 / p99",
        "Batch calls/s",
        "Events/call",
        "429s",
        "Tap RSS MB start / peak / end",
        "Target RSS MB start / peak / end",
        "CPU tap / target / sandbox",
    ]
    lines = [
        f"Run {benchlib.now_stamp()}: `{command}`; {notes['load_before']} before, {notes['load_after']} after.",
        "",
        f"Machine: {benchlib.machine()}.",
        "",
        benchlib.table(header, rows),
        "",
        *verdicts(phases, baseline, final),
        "",
        (
            "How the figures are made: latency is the Brevo emulator's `accepted_at` (real clock, when it stored the "
            "event) minus the sandbox's HTTP V2 acceptance time of the same event (its delivery log, keyed by "
            "`insert_id`; joined through the `bench_id` event property target-brevo forwards); the push delay is 0, "
            "so Amplitude's own queueing (p95 about 60 s) is not in it. *Held at the end*: events still in "
            f"target-brevo {STALL_SECONDS:g} s after the last one arrived, sent only once one more event came "
            "(the nudge); they are left out of the percentiles (their latency is this script's wait). Ack: the "
            "receiver's answer time per push (sandbox sent -> answered, loopback), every push of the phase. Batch "
            "calls/s: accepted `POST /events/batch` calls while the load ran, over its duration (peak: most in any "
            "one-second window). RSS: each process alone (psutil, every 0.5 s) at the phase's start, its peak, and "
            "after delivery. CPU: CPU seconds per second while the load ran (100% = one core); the sandbox serves "
            "HTTP V2, pushes every event and emulates Brevo on the same machine. The load: one HTTP V2 request every "
            f"100 ms, {notes['users']} users, a fresh sandbox; 50 warm-up events before the first phase. The plugins "
            "run from the project venv as `tap-amplitude-streaming | target-brevo` (Meltano only relays that pipe): "
            "tap `state_interval_seconds` 1, target `flush_interval_seconds` 1, `state_ack_file` = the tap's "
            "`delivered_state_file`."
        ),
    ]
    return "\n".join(lines)


def verdicts(phases: list[Phase], baseline: Sample, final: Sample) -> list[str]:
    lines = []
    goal = next((p for p in phases if p.load.rate == GOAL_P95_RATE), None)
    if goal is not None:
        p95 = benchlib.percentile(goal.latencies, 0.95)
        met = "met" if p95 <= GOAL_P95_SECONDS and not goal.lost else "**missed**"
        lines.append(
            f"- Goal p95 <= {GOAL_P95_SECONDS:g} s at {GOAL_P95_RATE} events/s: {met} ({benchlib.seconds_text(p95)}, "
            f"{goal.lost:,} lost, {len(goal.held_latencies):,} held at the end)."
        )
    worst_ack = max((benchlib.percentile(p.acks, 0.99) for p in phases if p.acks), default=math.nan)
    met = "met" if worst_ack <= GOAL_ACK_P99_SECONDS else "**missed**"
    lines.append(
        f"- Goal acknowledgement p99 <= {GOAL_ACK_P99_SECONDS * 1000:.0f} ms: {met} (worst {benchlib.seconds_text(worst_ack)})."
    )
    flat = all(abs(_mb(final, name) - _mb(baseline, name)) <= FLAT_TOLERANCE_MB for name in ("tap", "target"))
    lines.append(
        f"- Memory flat (within {FLAT_TOLERANCE_MB:g} MB from after the warm-up to after the last phase): "
        + ("yes" if flat else "**no**")
        + f" (tap {_mb(baseline, 'tap'):.0f} -> {_mb(final, 'tap'):.0f} MB, "
        f"target {_mb(baseline, 'target'):.0f} -> {_mb(final, 'target'):.0f} MB)."
    )
    top = max(phases, key=lambda p: p.load.rate)
    calls = top.calls_per_second()
    plugins_cpu = top.cpu_share("tap") + top.cpu_share("target")
    scaled = (
        f", about {plugins_cpu * BREVO_CEILING / top.load.rate:.0%} at {BREVO_CEILING:,} events/s if it scales linearly"
        if top.load.rate != BREVO_CEILING
        else ""
    )
    lines.append(
        f"- Against Brevo's ceiling ({BREVO_BATCH_CALLS_PER_SECOND} `/events/batch` calls/s x "
        f"{BREVO_EVENTS_PER_BATCH} events = {BREVO_CEILING:,} events/s): at {top.load.rate:,} events/s the pipeline "
        f"carries {top.load.rate / BREVO_CEILING:.0%} of it, in {calls:.2f} calls/s "
        f"({calls / BREVO_BATCH_CALLS_PER_SECOND:.0%} of the call limit) of "
        f"{top.delivered / max(len(top.accepted_calls), 1):.0f} events each; the tap and the target together used "
        f"{plugins_cpu:.0%} of a core{scaled}."
    )
    for phase in phases:
        problems = []
        if phase.delivery.nudged_at is not None:
            problems.append(
                f"{len(phase.held_latencies):,} events were held in target-brevo after the load until the nudge "
                f"({phase.delivery.nudged_at - phase.load.ended:.0f} s after the load ended)"
            )
        if phase.load.refused:
            problems.append(f"HTTP V2 refused {sum(phase.load.refused.values())} requests {phase.load.refused}")
        if phase.load.resent:
            problems.append(f"{phase.load.resent} HTTP V2 requests were sent again after a connection error")
        if phase.load.late_ticks:
            problems.append(f"the generator ran late on {phase.load.late_ticks} ticks")
        if phase.push_failures:
            problems.append(f"{phase.push_failures} pushes failed (timeouts or errors; retried by the sandbox)")
        if phase.duplicates:
            problems.append(f"{phase.duplicates} duplicates in Brevo")
        if problems:
            lines.append(f"- At {phase.load.rate:,} events/s: " + "; ".join(problems) + ".")
    return lines


# -- main ----------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    from sandbox.amplitude.pushes import DELIVERY_LOG_SIZE

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--rates",
        default=",".join(map(str, DEFAULT_RATES)),
        help="comma-separated events per second, one phase each, in order (default %(default)s)",
    )
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="load per phase (default %(default)g)")
    parser.add_argument("--users", type=int, default=DEFAULT_USERS, help="distinct users (default %(default)d)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (configs, spool, ledger)")
    parser.add_argument("--no-results", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    try:
        args.rates = [int(rate) for rate in args.rates.split(",")]
    except ValueError:
        parser.error("--rates takes comma-separated integers")
    if min(args.rates) < 1 or args.seconds <= 0 or args.users < 1:
        parser.error("rates, --seconds and --users must be positive")
    if max(args.rates) * args.seconds > DELIVERY_LOG_SIZE:
        parser.error(f"rate x seconds must stay within the sandbox's delivery log ({DELIVERY_LOG_SIZE:,} pushes)")
    return args


def main() -> None:
    args = parse_args()
    names = [f"realtime_bench_{index}_{rate}" for index, rate in enumerate(args.rates)]
    work = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    load_before = benchlib.load_note()
    phases: list[Phase] = []
    try:
        with benchlib.sandbox() as sandbox:
            if sandbox.admin("GET", "clock")["offset_seconds"] != 0:
                raise SystemExit("the sandbox clock is moved: the Brevo emulator's accepted_at would be off")
            print("==> tap-amplitude-streaming | target-brevo", flush=True)
            with pipeline(sandbox, work, [WARM_UP_EVENT, NUDGE_EVENT, *names]) as running:
                sandbox.admin(
                    "POST",
                    "amplitude/destinations/webhook",
                    json={
                        "url": running.receiver_url + "/amplitude/stream",
                        "headers": {"Authorization": running.secret},
                        "push_delay_seconds": 0,
                    },
                )
                sampler = Sampler({"tap": running.tap.pid, "target": running.target.pid, "sandbox": sandbox.proc.pid})
                bench = Bench(sandbox, running, HttpV2(sandbox, args.users, prefix=secrets.token_hex(4)), sampler)
                sampler.start()
                try:
                    print("==> warm-up", flush=True)
                    warm_up(bench)
                    baseline = sampler.sample()
                    for rate, name in zip(args.rates, names, strict=True):
                        print(f"==> {rate:,} events/s for {args.seconds:g} s", flush=True)
                        phase = run_phase(bench, name, rate, args.seconds)
                        phases.append(phase)
                        print(
                            f"  {phase.delivered:,} / {phase.load.sent:,} in Brevo ({len(phase.held_latencies):,} "
                            f"held at the end); p95 {benchlib.seconds_text(benchlib.percentile(phase.latencies, 0.95))}; ack p99 "
                            f"{benchlib.seconds_text(benchlib.percentile(phase.acks, 0.99))}",
                            flush=True,
                        )
                    final = sampler.sample()
                finally:
                    sampler.stop()
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    command = " ".join([".venv/bin/python", "bench/realtime_latency.py", *sys.argv[1:]])
    notes = {"load_before": load_before, "load_after": benchlib.load_note(), "users": str(args.users)}
    text = report(phases, baseline, final, command, notes)
    print()
    print(text)
    if not args.no_results:
        default = args.rates == list(DEFAULT_RATES) and args.seconds == DEFAULT_SECONDS
        suffix = "" if default else "-" + "-".join(map(str, args.rates)) + f"-{args.seconds:g}s"
        rates_text = " and ".join(", ".join(f"{rate:,}" for rate in args.rates).rsplit(", ", 1))
        benchlib.write_section(
            "realtime-latency" + suffix,
            f"## Real-time path latency at {rates_text} events/s: HTTP V2 accept -> Brevo accept through "
            "`tap-amplitude-streaming | target-brevo` (issue 12)\n\n" + text,
        )
        print(f"\nwritten to {benchlib.RESULTS.relative_to(benchlib.REPO)}")


if __name__ == "__main__":
    main()
