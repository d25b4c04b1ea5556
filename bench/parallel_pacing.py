"""Does target-brevo's pacing hold when two processes share one Brevo account (issue 16, partitioned backfills)?

Brevo's rate limits are per account: two backfill partitions running at once draw on the same buckets, and each
target paces itself only from the x-sib-ratelimit-* headers of its own answers. One sandbox (general plan: 10
`POST /events/batch` a second, i.e. 2,000 events/s; real windows), the real `target-brevo` CLI on generated
events (stdin), and after each scenario the sandbox's request log (every 429 counted) and the targets' summaries:

    one        one process sends 2 x N events (the reference)
    two        two processes at once send N events each (different events), sharing one delivery ledger
    two-same   two processes at once send the same N events, sharing one ledger: each event must reach Brevo once

Brevo is emptied between scenarios (`POST /_sandbox/brevo/reset`: data and rate-limit counters).

    .venv/bin/python bench/parallel_pacing.py                 # N = 20,000: about 1.5 minutes
    .venv/bin/python bench/parallel_pacing.py --events 2000 --no-results   # a quick look
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import benchlib
from tap_amplitude import schemas
from target_efficiency import EVENT_MAPPING, TARGET, events, write_messages

SECTION = "parallel-pacing"
EVENTS_PER_PROCESS = 20_000
EVENTS_PER_BATCH = 200
CALLS_PER_SECOND = 10  # POST /events/batch, general plan
BATCH_ENDPOINT = "POST /v3/events/batch"
STATE_EVERY = 2_000  # records per STATE, like tap-amplitude's one STATE per exported hour


# ---------------------------------------------------------------- input


def event_messages(first: int, n: int) -> Iterator[dict[str, Any]]:
    """SCHEMA, then events `first` .. `first + n - 1` (their keys say which), a STATE every STATE_EVERY."""
    yield {"type": "SCHEMA", "stream": "events", "schema": schemas.EVENTS, "key_properties": ["uuid"]}
    for i, record in enumerate(events(n, max(n // 20, 1), random.Random(first)), start=1):
        record["uuid"] = f"00000000-0000-4000-8000-{first + i:012d}"
        yield {"type": "RECORD", "stream": "events", "record": record}
        if i % STATE_EVERY == 0 or i == n:
            yield {"type": "STATE", "value": {"bookmarks": {"events": {"from": first, "records": i}}}}


# ---------------------------------------------------------------- running targets at once


@dataclass
class Process:
    label: str
    wall: float
    summary: dict[str, Any]

    @property
    def rate(self) -> dict[str, Any]:
        return self.summary.get("rate_limit", {})

    @property
    def sent(self) -> int:
        return self.summary["objects"].get("events", {}).get("sent", 0)


@dataclass
class Scenario:
    name: str
    what: str
    processes: list[Process]
    wall: float  # first start to last exit
    statuses: dict[str, int]  # of POST /events/batch, from the sandbox's log
    in_brevo: int
    expected_in_brevo: int
    busy_windows: int  # 1-second windows with 10 accepted batch calls (the account's limit used in full)
    windows: int  # 1-second windows from the first call to the last

    @property
    def calls(self) -> int:
        return sum(self.statuses.values())

    @property
    def accepted(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("2"))

    @property
    def limited(self) -> int:
        return self.statuses.get("429", 0)

    @property
    def floor(self) -> float:
        """Fewest seconds the limit allows the accepted calls in, starting with a full window."""
        return max(math.ceil(self.accepted / CALLS_PER_SECOND) - 1, 0)


def run_together(box: Any, work: Path, name: str, inputs: list[Path], ledger: Path) -> tuple[list[Process], float]:
    """Start one target-brevo per input at once (one shared ledger); wait for all of them."""
    started = time.perf_counter()
    running = []
    for index, messages in enumerate(inputs, start=1):
        label = f"{name}-{index}"
        config = {
            "api_key": box.brevo["api_key"],
            "api_url": box.brevo["api"],
            "ledger_path": str(ledger),
            "privacy_store_path": str(ledger.with_name("privacy.sqlite3")),
            "rejects_file": str(work / f"{label}.rejects.jsonl"),
            "summary_file": str(work / f"{label}.summary.json"),
            "event_mapping": EVENT_MAPPING,
            "send_old_events": True,  # the generated events are old: delivery is what is measured
        }
        (work / f"{label}.config.json").write_text(json.dumps(config))
        with messages.open("rb") as stdin, (work / f"{label}.log").open("wb") as log:
            process = subprocess.Popen(
                [str(TARGET), "--config", str(work / f"{label}.config.json")],
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        running.append((label, process, time.perf_counter()))
    done = []
    for label, process, began in running:
        if process.wait() != 0:
            tail = (work / f"{label}.log").read_text()[-3000:]
            raise SystemExit(f"target-brevo {label} exited {process.returncode}:\n{tail}")
        summary = json.loads((work / f"{label}.summary.json").read_text())
        done.append(Process(label, time.perf_counter() - began, summary))
    return done, time.perf_counter() - started


def batch_calls(box: Any) -> tuple[dict[str, int], int, int]:
    """Statuses of the batch calls in the log, and (busy windows, windows) over the calls' span."""
    log = box.requests_log(service="brevo", limit=1_000_000_000)
    statuses = log["statuses"].get("brevo", {}).get(BATCH_ENDPOINT, {})
    accepted = Counter(
        math.floor(call["started"])
        for call in log["recent"]
        if f"{call['method']} {call['route']}" == BATCH_ENDPOINT and 200 <= call["status"] < 300
    )
    if not accepted:
        return statuses, 0, 0
    windows = max(accepted) - min(accepted) + 1
    return statuses, sum(1 for n in accepted.values() if n >= CALLS_PER_SECOND), windows


