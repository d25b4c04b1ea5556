"""The whole pipeline, as users run it: `meltano run tap-amplitude target-brevo` (issue 7, item 4).

A fresh sandbox data directory is bulk-seeded with realistic events (users = events / 50, over 30 days; the
seed's cohorts active_users, power_users, churning_users), Brevo gets the 12 lists meltano.yml's `lists` mapping
needs (ids 10-12 are the cohorts' lists), and the repository's meltano.yml runs once, end to end, with the
sandbox's URLs and keys in environment variables and its own Meltano system database, ledger and reports.
The sandbox keeps its default limits (Brevo's `general` plan rate limits, 0.5 s imports), except that cohort
download jobs take 1 s (default 3 s).

Reported: wall time of `meltano run`, Amplitude events moved per second, what reached Brevo (from the target's
run summary and the sandbox), Brevo calls and 429s, and the peak RSS of the whole process tree (Meltano, tap,
target). Brevo's rate limits (10 event-batch calls of at most 200 events per second) bound this figure.

    .venv/bin/python bench/pipeline.py            # 50,000 events (make bench)
    .venv/bin/python bench/pipeline.py --large    # 500,000 events (make bench-large)
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import benchlib
from benchlib import REPO

MELTANO = benchlib.VENV_BIN / "meltano"
BREVO_LISTS = [f"List {i}" for i in range(1, 10)] + ["Active users", "Power users", "Churning users"]


def ensure_plugins() -> None:
    """`meltano install` when a plugin's virtualenv is missing or cannot import its plugin (a dependency added
    since it was installed); the virtualenvs are shared with the e2e tests."""
    checks = [
        (REPO / ".meltano/extractors/tap-amplitude/venv/bin/python", "tap_amplitude.tap"),
        (REPO / ".meltano/loaders/target-brevo/venv/bin/python", "target_brevo.target"),
    ]
    for python, module in checks:
        imports = (
            python.exists()
            and subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, check=False).returncode
            == 0
        )
        if not imports:
            print("==> meltano install", flush=True)
            subprocess.run([str(MELTANO), "install"], cwd=REPO, check=True, capture_output=True)
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help="500,000 events (default 50,000)")
    parser.add_argument("--events", type=int, help="override the number of events")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (data, logs, ledger, summary)")
    parser.add_argument("--no-results", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    events = args.events or (500_000 if args.large else 50_000)
    users = max(1, events // 50)
    days = 30

    ensure_plugins()
    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        from sandbox.amplitude import seed as sandbox_seed

        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days + 2)
        print(f"==> seeding {events:,} events for {users:,} users over {days} days", flush=True)
        seeded = sandbox_seed.bulk_into_data_dir(
            work / "data", {"mode": "bulk", "events": events, "users": users, "days": days, "start": start.isoformat()}
        )
        load_before = benchlib.load_note()
        # Cohort jobs take 1 s instead of the sandbox's default 3 s: the cohorts are not what this measures.
        with benchlib.sandbox(work / "data", "--set", "amplitude.cohort_request_seconds=1") as sandbox:
            sandbox.seed("brevo", lists=BREVO_LISTS)
            env = {
                "MELTANO_ENVIRONMENT": "demo",
                "MELTANO_DATABASE_URI": f"sqlite:///{work / 'meltano.db'}",
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                "TAP_AMPLITUDE_API_URL": sandbox.amplitude["api"],
                "TAP_AMPLITUDE_API_KEY": sandbox.amplitude["api_key"],
                "TAP_AMPLITUDE_SECRET_KEY": sandbox.amplitude["secret_key"],
                "TAP_AMPLITUDE_START_DATE": start.isoformat(),
                "TARGET_BREVO_API_URL": sandbox.brevo["api"],
                "TARGET_BREVO_API_KEY": sandbox.brevo["api_key"],
                "TARGET_BREVO_LEDGER_PATH": str(work / "ledger.sqlite3"),
                "TARGET_BREVO_PRIVACY_STORE_PATH": str(work / "privacy.sqlite3"),
                "TARGET_BREVO_REJECTS_FILE": str(work / "rejects.jsonl"),
                "TARGET_BREVO_SUMMARY_FILE": str(work / "summary.json"),
                # throughput of the whole export: its events are days old, so past the live window
                "TARGET_BREVO_SEND_OLD_EVENTS": "true",
            }
            print("==> meltano run tap-amplitude target-brevo", flush=True)
            run = benchlib.measure(
                [str(MELTANO), "run", "tap-amplitude", "target-brevo"], work / "meltano.log", env=env, cwd=REPO
            )
            if run.returncode != 0:
                raise benchlib.failed(run, "meltano run")
            stats = sandbox.admin("GET", "brevo/stats")
            calls = sandbox.requests_log("brevo")["counts"]
            calls = calls.get("brevo", calls)
        load_after = benchlib.load_note()
        summary = json.loads((work / "summary.json").read_text())
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    objects = summary.get("objects", {})
    delivered = objects.get("events", {})
    brevo_calls = sum(calls.values())
    too_many = summary.get("rate_limit", {}).get("429_waited", 0)
    per_route = ", ".join(f"`{route}` {count:,}" for route, count in sorted(calls.items(), key=lambda kv: -kv[1]))
    lists = summary.get("lists", {})
    rows = [
        [
            f"{seeded['events']:,}",
            f"{users:,}",
            f"{run.seconds:.1f} s",
            f"**{seeded['events'] / run.seconds:,.0f}**",
            f"{delivered.get('sent', 0):,} sent, {delivered.get('skipped_unmapped', 0):,} unmapped",
            f"{objects.get('contacts', {}).get('upserted', 0):,}",
            f"{objects.get('orders', {}).get('sent', 0):,}",
            ", ".join(
                f"{list_id}: +{info.get('added', 0) + info.get('added_by_import', 0) + info.get('added_by_upsert', 0):,}"
                for list_id, info in sorted(lists.items())
            ),
            f"{brevo_calls:,} ({too_many} x 429)",
            f"{run.peak_mb:.0f} MB",
        ]
    ]
    lines = [
        (
            f"Run {benchlib.now_stamp()}: `{' '.join(['.venv/bin/python', 'bench/pipeline.py', *sys.argv[1:]])}`; "
            f"{load_before} before, {load_after} after."
        ),
        "",
        f"Machine: {benchlib.machine()}.",
        "",
        benchlib.table(
            [
                "Amplitude events",
                "Users",
                "Wall",
                "Events/s",
                "Brevo events",
                "Contacts",
                "Orders",
                "List members added",
                "Brevo calls",
                "Peak RSS",
            ],
            rows,
            "rrrrlrrlrr",
        ),
        "",
        f"- Brevo contacts after the run: {stats.get('contacts', '?'):,}; calls by route: {per_route}.",
        (
            f"- The {delivered.get('sent', 0):,} mapped events need at least {math.ceil(delivered.get('sent', 0) / 200):,} "
            f"`/events/batch` calls, {math.ceil(delivered.get('sent', 0) / 200) / 10:.1f} s at 10 calls per second: the "
            "rest of the wall time is Meltano and plugin start-up, the export, cohort jobs, contact imports and orders."
        ),
        (
            "- Events/s: Amplitude events extracted per second of `meltano run` wall time (discovery, the export, "
            "cohort downloads, and every Brevo write). Brevo's `general` plan allows 10 `/events/batch` calls of at most "
            "200 events per second, so mapped events cannot go out faster than 2,000 per second whatever the tap does."
        ),
    ]
    report = "\n".join(lines)
    print()
    print(report)
    if not args.no_results:
        name = "pipeline" + ("" if events == 50_000 else f"-{events}")
        benchlib.write_section(
            name,
            f"## Pipeline, {seeded['events']:,} events: `meltano run tap-amplitude target-brevo` "
            "(issue 7, item 4)\n\n" + report,
        )
        print(f"\nwritten to {benchlib.RESULTS.relative_to(benchlib.REPO)}")


if __name__ == "__main__":
    main()
