"""The closed loop's figures (issue 14): Brevo engagement back into Amplitude through the real CLIs, `tap-brevo` and
`target-amplitude` (project venv), against one sandbox.

1. target-amplitude alone: generated `email_events` Singer messages on stdin (tap-brevo's own schema), 10,000
   and 100,000 records of many users with a few events each (HTTP V2's 30 events/s per user is not the
   bottleneck), into HTTP V2 and into Batch; and 10,000 records of which a share belongs to one heavy address
   (a shared inbox copied on every send) that HTTP V2 throttles. Events/s (the target's summary: first record to
   last answer), requests per 10,000 events (the sandbox's request log), CPU, peak RSS, and the re-run of the
   same input with the same ledger (must make no request).
2. The whole loop: `tap-brevo` receiving webhooks (`idle_exit_seconds` short) piped into `target-amplitude`
   (two processes joined by a pipe, as Meltano joins them), the webhooks created by `tap-brevo-webhooks ensure`,
   then a simulated campaign to a list of seeded contacts pushing its webhooks, batched (500 a request) and
   unbatched. Events/s from the first push to the last Amplitude 200, latency per event (the tap's `received_at`,
   when the push was made durable, forwarded as an event property, against the Export API's
   `server_upload_time`), Brevo push requests and Amplitude requests per 10,000 events; every simulated event
   checked once in Amplitude by insert_id.
3. The pull: `tap-brevo` with `pull_transactional` only, after a transactional simulation: rows/s and the
   `/smtp/*` requests it spent of the 300-per-hour bucket.

    .venv/bin/python bench/closed_loop.py                       # default sizes: about 2-3 minutes
    .venv/bin/python bench/closed_loop.py --scale 0.1 --no-results
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import itertools
import json
import math
import os
import random
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import benchlib
import orjson
import psutil
import requests
from target_amplitude.mapping.events import DEFAULT_EVENT_PROPERTIES

TAP = benchlib.VENV_BIN / "tap-brevo"
HOOKS = benchlib.VENV_BIN / "tap-brevo-webhooks"
TARGET = benchlib.VENV_BIN / "target-amplitude"
SECTION = "closed-loop"

# Sizes at --scale 1.
TARGET_SIZES = (10_000, 100_000)
EVENTS_PER_USER = 4  # the realistic spread: users = records / 4
HEAVY_RECORDS = 10_000
HEAVY_SHARE = 0.12  # one address with 1,200 of 10,000: over HTTP V2's 900 per user per 30-second bucket
CAMPAIGN_CONTACTS = 5_000
CAMPAIGN_RATES = {"delivered": 1, "opened": 0.4, "click": 0.1, "unsubscribed": 0.01, "hard_bounce": 0.01}
TRANSACTIONAL_EMAILS = 7_000  # about 20,000 events at the rates below
TRANSACTIONAL_RATES = {"delivered": 1, "opened": 0.4, "click": 0.1, "hard_bounce": 0.01}
STATE_EVERY = 2_000  # records between STATE messages in the generated input
RERUN_SIZE = 10_000  # the re-run (ledger) and `validate_records` rows are made at this size (scaled), HTTP V2
SMTP_BUCKET = 300  # /smtp/* requests per hour (Brevo's general plan)
IDLE_EXIT_SECONDS = 3.0
LOOP_TIMEOUT_SECONDS = 300.0
PER = 10_000
EVENT_MIX = {"delivered": 0.46, "opened": 0.32, "click": 0.12, "soft_bounce": 0.04, "hard_bounce": 0.02,
             "unsubscribed": 0.02, "spam": 0.02}  # fmt: skip
_LISTENING = re.compile(r"Receiving Brevo webhooks on (http://[0-9.]+:\d+)")
# tap-brevo's own summary line (its METRIC record_count says 0: it writes records past the SDK's counter)
_TAP_RECORDS = re.compile(r"tap-brevo summary: (\d+) records")
_SUMMARY = re.compile(r"target-amplitude run summary: (\{.*\})")


# -- shared ----------------------------------------------------------------------------------------------------


def write_private(path: Path, document: dict[str, Any]) -> Path:
    """A config file for its owner only: it holds keys and the webhook token."""
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        json.dump(document, handle)
    return path


def tap_schema(work: Path) -> dict[str, Any]:
    """tap-brevo's own `email_events` catalog entry (offline discovery)."""
    config = write_private(work / "discover.json", {"auth_token": secrets.token_urlsafe(16)})
    catalog = json.loads(
        subprocess.run([str(TAP), "--config", str(config), "--discover"], capture_output=True, check=True).stdout
    )
    return next(s for s in catalog["streams"] if s["tap_stream_id"] == "email_events")