def scenario(box: Any, work: Path, name: str, what: str, inputs: list[Path], expected: int) -> Scenario:
    box.admin("POST", "brevo/reset")
    box.admin("DELETE", "requests")
    folder = work / name
    folder.mkdir()
    processes, wall = run_together(box, folder, name, inputs, folder / "ledger.sqlite3")
    statuses, busy, windows = batch_calls(box)
    result = Scenario(
        name, what, processes, wall, statuses, box.admin("GET", "brevo/stats")["events"], expected, busy, windows
    )
    print(
        f"  {name}: {result.calls} batch calls, {result.limited} x 429, {wall:.1f} s (floor {result.floor:.0f} s), "
        f"{result.in_brevo:,} events in Brevo",
        flush=True,
    )
    if result.in_brevo != expected:
        raise SystemExit(f"{name}: Brevo holds {result.in_brevo:,} events, expected {expected:,}")
    return result


# ---------------------------------------------------------------- output

METHOD = """Each scenario: a sandbox Brevo account emptied (data and rate-limit counters), general plan (10
`POST /events/batch` a second, 200 events each: the 2,000 events/s ceiling), real 1-second windows. *429s* and *batch
calls* come from the sandbox's request log (every answer, 429s included); *full windows*: 1-second windows in which the
account accepted its 10 calls, over the windows from the first accepted call to the last; *floor*: (ceil(accepted
calls / 10) - 1) s. `two-same` gives both processes the same events and one ledger: Brevo must hold each event once
(checked, as the event count of every scenario is)."""

READING = """Why two processes meet 429s (target-brevo/target_brevo/brevo/http.py): `BrevoHttp._pace` pauses a call only
when this process's own last answer in the bucket said `x-sib-ratelimit-remaining: 0`; the other process's calls show
only in the `remaining` of later answers, so each process works from a count the other has already spent and, near the
end of a window, sends a call the account refuses. The 429 is not an error: `_wait_for_window` sleeps
`x-sib-ratelimit-reset` (whole seconds rounded up: 1 s in a 1-second window, so it wakes up to a second after the
window has turned) and sends the call again; 50 429s in a row on one call would fail the run (`MAX_RATE_LIMIT_WAITS`).
While one process sleeps the other fills the account's windows, so the pair delivers at the account's rate, as one
process does: parallel partitions make a backfill no faster on the Brevo side, and cost the refused calls of the
*429 share* column."""


def table(results: list[Scenario]) -> str:
    rows = []
    for s in results:
        per_process = "; ".join(
            f"{p.label}: {p.sent:,} sent, {p.rate.get('429_waited', 0)} x 429 waited "
            f"({p.rate.get('429_wait_seconds', 0):.1f} s), {p.rate.get('paced_waits', 0)} paced "
            f"({p.rate.get('paced_wait_seconds', 0):.1f} s), {p.wall:.1f} s"
            for p in s.processes
        )
        rows.append(
            [
                s.name,
                len(s.processes),
                f"{s.in_brevo:,}",
                f"{s.calls:,}",
                s.limited,
                f"{100 * s.limited / max(s.calls, 1):.1f} %",
                f"{s.wall:.1f}",
                f"{s.floor:.0f}",
                f"{s.in_brevo / s.wall:,.0f}",
                f"{s.busy_windows}/{s.windows}",
                per_process,
            ]
        )
    head = ["scenario", "processes", "events in Brevo", "batch calls", "429s", "429 share", "wall s", "floor s",
            "events/s", "full windows", "per process (target summaries)"]  # fmt: skip
    return benchlib.table(head, rows, "lrrrrrrrrrl")


def write_results(results: list[Scenario], n: int, started_load: str, elapsed: float) -> None:
    body = "\n".join(
        [
            "## Two target-brevo processes on one Brevo account (issue 16)",
            "",
            (
                f"`.venv/bin/python bench/parallel_pacing.py --events {n}` ({benchlib.now_stamp()}, {elapsed:.0f} s "
                f"in all; {started_load} before, {benchlib.load_note()} after)."
            ),
            "",
            table(results),
            "",
            METHOD,
            "",
            READING,
        ]
    )
    benchlib.write_section(SECTION, body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=EVENTS_PER_PROCESS, help="events per process")
    parser.add_argument("--no-results", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args(argv)
    n = args.events
    started, load = time.monotonic(), benchlib.load_note()
    with tempfile.TemporaryDirectory(prefix="bench-parallel-pacing-") as tmp:
        work = Path(tmp)
        first, second, both = work / "first.jsonl", work / "second.jsonl", work / "both.jsonl"
        write_messages(first, event_messages(0, n))
        write_messages(second, event_messages(n, n))
        write_messages(both, event_messages(0, 2 * n))
        with benchlib.sandbox(work / "sandbox") as box:
            results = [
                scenario(box, work, "one", "one process, 2 x N events", [both], 2 * n),
                scenario(box, work, "two", "two processes, N events each", [first, second], 2 * n),
                scenario(box, work, "two-same", "two processes, the same N events", [first, first], n),
            ]
    print()
    print(table(results))
    if not args.no_results:
        write_results(results, n, load, time.monotonic() - started)
        print(f"\nwritten to {benchlib.RESULTS.relative_to(benchlib.REPO)}")


if __name__ == "__main__":
    main()
