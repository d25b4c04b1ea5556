"""An export the seed generator cannot make: every event from a different user, all in one 24-hour window.

The seeder plans at least two events per user ($identify and Sign Up), so this data set is written through the
same store path as its bulk mode (`sandbox.amplitude.ingest.store_events`, many batches per commit) from a plan
of its own: user i gets the seeder's profile i (`seed_plan.profile`: ids, place, platform, device) and one
`Sign Up` that sets their email, names and plan, so each `users` record carries a realistic `user_properties`.
Cached in bench/out/data like the seeded sets, keyed by size and a hash of this file and the store code.

    .venv/bin/python bench/distinct_users.py [--events 1000000]   # builds (or finds) the data set
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import benchlib

DAY = timedelta(days=1)
EVENTS_PER_COMMIT = 50_000  # as the bulk seeder: commits dominate otherwise
BATCH = 1000  # events per simulated upload
_CODE = (
    "bench/distinct_users.py",
    "sandbox/sandbox/amplitude/seed_plan.py",
    "sandbox/sandbox/amplitude/store.py",
    "sandbox/sandbox/amplitude/ingest.py",
)


def _events(count: int, start: datetime, seed: int) -> Iterator[dict[str, Any]]:
    """`count` Sign Ups of `count` users, in time order, spread over the 24 hours from `start`."""
    from sandbox.amplitude.seed_plan import profile

    step_ms = (DAY.total_seconds() - 60) * 1000 / count
    first_ms = int(start.timestamp() * 1000)
    for index in range(count):
        who = profile(seed, index)
        moment = first_ms + int(index * step_ms)
        rng = random.Random(f"{seed}:distinct:{index}")
        yield {
            "user_id": who["user_id"],
            "device_id": who["device_id"],
            "event_type": "Sign Up",
            "time": moment,
            "session_id": moment,
            "event_properties": {"method": rng.choice(["email", "google", "github"])},
            "user_properties": {
                "$set": {
                    "email": who["email"],
                    "first_name": who["first_name"],
                    "last_name": who["last_name"],
                    "phone": who["phone"],
                    "device_type": who["device_model"],
                    "plan_type": "free",
                    "signup_date": start.strftime("%Y-%m-%d"),
                },
                "$setOnce": {"total_purchases": 0, "lifetime_revenue": 0, "initial_platform": who["platform"]},
            },
            "platform": who["platform"],
            "os_name": who["os_name"],
            "os_version": who["os_version"],
            "app_version": who["app_version"],
            "device_model": who["device_model"],
            "device_brand": who["device_brand"],
            "country": who["country"],
            "city": who["city"],
            "language": who["language"],
            "ip": who["ip"],
            "library": "bench-distinct-users/1.0",
        }


def _store(path: Path, count: int, start: datetime, seed: int) -> int:
    from sandbox.amplitude import config
    from sandbox.amplitude.ingest import store_events
    from sandbox.amplitude.project import Project
    from sandbox.amplitude.seed_plan import batches
    from sandbox.amplitude.wire import to_us

    settings = dict(config.DEFAULTS)
    project = Project("us", path / "amplitude" / "us.sqlite3", lambda: settings, "", "")
    stored = 0
    try:
        pending = batches(_events(count, start, seed), BATCH)
        done = False
        while not done:
            with project.store.write():
                in_commit = 0
                while in_commit < EVENTS_PER_COMMIT:
                    step = next(pending, None)
                    if step is None:
                        done = True
                        break
                    send_at, events = step
                    us = to_us(send_at)
                    in_commit += len(events)
                    stored += store_events(project, events, path="/batch", remote_ip=None, received_us=us, upload_us=us)
    finally:
        project.store.close()
    return stored


def dataset(events: int, *, seed: int = 42, fresh: bool = False) -> benchlib.Dataset:
    """`events` events of as many users in the one day that starts two days before today (UTC), reused while
    this file and the store code are unchanged."""
    digest = hashlib.sha256(b"".join((benchlib.REPO / name).read_bytes() for name in _CODE)).hexdigest()[:10]
    path = benchlib.OUT / "data" / f"amplitude-distinct-{events}-1d-s{seed}-{digest}"
    meta = path / "dataset.json"
    if fresh and path.exists():
        shutil.rmtree(path)
    if not meta.exists():
        shutil.rmtree(path, ignore_errors=True)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - 2 * DAY
        print(f"writing {events:,} events of {events:,} distinct users into {path.relative_to(benchlib.REPO)} ...")
        started = time.monotonic()
        stored = _store(path, events, start, seed)
        print(f"  written in {time.monotonic() - started:.0f} s", flush=True)
        summary = {"events": stored, "users": events, "start": start.isoformat(), "end": (start + DAY).isoformat()}
        meta.write_text(json.dumps(summary, indent=2))
    summary = json.loads(meta.read_text())
    start = datetime.fromisoformat(summary["start"])
    end = datetime.fromisoformat(summary["end"])  # exclusive: the tap reads exactly one 24-hour window
    if end > datetime.now(UTC) - timedelta(hours=4):
        raise SystemExit(f"data set {path} is too recent for the export latency; delete it or wait")
    return benchlib.Dataset(path, summary["events"], summary["users"], start, end)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="rebuild even if cached")
    args = parser.parse_args()
    data = dataset(args.events, fresh=args.fresh)
    print(f"{data.events:,} events, {data.users:,} users, {data.start:%Y-%m-%d %H:%M} .. {data.end:%Y-%m-%d %H:%M} UTC")
    print(data.path)


if __name__ == "__main__":
    main()