def target_config(box: Any, work: Path, name: str, **extra: Any) -> Path:
    return write_private(
        work / f"target-{name}.json",
        {
            "api_key": box.amplitude["api_key"],
            "api_url": box.amplitude["ingest"],
            "insert_id_prefix": f"{name}-",  # every row's events are new to Amplitude
            "ledger_path": str(work / f"ledger-{name}.sqlite3"),
            "rejects_file": str(work / f"rejects-{name}.jsonl"),
            "summary_file": str(work / f"summary-{name}.json"),
            **extra,
        },
    )


def ingest_log(box: Any) -> list[dict[str, Any]]:
    """The Amplitude ingest requests since the log was last cleared (most recent 50,000)."""
    return box.requests_log("amplitude_ingest", limit=50_000)["recent"]


def statuses(entries: Sequence[dict[str, Any]]) -> Counter[int]:
    return Counter(entry["status"] for entry in entries)


def seconds(value: float) -> str:
    return benchlib.seconds_text(value, digits=1)


def per_10k(count: float, events: int) -> str:
    return f"{count * PER / events:,.1f}" if events else "-"


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"check failed: {what}")


# -- 1. target-amplitude alone ---------------------------------------------------------------------------------


def generated_records(n: int, heavy_share: float, seed: int) -> Iterator[dict[str, Any]]:
    """`email_events` records as tap-brevo emits them: n // EVENTS_PER_USER people with a few campaign events
    each, in time order; with `heavy_share`, that share of the records belongs to one shared inbox."""
    rng = random.Random(seed)
    users = max(1, n // EVENTS_PER_USER)
    names, weights = list(EVENT_MIX), list(EVENT_MIX.values())
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    for number in range(n):
        heavy = rng.random() < heavy_share
        email = "shared-inbox@example.com" if heavy else f"reader{rng.randrange(users):07d}@example.com"
        event = rng.choices(names, weights)[0]
        moment = start + timedelta(seconds=number * 86_400 // n)
        campaign = 100 + number * 10 // n
        key = f"mk|{campaign}|{email}|{event}|{int(moment.timestamp())}|{number}"
        yield {
            "event_id": hashlib.sha256(key.encode()).hexdigest()[:32],
            "event": event,
            "channel": "marketing",
            "source": "webhook",
            "email": email,
            "contact_id": 1 + zlib.crc32(email.encode()) % 1_000_000,
            "ext_id": None,
            "contact_attributes": None,
            "campaign_id": campaign,
            "campaign_name": f"Newsletter {campaign}",
            "template_id": None,
            "message_id": None,
            "subject": None,
            "link": "https://example.com/offer?utm_source=brevo" if event == "click" else None,
            "reason": "mailbox does not exist" if event == "hard_bounce" else None,
            "tags": ["newsletter"],
            "list_ids": [] if event != "unsubscribed" else [7],
            "sending_ip": None,
            "user_agent": None,
            "device_used": None,
            "event_time": moment.isoformat(),
            "received_at": (moment + timedelta(seconds=2)).isoformat(),
        }


def write_messages(path: Path, entry: dict[str, Any], records: Iterator[dict[str, Any]]) -> int:
    stream = entry["tap_stream_id"]
    count = 0
    with open(path, "wb") as out:
        schema = {"type": "SCHEMA", "stream": stream, "schema": entry["schema"], "key_properties": ["event_id"]}
        out.write(orjson.dumps(schema) + b"\n")
        for record in records:
            out.write(orjson.dumps({"type": "RECORD", "stream": stream, "record": record}) + b"\n")
            count += 1
            if count % STATE_EVERY == 0:
                out.write(orjson.dumps({"type": "STATE", "value": {"bookmarks": {"spool": {"seq": count}}}}) + b"\n")
        out.write(orjson.dumps({"type": "STATE", "value": {"bookmarks": {"spool": {"seq": count}}}}) + b"\n")
    return count


@dataclass
class TargetRow:
    label: str
    api: str
    records: int
    measured: benchlib.Measured
    summary: dict[str, Any]
    requests: Counter[int]  # status -> ingest requests, from the sandbox's log
    stored: int  # events Amplitude kept (its stats, before/after)
    longest_gap: float  # the longest pause between two ingest requests: the throttle wait
    in_requests: float  # seconds the sandbox spent answering them (summed)

    @property
    def elapsed(self) -> float:
        return float(self.summary.get("elapsed_seconds") or self.measured.seconds)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


def amplitude_events(box: Any) -> int:
    return box.admin("GET", "amplitude/stats")["us"]["events"]


def run_target(box: Any, work: Path, name: str, label: str, messages: Path, records: int, **extra: Any) -> TargetRow:
    box.admin("DELETE", "requests")
    before = amplitude_events(box)
    config = target_config(box, work, name, **extra)
    measured = benchlib.measure([str(TARGET), "--config", str(config)], work / f"{name}.log", stdin=messages)
    if measured.returncode != 0:
        raise benchlib.failed(measured, f"target-amplitude ({label})")
    summary = json.loads((work / f"summary-{name}.json").read_text())
    log = ingest_log(box)
    starts = sorted(entry["started"] for entry in log)
    gap = max((b - a for a, b in itertools.pairwise(starts)), default=0.0)
    in_requests = sum(entry["duration_ms"] for entry in log) / 1000
    return TargetRow(label, "Batch" if extra.get("use_batch") else "HTTP V2", records, measured, summary,
                     statuses(log), amplitude_events(box) - before, gap, in_requests)  # fmt: skip


def part_target(box: Any, work: Path, entry: dict[str, Any], sizes: dict[str, Any]) -> list[TargetRow]:
    rows: list[TargetRow] = []

    def delivered_once(name: str, label: str, path: Path, n: int, batch: bool) -> None:
        print(f"==> target-amplitude: {label}, {'Batch' if batch else 'HTTP V2'}", flush=True)
        row = run_target(box, work, name, label, path, n, use_batch=batch)
        check(row.summary["sent"] == n and row.stored == n, f"{name}: every record in Amplitude once")
        rows.append(row)

    for n in sizes["target"]:
        path = work / f"records-{n}.jsonl"
        write_messages(path, entry, generated_records(n, 0.0, seed=n))
        for batch in (False, True):
            name = f"t{n}-{'batch' if batch else 'v2'}"
            label = f"{n:,} records, {n // EVENTS_PER_USER:,} users"
            delivered_once(name, label, path, n, batch)
            if n == sizes["rerun"] and not batch:
                print("==> the same input again, same ledger", flush=True)
                again = run_target(box, work, name, f"{label}, re-run (same ledger)", path, n, use_batch=batch)
                check(again.total_requests == 0 and again.stored == 0, f"{name}: the re-run made no request")
                rows.append(again)
                print("==> the same input, validate_records false", flush=True)
                unchecked = run_target(box, work, f"{name}-novalidate", f"{label}, `validate_records` false", path,
                                       n, use_batch=batch, validate_records=False)  # fmt: skip
                check(unchecked.summary["sent"] == n, f"{name}: validate_records false sent every record")
                rows.append(unchecked)
    n = sizes["heavy"]
    path = work / "records-heavy.jsonl"
    write_messages(path, entry, generated_records(n, HEAVY_SHARE, seed=7))
    for batch in (False, True):
        label = f"{n:,} records, {HEAVY_SHARE:.0%} of them one shared inbox"
        delivered_once(f"heavy-{'batch' if batch else 'v2'}", label, path, n, batch)
    return rows


def target_table(rows: list[TargetRow]) -> str:
    header = ["Input", "API", "Events/s", "Wall (first record -> last answer)", "Requests (statuses)",
              f"Requests per {PER:,} events", "Throttled (held)", "Longest pause", "In requests", "CPU",
              "Peak RSS"]  # fmt: skip
    body = []
    for row in rows:
        sent = row.summary["sent"]
        body.append(
            [
                row.label,
                row.api,
                f"{sent / row.elapsed:,.0f}" if sent else f"0 sent ({row.summary['duplicates_skipped']:,} in ledger)",
                f"{row.elapsed:.1f} s",
                f"{row.total_requests:,} ({', '.join(f'{k}: {v}' for k, v in sorted(row.requests.items())) or '-'})",
                per_10k(row.total_requests, row.records),
                f"{row.summary['throttled']:,}",
                f"{row.longest_gap:.1f} s" if row.total_requests > 1 else "-",
                f"{row.in_requests:.1f} s",
                f"{row.measured.cpu_seconds:.1f} s",
                f"{row.measured.peak_mb:.0f} MB",
            ]
        )
    return benchlib.table(header, body, "llrrlrrrrrr")


# -- 2. the whole loop ---------------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Peak RSS and the CPU time used since the first sample of each named process, every 0.1 s."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak = dict.fromkeys(pids, 0)
        self.cpu = dict.fromkeys(pids, 0.0)
        self._first: dict[str, float] = {}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            for name, process in self.processes.items():
                with contextlib.suppress(psutil.Error):
                    self.peak[name] = max(self.peak[name], process.memory_info().rss)
                    times = process.cpu_times()
                    used = times.user + times.system
                    self.cpu[name] = used - self._first.setdefault(name, used)
            self._done.wait(0.1)

    def stop(self) -> None:
        self._done.set()
        self.join()


@dataclass
class LoopRow:
    label: str
    events: int  # simulated (the truth)
    pushes: dict[str, Any]  # the sandbox's webhook-delivery counters
    push_entries: list[dict[str, Any]]
    ingest: list[dict[str, Any]]
    latencies: list[float] = field(default_factory=list)
    in_amplitude: int = 0
    first_push: float = 0.0
    last_accepted: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    tap_records: int = 0
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.last_accepted - self.first_push


def seed_list(box: Any, name: str, contacts: int) -> int:
    list_id = box.seed("brevo", lists=[name])["lists"][name]
    people = [{"email": f"{name.lower()}-{i:06d}@example.com", "listIds": [list_id]} for i in range(contacts)]
    box.seed("brevo", contacts=people)
    return list_id


def webhooks_cli(action: str, url: str, config: Path, *extra: str) -> str:
    done = subprocess.run([str(HOOKS), action, "--url", url, "--config", str(config), *extra],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"tap-brevo-webhooks {action} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def push_entries(box: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    entries: list[dict[str, Any]] = []
    after = 0
    while True:
        page = box.admin("GET", "brevo/webhook-deliveries", after=after, limit=10_000)
        batch = page["deliveries"]
        if not batch:
            return page["counters"], entries
        entries += batch
        after = batch[-1]["seq"]


def export_events(box: Any, since: datetime) -> list[dict[str, Any]]:
    """Every event Amplitude uploaded from the hour of `since` to now (Export API; latency set to none)."""
    now = datetime.now(UTC)
    answer = requests.get(
        box.amplitude["api"] + "/api/2/export",
        params={"start": f"{since:%Y%m%dT%H}", "end": f"{now:%Y%m%dT%H}"},
        auth=(box.amplitude["api_key"], box.amplitude["secret_key"]),
        timeout=300,
    )
    if answer.status_code == 404:
        return []
    answer.raise_for_status()
    events = []
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        for name in archive.namelist():
            for line in gzip.decompress(archive.read(name)).splitlines():
                if line.strip():
                    events.append(orjson.loads(line))
    return events


def upload_epoch(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()


def run_loop(box: Any, work: Path, name: str, contacts: int, batched: bool) -> LoopRow:
    label = f"campaign to {contacts:,} contacts, webhooks {'batched (500 a request)' if batched else 'unbatched'}"
    print(f"==> tap-brevo | target-amplitude: {label}", flush=True)
    list_id = seed_list(box, f"Loop{name.title()}", contacts)
    token = secrets.token_urlsafe(24)
    delivered_state = work / f"delivered-{name}.json"
    tap_conf = write_private(work / f"tap-{name}.json", {
        "auth_token": token, "port": 0, "spool_path": str(work / f"spool-{name}.sqlite3"),
        "state_interval_seconds": 1, "delivered_state_file": str(delivered_state),
        "idle_exit_seconds": IDLE_EXIT_SECONDS,
        "api_key": box.brevo["api_key"], "api_url": box.brevo["api"],
    })  # fmt: skip
    target_conf = target_config(box, work, name, flush_interval_seconds=1, state_ack_file=str(delivered_state),
                                event_properties=[*DEFAULT_EVENT_PROPERTIES, "received_at"])  # fmt: skip
    tap_log, target_log = work / f"tap-{name}.log", work / f"target-{name}.log"
    box.admin("DELETE", "requests")
    box.admin("DELETE", "brevo/webhook-deliveries")
    since = datetime.now(UTC)
    with open(tap_log, "wb") as tap_err, open(target_log, "wb") as target_err, open(os.devnull, "wb") as devnull:
        tap = subprocess.Popen([str(TAP), "--config", str(tap_conf)], stdout=subprocess.PIPE, stderr=tap_err)
        assert tap.stdout is not None
        target = subprocess.Popen([str(TARGET), "--config", str(target_conf)], stdin=tap.stdout, stdout=devnull,
                                  stderr=target_err)  # fmt: skip
        tap.stdout.close()
        sampler = Sampler({"tap": tap.pid, "target": target.pid, "sandbox": box.proc.pid})
        sampler.start()
        try:
            url = benchlib.listening_url(tap, tap_log, _LISTENING) + "/brevo"
            webhooks_cli("ensure", url, tap_conf, "--type", "marketing", *(["--batched"] if batched else []))
            box.admin("DELETE", "requests")  # the webhook calls are set-up, not the loop's
            simulated = box.admin("POST", "brevo/simulate/campaign", json={
                "list_id": list_id, "name": f"Bench {name}", "rates": CAMPAIGN_RATES, "seed": 11,
                "spread_seconds": 600,
            })  # fmt: skip
            for process, what, log in ((tap, "tap-brevo", tap_log), (target, "target-amplitude", target_log)):
                try:
                    returncode = process.wait(LOOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    raise SystemExit(f"{what} did not finish in {LOOP_TIMEOUT_SECONDS:g} s (log {log})") from None
                if returncode != 0:
                    raise SystemExit(f"{what} exited with {returncode} (log {log}):\n{benchlib.log_tail(log)}")
        finally:
            sampler.stop()
            for process in (tap, target):
                if process.poll() is None:
                    process.kill()
                    process.wait()
    webhooks_cli("remove", url, tap_conf, "--type", "marketing")
    counters, entries = push_entries(box)
    row = LoopRow(label, len(simulated["events"]), counters, entries, ingest_log(box))
    row.cpu, row.peak = dict(sampler.cpu), dict(sampler.peak)
    found = _SUMMARY.search(target_log.read_text(errors="replace"))
    row.summary = json.loads(found.group(1)) if found else {}
    row.tap_records = sum(int(n) for n in _TAP_RECORDS.findall(tap_log.read_text()))
    row.first_push = min(entry["sent_at"] for entry in entries)
    row.last_accepted = max(e["started"] + e["duration_ms"] / 1000 for e in row.ingest if e["status"] == 200)
    prefix = f"{name}-"
    seen: Counter[str] = Counter()
    for event in export_events(box, since):
        insert_id = event.get("$insert_id") or event.get("insert_id") or ""
        if not insert_id.startswith(prefix):
            continue
        seen[insert_id] += 1
        received = (event.get("event_properties") or {}).get("received_at")
        if received:
            row.latencies.append(
                upload_epoch(event["server_upload_time"]) - datetime.fromisoformat(received).timestamp()
            )
    row.in_amplitude = len(seen)
    check(row.tap_records == row.events, f"{name}: tap-brevo emitted every simulated event ({row.tap_records:,} "
          f"of {row.events:,})")  # fmt: skip
    check(row.in_amplitude == row.events and max(seen.values()) == 1,
          f"{name}: every simulated event in Amplitude once ({row.in_amplitude:,} of {row.events:,})")  # fmt: skip
    return row


def loop_table(rows: list[LoopRow]) -> str:
    header = ["Loop", "Events (in Amplitude once)", "Events/s (first push -> last 200)", "Latency p50 / p95 / max",
              "Brevo push requests", f"per {PER:,} events", "Push ack p50 / p99", "Amplitude requests",
              f"per {PER:,} events", "CPU tap / target / sandbox", "Peak RSS tap / target"]  # fmt: skip
    body = []
    for row in rows:
        pushes = len(row.push_entries)
        acks = [e["answered_at"] - e["sent_at"] for e in row.push_entries if e["answered_at"] is not None]
        amplitude = len(row.ingest)
        body.append(
            [
                row.label,
                f"{row.events:,} ({row.in_amplitude:,})",
                f"{row.events / row.seconds:,.0f} ({row.seconds:.1f} s)",
                " / ".join(seconds(v) for v in (benchlib.percentile(row.latencies, 0.5),
                           benchlib.percentile(row.latencies, 0.95), max(row.latencies, default=math.nan))),
                f"{pushes:,}",
                per_10k(pushes, row.events),
                " / ".join(seconds(benchlib.percentile(acks, f)) for f in (0.5, 0.99)),
                f"{amplitude:,} ({', '.join(f'{k}: {v}' for k, v in sorted(statuses(row.ingest).items()))})",
                per_10k(amplitude, row.events),
                " / ".join(f"{row.cpu.get(name, 0):.1f} s" for name in ("tap", "target", "sandbox")),
                f"{row.peak.get('tap', 0) / benchlib.MB:.0f} / {row.peak.get('target', 0) / benchlib.MB:.0f} MB",
            ]
        )  # fmt: skip
    return benchlib.table(header, body, "lrrrrrrrrrr")


# -- 3. the pull -----------------------------------------------------------------------------------------------


@dataclass
class PullRow:
    emails: int
    simulated: int  # events of the simulation
    reportable: int  # of them in the statistics report (unique opens are webhook-only)
    rows: int
    measured: benchlib.Measured
    calls: dict[str, int]
    statuses: Counter[int]


def part_pull(box: Any, work: Path, emails: int) -> PullRow:
    print(f"==> tap-brevo pull_transactional after a transactional send to {emails:,} addresses", flush=True)
    simulated = box.admin("POST", "brevo/simulate/transactional", json={
        "emails": [f"buyer-{i:06d}@example.com" for i in range(emails)], "subject": "Your receipt",
        "template_id": 3, "tags": ["receipts"], "rates": TRANSACTIONAL_RATES, "seed": 5, "spread_seconds": 600,
    })  # fmt: skip
    events = simulated["events"]
    reportable = sum(e["event"] not in ("unique_opened", "unique_proxy_open") for e in events)
    config = write_private(work / "tap-pull.json", {
        "receive_webhooks": False, "pull_transactional": True, "api_key": box.brevo["api_key"],
        "api_url": box.brevo["api"], "start_date": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
    })  # fmt: skip
    box.admin("DELETE", "requests")
    measured = benchlib.measure([str(TAP), "--config", str(config)], work / "tap-pull.log")
    if measured.returncode != 0:
        raise benchlib.failed(measured, "tap-brevo (pull)")
    rows = sum(int(n) for n in _TAP_RECORDS.findall(measured.text()))
    log = box.requests_log("brevo", limit=50_000)
    calls = log["counts"].get("brevo", {})
    check(rows == reportable, f"pull: every reportable event once ({rows:,} of {reportable:,})")
    return PullRow(emails, len(events), reportable, rows, measured, calls, statuses(log["recent"]))


def pull_table(row: PullRow) -> str:
    smtp = sum(n for endpoint, n in row.calls.items() if " /v3/smtp/" in endpoint)
    header = ["Transactional send", "Events (in the report)", "Rows emitted", "Rows/s", "Wall", "CPU", "Peak RSS",
              "Brevo requests", "`/smtp/*` of the 300/hour bucket"]  # fmt: skip
    body = [[
        f"{row.emails:,} addresses", f"{row.simulated:,} ({row.reportable:,})", f"{row.rows:,}",
        f"{row.rows / row.measured.seconds:,.0f}", f"{row.measured.seconds:.1f} s",
        f"{row.measured.cpu_seconds:.1f} s", f"{row.measured.peak_mb:.0f} MB",
        "; ".join(f"`{k}` {v:,}" for k, v in sorted(row.calls.items())) or "-",
        f"{smtp:,} ({smtp / SMTP_BUCKET:.0%})",
    ]]  # fmt: skip
    return benchlib.table(header, body, "lrrrrrrlr")


# -- report and main ---------------------------------------------------------------------------------------------


METHOD = """How the figures are made: one sandbox (Amplitude export latency off) for the whole run; the plugins are
the project venv's CLIs. Target rows: generated Singer messages on stdin (tap-brevo's discovered `email_events`
schema, a STATE every 2,000 records, campaign events of `records / 4` addresses in time order), a fresh ledger and
`insert_id_prefix` per row; *Events/s* = events sent / the target's `elapsed_seconds` (its run summary: from the
first record to the end of input, after the last answer); requests and their statuses from the sandbox's request log
(`POST /2/httpapi` or `/batch`; *In requests*: the summed time the sandbox took to answer them, the target
waits for each answer before it reads on); *Longest pause*: the longest gap between two ingest requests (the
throttle wait: `throttle_wait_seconds` 30); CPU and peak RSS of the target process. The re-run feeds the same input
with the same ledger. Loop rows: `tap-brevo` (`receive_webhooks`, `idle_exit_seconds` 3, `state_interval_seconds` 1,
`delivered_state_file` = the target's `state_ack_file`) piped into `target-amplitude` (`flush_interval_seconds` 1,
`received_at` added to `event_properties`); the webhook created by `tap-brevo-webhooks ensure --type marketing
[--batched]`; contacts seeded into a list, then `POST /_sandbox/brevo/simulate/campaign` (pushes at once, the event
times spread over 10 minutes). *Events/s*: simulated events over first push sent (the sandbox's webhook-delivery
log) -> last Amplitude 200 (request log). *Latency*: per event, Amplitude's `server_upload_time` (Export API) minus
the tap's `received_at` (the push made durable, before its 200); every event found once by insert_id. Pull:
`tap-brevo` with `receive_webhooks` off and `pull_transactional` on, `start_date` a day ago, default window (7 days)
and page size (5,000); the statistics report has no unique opens (webhook-only)."""


def notes(parts: dict[str, Any]) -> list[str]:
    """What the rows say, computed from them."""
    out = []
    rows: list[TargetRow] = parts.get("target") or []
    unchecked = next((r for r in rows if "validate_records" in r.label), None)
    checked = next((r for r in rows if unchecked and r.records == unchecked.records and r.api == unchecked.api), None)
    if unchecked and checked:
        out.append(
            f"Record validation: with `validate_records` false the target sends {unchecked.records:,} records at "
            f"{unchecked.summary['sent'] / unchecked.elapsed:,.0f} events/s against "
            f"{checked.summary['sent'] / checked.elapsed:,.0f} with it (CPU {unchecked.measured.cpu_seconds:.1f} s "
            f"against {checked.measured.cpu_seconds:.1f} s): the per-record JSON Schema validation (fastjsonschema, compiled) is about "
            f"{1 - unchecked.measured.cpu_seconds / checked.measured.cpu_seconds:.0%} of the target process's CPU "
            "(start-up included)."
        )
    heavy = [r for r in rows if "shared inbox" in r.label]
    throttled = next((r for r in heavy if r.summary["throttled"]), None)
    batch = next((r for r in heavy if r.api == "Batch"), None)
    if throttled:
        out.append(
            f"Throttling: HTTP V2 answered {throttled.requests.get(429, 0)} requests with 429 for the shared inbox; "
            f"{throttled.summary['throttled']:,} events were held and sent after a {throttled.longest_gap:.0f} s "
            f"pause, every event in once; the run took {throttled.elapsed:.1f} s"
            + (f" against {batch.elapsed:.1f} s over Batch (1,000 events/s per user: no 429)." if batch else ".")
        )
    elif heavy:
        out.append("Throttling: no 429 at this size (the shared inbox stayed under 900 events per 30 s).")
    loops: list[LoopRow] = parts.get("loop") or []
    if len(loops) == 2:
        batched, unbatched = loops
        out.append(
            f"Batched webhooks: {len(batched.push_entries):,} Brevo pushes against {len(unbatched.push_entries):,} "
            f"unbatched for the same campaign; Amplitude requests stay about the same "
            f"({len(batched.ingest)} and {len(unbatched.ingest)}): the target batches either way."
        )
    pull: PullRow | None = parts.get("pull")
    if pull:
        smtp = sum(n for endpoint, n in pull.calls.items() if " /v3/smtp/" in endpoint)
        out.append(
            f"Pull: {pull.rows:,} rows in {smtp} `/smtp/*` requests ({pull.rows / max(smtp, 1):,.0f} rows each), "
            f"{smtp / SMTP_BUCKET:.1%} of the hour's bucket; the tap keeps `smtp_reserve_requests` (50) for the "
            "account's sending."
        )
    return out


def report(parts: dict[str, Any], command: str, elapsed: float, load_before: str) -> str:
    lines = [
        "## Closed loop: Brevo engagement back into Amplitude, tap-brevo and target-amplitude (issue 14)",
        "",
        (
            f"Run {benchlib.now_stamp()}: `{command}` ({elapsed:.0f} s in all); {load_before} before, "
            f"{benchlib.load_note()} after."
        ),
        "",
        f"Machine: {benchlib.machine()}.",
    ]
    if parts.get("target"):
        lines += ["", "### target-amplitude alone", "", target_table(parts["target"])]
    if parts.get("loop"):
        lines += [
            "",
            "### The loop: webhooks -> tap-brevo | target-amplitude -> Amplitude",
            "",
            loop_table(parts["loop"]),
        ]
    if parts.get("pull"):
        lines += ["", "### The pull: `GET /smtp/statistics/events`", "", pull_table(parts["pull"])]
    lines += ["", *(f"- {note}" for note in notes(parts)), "", METHOD]
    return "\n".join(lines)


def scaled_sizes(scale: float) -> dict[str, Any]:
    def size(n: int) -> int:
        return max(int(n * scale), 20)

    return {
        "target": tuple(size(n) for n in TARGET_SIZES),
        "rerun": size(RERUN_SIZE),
        "heavy": size(HEAVY_RECORDS),
        "contacts": size(CAMPAIGN_CONTACTS),
        "emails": size(TRANSACTIONAL_EMAILS),
    }


PARTS = ("target", "loop", "pull")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the default sizes (1 = target 10,000 "
                        "and 100,000 records, a campaign to 5,000 contacts, a send to 7,000 addresses)")  # fmt: skip
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts (results not written)")
    parser.add_argument("--no-results", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (inputs, configs, logs)")
    args = parser.parse_args(argv)
    only = args.only.split(",")
    if not set(only) <= set(PARTS):
        parser.error(f"--only takes {', '.join(PARTS)}")
    sizes = scaled_sizes(args.scale)
    work = Path(tempfile.mkdtemp(prefix="bench-closed-loop-"))
    load_before = benchlib.load_note()
    started = time.monotonic()
    parts: dict[str, Any] = {}
    try:
        with benchlib.sandbox(None, "--set", "amplitude.export_latency_hours=-1") as box:
            if box.admin("GET", "clock")["offset_seconds"] != 0:
                raise SystemExit("the sandbox clock is moved: latencies would be off")
            if "target" in only:
                parts["target"] = part_target(box, work, tap_schema(work), sizes)
            if "loop" in only:
                parts["loop"] = [run_loop(box, work, name, sizes["contacts"], batched)
                                 for name, batched in (("batched", True), ("unbatched", False))]  # fmt: skip
            if "pull" in only:
                parts["pull"] = part_pull(box, work, sizes["emails"])
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    command = benchlib.command_line("bench/closed_loop.py", argv)
    text = report(parts, command, time.monotonic() - started, load_before)
    print()
    print(text)
    if args.no_results or set(only) != set(PARTS):
        return
    benchlib.publish(SECTION, args.scale, text)


if __name__ == "__main__":
    main()
