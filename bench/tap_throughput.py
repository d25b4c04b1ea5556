"""How close is tap-amplitude to the speed limit of decoding an Amplitude export? (issue 7, item 1)

Bulk-seeds a sandbox export of realistic events (cached in bench/out/data), then, in one run, against the same
sandbox and the same export windows (24 h each, as the tap requests them):

1. download: a bare HTTP client saves every window's zip to disk (the sandbox's serving speed, for context);
2. floor: a bare script reads those zips, gunzips and decodes each line and re-encodes it (orjson and msgspec;
   the faster one is the floor), writing to /dev/null; it runs before and after the tap and the faster run counts;
3. the real `tap-amplitude` CLI with `events` selected, then with `events`, `users` and `revenue`, stdout to
   /dev/null, wall time from process start to exit, CPU time, peak RSS of its process tree (psutil, every
   20 ms); best of --repeat runs.

The headline ratio is the tap's end-to-end events/s (start-up, its own downloads, decoding, Singer output) over
the floor's decode-only events/s. Also reported: the same per CPU second (less sensitive to a shared machine's
load), the tap's reading phase alone (from its per-window log lines), and the sequential download + decode
figure. Results go to bench/RESULTS.md.

    .venv/bin/python bench/tap_throughput.py                  # 200,000 events (make bench)
    .venv/bin/python bench/tap_throughput.py --large          # 1,000,000 events (make bench-large)
    .venv/bin/python bench/tap_throughput.py --baseline DIR   # also time another tap_amplitude package in DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import benchlib
from benchlib import MB, OUT

GOAL_RATIO = 0.5
GOAL_RSS_MB = 250
FLOOR_MARK = "FLOOR "


# -- the floor: a bare decode loop, run as its own process -------------------------------------------------


def export_lines(path: Path) -> Iterator[bytes]:
    """Every line of every gzip member of an export zip (chunked zlib: the fastest way found to gunzip)."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            with archive.open(name) as member:
                inflate, rest = zlib.decompressobj(16 + zlib.MAX_WBITS), b""
                while chunk := member.read(1 << 16):
                    lines = (rest + inflate.decompress(chunk)).split(b"\n")
                    rest = lines.pop()
                    yield from lines
                if rest:
                    yield rest


def floor(codec: str, paths: list[Path]) -> None:
    if codec == "orjson":
        import orjson

        decode, encode = orjson.loads, orjson.dumps
    else:
        import msgspec

        decode, encode = msgspec.json.Decoder().decode, msgspec.json.Encoder().encode
    events = 0
    started = time.perf_counter()
    with open(os.devnull, "wb", buffering=1 << 20) as sink:
        for path in paths:
            for line in export_lines(path):
                sink.write(encode(decode(line)))
                sink.write(b"\n")
                events += 1
    seconds = time.perf_counter() - started
    print(FLOOR_MARK + json.dumps({"codec": codec, "events": events, "seconds": seconds}), file=sys.stderr)


@dataclass
class Reader:
    """One measured reader of the export: a floor run or a tap run."""

    label: str
    streams: str
    seconds: float  # floor: its decode loop; tap: process start to exit
    cpu_seconds: float  # the whole process (user + system)
    rss_mb: float
    records: dict[str, int] = field(default_factory=dict)
    read_seconds: float = 0.0  # tap: the reading phase from its per-window log lines
    export_seconds: float = 0.0  # tap: its export pass, start-up excluded


def run_floor(codec: str, paths: list[Path], name: str) -> Reader:
    """The floor in a fresh process."""
    log = OUT / "runs" / name / "floor.log"
    measured = benchlib.measure([sys.executable, __file__, "--floor", codec, *map(str, paths)], log)
    if measured.returncode != 0:
        raise benchlib.failed(measured, f"floor ({codec})")
    result = json.loads(
        next(line for line in measured.text().splitlines() if line.startswith(FLOOR_MARK))[len(FLOOR_MARK) :]
    )
    return Reader(
        f"floor ({codec}, decode only)",
        "-",
        result["seconds"],
        measured.cpu_seconds,
        measured.peak_mb,
        {"events": result["events"]},
    )


