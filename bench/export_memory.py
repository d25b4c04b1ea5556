"""Does a large Amplitude export stream from the sandbox with flat memory?

Bulk-seeds N events (default 1,000,000) into a fresh data directory, starts `sandbox serve` on it,
downloads the whole export over HTTP while sampling the sandbox process's RSS, checks the archive
(every event present), and prints events, bytes, seconds and RSS before / peak / after.

    .venv/bin/python bench/export_memory.py [--events 1000000] [--users N] [--days 30]
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import requests
from sandbox.amplitude import seed
from sandbox.process import running

MB = 1024 * 1024


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.every = every
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.every)


def count_events(archive_path: Path) -> tuple[int, int]:
    """(entries, events) of a downloaded export, reading members as streams."""
    entries = events = 0
    with zipfile.ZipFile(archive_path) as archive:
        for name in archive.namelist():
            entries += 1
            with archive.open(name) as raw, gzip.open(raw) as lines:
                events += sum(1 for _ in lines)
    return entries, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=0, help="default: events / 50")
    parser.add_argument("--days", type=float, default=30)
    args = parser.parse_args()
    users = args.users or max(1, args.events // 50)

    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        data_dir, archive_path = Path(tmp) / "data", Path(tmp) / "export.zip"
        started = time.monotonic()
        summary = seed.bulk_into_data_dir(
            data_dir, {"users": users, "events": args.events, "days": args.days, "mode": "bulk"}
        )
        print(f"bulk seed: {summary['events']:,} events, {users:,} users in {time.monotonic() - started:.1f} s")
        store = data_dir / "amplitude" / "us.sqlite3"
        print(f"store on disk: {store.stat().st_size / MB:,.0f} MB")

        with running("--data-dir", str(data_dir), "--set", "amplitude.export_latency_hours=-1") as sb:
            pid = sb.info["pid"]
            before = psutil.Process(pid).memory_info().rss
            sampler = RssSampler(pid)
            sampler.start()
            end = datetime.now(UTC) + timedelta(hours=1)
            window = {
                "start": (end - timedelta(days=args.days + 2)).strftime("%Y%m%dT%H"),
                "end": end.strftime("%Y%m%dT%H"),
            }
            started = time.monotonic()
            size = 0
            with requests.get(
                sb.amplitude["api"] + "/api/2/export", params=window,
                auth=(sb.amplitude["api_key"], sb.amplitude["secret_key"]), stream=True, timeout=3600,
            ) as response, archive_path.open("wb") as sink:  # fmt: skip
                response.raise_for_status()
                for chunk in response.iter_content(MB):
                    sink.write(chunk)
                    size += len(chunk)
            seconds = time.monotonic() - started
            sampler.stop.set()
            sampler.join()
            after = psutil.Process(pid).memory_info().rss

        entries, events = count_events(archive_path)
        print(
            f"export: {events:,} events in {entries:,} zip entries, {size / MB:,.1f} MB in {seconds:.1f} s ({size / MB / seconds:,.1f} MB/s)"
        )
        print(
            f"sandbox RSS: before {before / MB:.1f} MB, peak during export {sampler.peak / MB:.1f} MB, after {after / MB:.1f} MB"
        )
        if events != summary["events"]:
            raise SystemExit(f"export is missing events: {events} != {summary['events']}")


if __name__ == "__main__":
    main()
