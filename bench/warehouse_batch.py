"""Tap -> warehouse at volume: RECORD messages against BATCH files, `tap-amplitude | target-postgres` (issue 16).

A bulk-seeded sandbox export (cached in bench/out/data; users = events / 50, over 30 days, read as 24 h windows)
goes through the real `tap-amplitude` CLI piped into meltano.yml's `target-postgres` (meltanolabs-target-postgres,
from `meltano install`, with the project's `dev` config) into the machine's PostgreSQL, once per mode, each into a
schema of its own:

- RECORD: the tap's default output, one RECORD message per row;
- BATCH jsonl.gz / jsonl: `batch_config` set, records written to JSON Lines files (gzip, or plain) of
  `batch_size` records, announced by BATCH messages (tap_amplitude/batches.py).

Streams: events, users and revenue (one export pass). Reported per mode: wall time from the tap's start to the
target's exit, peak RSS and CPU time of each process (getrusage of each child: exact, not sampled), rows landed per
table, and whether every table holds the same rows in every mode (a digest of the tap's columns, in key order;
the target's `_sdc_*` columns are left out: the target fills them from RECORD messages only).

    .venv/bin/python bench/warehouse_batch.py            # 200,000 events, RECORD and BATCH jsonl.gz (3-6 min)
    .venv/bin/python bench/warehouse_batch.py --plain    # also BATCH jsonl without compression (+1-2 min)
    .venv/bin/python bench/warehouse_batch.py --large    # 1,000,000 events (about 25 min)
    .venv/bin/python bench/warehouse_batch.py --events 50000 --no-results

On this 2-CPU machine RECORD messages move about 1,000 events/s into PostgreSQL (the target's per-record work),
so 1,000,000 events take over 15 minutes in that mode alone: the default run measures 200,000.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import benchlib
import psycopg
from benchlib import MB, OUT, REPO

sys.path.insert(0, str(REPO))  # run as a script from bench/: the repository's demo package reads meltano.yml
from demo.project import plugin_config

MELTANO = benchlib.VENV_BIN / "meltano"
TARGET = REPO / ".meltano/loaders/target-postgres/venv/bin/target-postgres"
STREAM_KEYS = {"events": "uuid", "users": "amplitude_id", "revenue": "uuid"}  # the tables' primary keys
DEFAULT_EVENTS = 200_000
LARGE_EVENTS = 1_000_000
MODES: dict[str, dict[str, Any] | None] = {  # tap output -> batch_config encoding (None: RECORD messages)
    "RECORD": None,
    "BATCH jsonl.gz": {"format": "jsonl", "compression": "gzip"},
}
PLAIN_MODE = ("BATCH jsonl", {"format": "jsonl", "compression": "none"})


@dataclass
class Process:
    peak_rss: int  # bytes
    cpu_seconds: float
    returncode: int
    log: Path


@dataclass
class Run:
    mode: str
    seconds: float
    tap: Process
    target: Process
    rows: dict[str, int]
    digests: dict[str, str]
    batch_files: int
    batch_bytes: int


def ensure_target() -> None:
    if not TARGET.exists():
        print("==> meltano install --plugin-type loader target-postgres", flush=True)
        subprocess.run(
            [str(MELTANO), "install", "--plugin-type", "loader", "target-postgres"],
            cwd=REPO,
            check=True,
            capture_output=True,
        )


def target_config(schema: str) -> dict[str, Any]:
    """meltano.yml's target-postgres config as `meltano run` in `dev` passes it, into `schema`."""
    return {**plugin_config("loaders", "target-postgres", "dev"), "default_target_schema": schema}


def conninfo(config: dict[str, Any]) -> str:
    return psycopg.conninfo.make_conninfo(
        host=config["host"],
        port=config["port"],
        user=config["user"],
        dbname=config["database"],
        password=config.get("password") or None,
    )