def download(sandbox, data: benchlib.Dataset, folder: Path) -> tuple[list[Path], float, int]:
    """Every export window of the data set saved to `folder` by a bare client: (files, seconds, bytes)."""
    import requests

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.zip"):
        old.unlink()
    amplitude = sandbox.amplitude
    session = requests.Session()
    session.auth = (amplitude["api_key"], amplitude["secret_key"])
    paths, size = [], 0
    started = time.monotonic()
    for first, last in data.hour_windows():
        with session.get(
            f"{amplitude['api']}/api/2/export", params={"start": first, "end": last}, stream=True, timeout=3600
        ) as response:
            if response.status_code == 404:
                continue
            response.raise_for_status()
            path = folder / f"{first}-{last}.zip"
            with path.open("wb") as sink:
                for chunk in response.iter_content(MB):
                    sink.write(chunk)
                    size += len(chunk)
            paths.append(path)
    return paths, time.monotonic() - started, size


# -- the benchmark -------------------------------------------------------------------------------------------


def rate(events: int, seconds: float) -> float:
    return events / seconds if seconds else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help="1,000,000 events (default 200,000)")
    parser.add_argument("--events", type=int, help="override the number of events")
    parser.add_argument(
        "--baseline", type=Path, help="a directory holding another tap_amplitude package to time as well (before/after)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tap configuration; the best counts")
    parser.add_argument("--no-results", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--floor", nargs="+", metavar=("CODEC", "ZIP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        floor(args.floor[0], [Path(p) for p in args.floor[1:]])
        return

    events = args.events or (1_000_000 if args.large else 200_000)
    data = benchlib.dataset(events)
    load_before = benchlib.load_note()
    taps: list[Reader] = []
    with benchlib.sandbox(data) as sandbox:
        print(f"==> download: the same {len(data.hour_windows())} export windows with a bare client", flush=True)
        paths, download_seconds, size = download(sandbox, data, OUT / "runs" / "throughput-download")
        print(
            f"    {size / MB:,.1f} MB in {download_seconds:.1f} s ({rate(data.events, download_seconds):,.0f} events/s)"
        )

        floors: list[Reader] = []

        def floor_pass(label: str) -> None:
            for codec in ("orjson", "msgspec"):
                floor_run = run_floor(codec, paths, f"throughput-floor-{codec}")
                if floor_run.records["events"] != data.events:
                    raise SystemExit(f"floor read {floor_run.records['events']} events, expected {data.events}")
                floors.append(floor_run)
                print(
                    f"==> floor {codec} ({label}): {rate(data.events, floor_run.seconds):,.0f} events/s "
                    f"({floor_run.seconds:.1f} s), peak RSS {floor_run.rss_mb:.0f} MB",
                    flush=True,
                )

        floor_pass("before the tap")
        variants = [("tap-amplitude", None, None)]
        if args.baseline:
            variants.append(
                ("baseline", [sys.executable, "-m", "tap_amplitude"], {"PYTHONPATH": str(args.baseline.resolve())})
            )
        for label, command, env in variants:
            for streams in (("events",), benchlib.EXPORT_STREAMS):
                name = f"throughput-{label}-{'+'.join(streams)}"
                runs = []
                for _ in range(args.repeat if label == "tap-amplitude" else 1):
                    run = benchlib.run_tap(benchlib.tap_config(sandbox, data), streams, name, command=command, env=env)
                    if run.records.get("events", 0) != data.events:
                        raise SystemExit(f"{label} emitted {run.records.get('events')} events, expected {data.events}")
                    runs.append(run)
                    print(
                        f"==> {label} [{'+'.join(streams)}]: {rate(data.events, run.measured.seconds):,.0f} events/s "
                        f"end to end ({run.measured.seconds:.1f} s, {run.measured.cpu_seconds:.1f} s CPU), peak RSS "
                        f"{run.measured.peak_mb:.0f} MB; records {run.records}",
                        flush=True,
                    )
                # Best of the runs, as for the floor: interference from other work only ever slows a run down.
                best_run = min(runs, key=lambda r: r.measured.seconds)
                taps.append(
                    Reader(
                        label,
                        "+".join(streams),
                        best_run.measured.seconds,
                        min(r.measured.cpu_seconds for r in runs),
                        max(r.measured.peak_mb for r in runs),
                        best_run.records,
                        best_run.read_seconds,
                        best_run.export_seconds,
                    )
                )
        floor_pass("after the tap")
    load_after = benchlib.load_note()

    best = min(floors, key=lambda f: f.seconds)
    best_cpu = min(floors, key=lambda f: f.cpu_seconds)
    floor_rate, floor_cpu_rate = rate(data.events, best.seconds), rate(data.events, best_cpu.cpu_seconds)
    floor_e2e = rate(data.events, download_seconds + best.seconds)
    lines = [
        (
            f"Run {benchlib.now_stamp()}: `{' '.join(['.venv/bin/python', 'bench/tap_throughput.py', *sys.argv[1:]])}`, "
            f"{data.events:,} events ({data.users:,} users, 30 days, {len(paths)} windows of 24 h, {size / MB:,.1f} MB "
            f"of zip); {load_before} before, {load_after} after."
        ),
        "",
        f"Machine: {benchlib.machine()}.",
        "",
    ]
    header = [
        "Reader",
        "Streams",
        "Events/s",
        "Ratio to floor",
        "Events per CPU second",
        "CPU ratio to floor",
        "Events/s reading",
        "Peak RSS",
        "Records",
    ]
    table_rows = []
    for reader in [*floors, *taps]:
        is_tap = reader in taps
        ratio = rate(data.events, reader.seconds) / floor_rate
        cpu_ratio = rate(data.events, reader.cpu_seconds) / floor_cpu_rate
        table_rows.append(
            [
                reader.label,
                reader.streams,
                f"{rate(data.events, reader.seconds):,.0f}",
                f"**{ratio:.2f}**" if is_tap else f"{ratio:.2f}",
                f"{rate(data.events, reader.cpu_seconds):,.0f}",
                f"{cpu_ratio:.2f}",
                f"{rate(data.events, reader.read_seconds):,.0f}" if reader.read_seconds else "-",
                f"{reader.rss_mb:.0f} MB",
                ", ".join(f"{k} {v:,}" for k, v in sorted(reader.records.items())) if is_tap else "-",
            ]
        )
    table_rows.append(
        [
            "bare download (sandbox export)",
            "-",
            f"{rate(data.events, download_seconds):,.0f}",
            "-",
            "-",
            "-",
            "-",
            "-",
            "-",
        ]
    )
    lines += [benchlib.table(header, table_rows, "llrrrrrrl"), ""]
    for tap in taps:
        if tap.label != "tap-amplitude":
            continue
        ratio = rate(data.events, tap.seconds) / floor_rate
        cpu_ratio = rate(data.events, tap.cpu_seconds) / floor_cpu_rate
        ok = ratio >= GOAL_RATIO and tap.rss_mb < GOAL_RSS_MB
        lines.append(
            f"- Goal (tap >= {GOAL_RATIO:.1f} x the floor's events/s, peak RSS < {GOAL_RSS_MB} MB), {tap.streams}: "
            f"{'met' if ok else '**missed**'} (ratio {ratio:.3f}, {tap.rss_mb:.0f} MB; per CPU second "
            f"{cpu_ratio:.2f}; start-up before the export pass {tap.seconds - tap.export_seconds:.1f} s of "
            f"{tap.seconds:.1f} s)."
        )
    tap_events = next(t for t in taps if t.label == "tap-amplitude" and t.streams == "events")
    lines += [
        (
            "- Events/s: the tap's from its process start to its exit (its own downloads included), against the "
            "floor's decode loop alone (the zips are already on disk): the strictest comparison. The floor is the "
            "faster of orjson and msgspec, best of a run before and a run after the tap; the tap's figures are the best "
            f"of {args.repeat} runs (peak RSS: the highest)."
        ),
        (
            f"- The sandbox's export (gzip level 6, written on the fly) serves {rate(data.events, download_seconds):,.0f} "
            "events/s to a bare client and takes a CPU while the tap reads, on a machine with two. End to end against "
            f"end to end, the floor would download and then decode at {floor_e2e:,.0f} events/s; the tap "
            f"({tap_events.streams}) reads one window while the next downloads and reaches "
            f"{rate(data.events, tap_events.seconds):,.0f}."
        ),
        (
            "- Events per CPU second: events over the user + system CPU time of the whole process (start-up, download "
            'thread, reading), which the shared machine\'s load moves less than wall time. "Events/s reading": the '
            "tap's per-window reading time summed from its log (decode, build, write), downloads excluded."
        ),
    ]
    report = "\n".join(lines)
    print()
    print(report)
    if not args.no_results:
        # One section per size, and one for a before/after comparison, so that runs do not erase each other.
        if args.baseline:
            name, title = "tap-before-after", f"Tap before and after the performance work, {data.events:,} events"
        else:
            name = "tap-throughput" + ("" if events == 200_000 else f"-{events}")
            title = f"Tap throughput, {data.events:,} events (issue 7, item 1)"
        benchlib.write_section(name, f"## {title}\n\n" + report)
        print(f"\nwritten to {benchlib.RESULTS.relative_to(benchlib.REPO)}")


if __name__ == "__main__":
    main()