def pipe(tap: list[str], target: list[str], work: Path) -> tuple[float, Process, Process]:
    """`tap | target`, stderr of each to a log in `work`; each child reaped with its own resource usage."""
    read_end, write_end = os.pipe()
    started = time.monotonic()
    with open(work / "tap.log", "wb") as tap_log, open(work / "target.log", "wb") as target_log, \
            open(work / "target-state.jsonl", "wb") as target_out:  # fmt: skip
        tap_process = subprocess.Popen(tap, stdout=write_end, stderr=tap_log)
        target_process = subprocess.Popen(target, stdin=read_end, stdout=target_out, stderr=target_log)
    os.close(read_end)
    os.close(write_end)
    finished = [reap(tap_process, work / "tap.log"), reap(target_process, work / "target.log")]
    return time.monotonic() - started, finished[0], finished[1]


def reap(process: subprocess.Popen[bytes], log: Path) -> Process:
    """Wait for `process` and read its own resource usage (wait4), not its siblings'."""
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return Process(
        usage.ru_maxrss * 1024,  # Linux: kilobytes
        usage.ru_utime + usage.ru_stime,
        process.returncode,
        log,
    )


def landed(config: dict[str, Any], schema: str) -> tuple[dict[str, int], dict[str, str]]:
    """Rows per table, and a digest of each table's rows over the tap's columns (not the target's `_sdc_*`)."""
    rows: dict[str, int] = {}
    digests: dict[str, str] = {}
    with psycopg.connect(conninfo(config)) as db:
        for table, key in STREAM_KEYS.items():
            columns = [
                name
                for (name,) in db.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                    " AND column_name NOT LIKE '\\_sdc\\_%%' ORDER BY column_name",
                    (schema, table),
                )
            ]
            listed = ", ".join(f'"{name}"' for name in columns)
            count, digest = db.execute(
                f'SELECT count(*), md5(string_agg(row({listed})::text, E\'\\n\' ORDER BY {key})) FROM "{schema}"."{table}"'
            ).fetchone()
            rows[table], digests[table] = count, digest
    return rows, digests


def run_mode(mode: str, encoding: dict[str, Any] | None, data: benchlib.Dataset, sandbox: Any) -> Run:
    name = "warehouse-" + mode.lower().replace(" ", "-").replace(".", "-")
    work = OUT / "runs" / name
    shutil.rmtree(work, ignore_errors=True)
    files = work / "batches"
    files.mkdir(parents=True)
    schema = "bench_" + name.replace("-", "_")
    config = target_config(schema)
    with psycopg.connect(conninfo(config), autocommit=True) as db:
        db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    extra = {"batch_config": {"encoding": encoding, "storage": {"root": files.as_uri()}}} if encoding else {}
    tap_config = benchlib.tap_config(sandbox, data, **extra)
    (work / "tap-config.json").write_text(json.dumps(tap_config))
    (work / "catalog.json").write_text(json.dumps(benchlib.tap_catalog(benchlib.EXPORT_STREAMS)))
    (work / "target-config.json").write_text(json.dumps(config))
    tap = [str(benchlib.TAP), "--config", str(work / "tap-config.json"), "--catalog", str(work / "catalog.json")]
    target = [str(TARGET), "--config", str(work / "target-config.json")]
    print(f"==> {mode}: tap-amplitude | target-postgres into {schema}", flush=True)
    seconds, tap_process, target_process = pipe(tap, target, work)
    for what, process in (("tap-amplitude", tap_process), ("target-postgres", target_process)):
        if process.returncode != 0:
            tail = "\n".join(process.log.read_text(errors="replace").splitlines()[-25:])
            raise SystemExit(f"{what} ({mode}) exited with {process.returncode} (log {process.log}):\n{tail}")
    batch_files = [path.stat().st_size for path in files.iterdir() if path.is_file()]
    rows, digests = landed(config, schema)
    shutil.rmtree(files, ignore_errors=True)
    with psycopg.connect(conninfo(config), autocommit=True) as db:
        db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    run = Run(
        mode,
        seconds,
        tap_process,
        target_process,
        rows,
        digests,
        len(batch_files),
        sum(batch_files),
    )
    print(
        f"    {seconds:.1f} s; tap {tap_process.peak_rss / MB:.0f} MB, {tap_process.cpu_seconds:.1f} s CPU; "
        f"target {target_process.peak_rss / MB:.0f} MB, {target_process.cpu_seconds:.1f} s CPU; rows {rows}",
        flush=True,
    )
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help=f"{LARGE_EVENTS:,} events (default {DEFAULT_EVENTS:,})")
    parser.add_argument("--events", type=int, help="override the number of events")
    parser.add_argument("--plain", action="store_true", help="also BATCH files without compression")
    parser.add_argument("--no-results", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    events = args.events or (LARGE_EVENTS if args.large else DEFAULT_EVENTS)

    ensure_target()
    data = benchlib.dataset(events)
    load_before = benchlib.load_note()
    with benchlib.sandbox(data) as sandbox:
        modes = [*MODES.items(), *([PLAIN_MODE] if args.plain else [])]
        runs = [run_mode(mode, encoding, data, sandbox) for mode, encoding in modes]
    load_after = benchlib.load_note()

    record = runs[0]
    same_rows = all(run.rows == record.rows and run.digests == record.digests for run in runs)
    rows = [
        [
            run.mode,
            f"**{run.seconds:.1f} s**",
            f"{record.seconds / run.seconds:.2f}x",
            f"{data.events / run.seconds:,.0f}",
            f"{run.tap.peak_rss / MB:.0f} MB",
            f"{run.tap.cpu_seconds:.1f} s",
            f"{run.target.peak_rss / MB:.0f} MB",
            f"{run.target.cpu_seconds:.1f} s",
            f"{run.batch_files:,} files, {run.batch_bytes / MB:,.0f} MB" if run.batch_files else "-",
            ", ".join(f"{table} {count:,}" for table, count in run.rows.items()),
        ]
        for run in runs
    ]
    fastest = min(runs, key=lambda run: run.seconds)
    command = " ".join([".venv/bin/python", "bench/warehouse_batch.py", *sys.argv[1:]])
    lines = [
        f"Run {benchlib.now_stamp()}: `{command}`; {load_before} before, {load_after} after.",
        "",
        f"Machine: {benchlib.machine()}.",
        "",
        benchlib.table(
            [
                "Tap output",
                "Wall",
                "vs RECORD",
                "Events/s",
                "Tap peak RSS",
                "Tap CPU",
                "Target peak RSS",
                "Target CPU",
                "Batch files",
                "Rows landed",
            ],
            rows,
            "lrrrrrrrrl",
        ),
        "",
        (
            f"- {data.events:,} events ({data.users:,} users, 30 days, 24 h export windows); streams events, users, "
            "revenue; `tap-amplitude | target-postgres` (meltanolabs-target-postgres 0.8.1, meltano.yml's config: "
            "INSERTs, not COPY) into PostgreSQL on this machine, one fresh schema per mode."
        ),
        (
            f"- Same rows in every mode: {'yes' if same_rows else '**no**'} (row counts and an md5 of each table's "
            "rows over the tap's columns, in key order; the target's `_sdc_*` columns differ by design: it fills "
            "them from RECORD messages only)."
        ),
        (
            f"- Fastest: {fastest.mode}, {record.seconds / fastest.seconds:.2f}x as fast as RECORD. BATCH skips, in "
            "the target, per-record JSON parsing of Singer messages, JSON Schema validation and the `_sdc_*` "
            "metadata; in the tap, the RECORD envelope. Batch files hold `batch_size` (10,000) records; "
            "every file of a checkpoint is announced before the STATE that covers it."
        ),
        (
            "- Wall: the tap's start to the target's exit. Peak RSS and CPU: each process's own getrusage "
            "(ru_maxrss, user + system), exact."
        ),
    ]
    report = "\n".join(lines)
    print()
    print(report)
    if not same_rows:
        raise SystemExit("the modes landed different rows")
    if not args.no_results:
        name = "warehouse-batch" + ("" if events == DEFAULT_EVENTS else f"-{events}")
        title = f"Tap -> warehouse, {data.events:,} events: RECORD vs BATCH messages into PostgreSQL (issue 16)"
        benchlib.write_section(name, f"## {title}\n\n" + report)
        print(f"\nwritten to {benchlib.RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
