"""Does tap-amplitude's memory stay flat as the export grows? (issue 7, item 2)

For each size, a bulk-seeded sandbox export (cached in bench/out/data; users = events / 50, over 30 days, read as
24 h windows) is read by the real `tap-amplitude` CLI twice: `events` only, then `events`, `users` and
`revenue`. Stdout goes to /dev/null; the peak RSS of the tap's process tree is sampled every 20 ms (psutil).

    .venv/bin/python bench/tap_memory.py            # 100,000 and 1,000,000 events (make bench)
    .venv/bin/python bench/tap_memory.py --large    # also 5,000,000 events, and --distinct-users (make bench-large)
    .venv/bin/python bench/tap_memory.py --sizes 100000,300000
    .venv/bin/python bench/tap_memory.py --distinct-users [--events 1000000] [--repeat 2]   # only that scenario

Memory may grow with what one window holds, never with the export's total size. Flat here means: the largest
size's peak is within FLAT_MB of the smallest's.

--distinct-users (issue 16): N events from N distinct users in one 24-hour window (bench/distinct_users.py),
where the `users` aggregation must spill to disk to stay under GOAL_RSS_MB, against N events of 37 users over
one day (seeded; nothing to spill). Each is read with events, users and revenue selected; the distinct-users
export as shipped (spilling past USERS_IN_MEMORY users) and with the bound lifted (everything in memory), for the
cost of the spill on the same data, alternated --repeat times; then, in this process, the users aggregation alone
on that export (decode + add + records, spilling and not, AGGREGATION_ROUNDS times each), where the difference is
the spill's own CPU cost, clear of the download and the sandbox's share of two CPUs. About 10 to 15 minutes at
1,000,000 events on a shared 2-CPU machine once the data sets are cached (building them takes about 4 and 5
minutes), hence only in --large.
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
import time
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchlib
import distinct_users

GOAL_RSS_MB = 250
FLAT_MB = 25
FEW_USERS = 37  # the figure for a window of few users
DISTINCT_EVENTS = 1_000_000  # and as many users, in one window (the benchmark)
DISTINCT_REPEAT = 2
AGGREGATION_ROUNDS = 3
# tap-amplitude with the users bound lifted: the whole window in memory, as before the spill existed.
_NO_SPILL = (
    "import tap_amplitude.derive as derive; derive.USERS_IN_MEMORY = 1 << 62; "
    "from tap_amplitude.tap import TapAmplitude; TapAmplitude.cli()"
)

_EMITTED = re.compile(r"emitted events=(\d+) users=(\d+) revenue=(\d+) groups=(\d+)")


def run_tap(config: dict[str, Any], streams: Sequence[str], name: str, **options: Any) -> benchlib.TapRun:
    """`benchlib.run_tap`, with the record counts read from the tap's export summary when its log has no METRIC
    lines (the tap shows them at debug level only)."""
    run = benchlib.run_tap(config, streams, name, **options)
    if not run.records and (found := _EMITTED.search(run.measured.text())):
        counts = dict(zip(("events", "users", "revenue", "groups"), map(int, found.groups()), strict=True))
        run.records = {stream: counts[stream] for stream in streams if stream in counts}
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help="add 5,000,000 events")
    parser.add_argument("--sizes", help="comma-separated event counts (overrides the defaults)")
    parser.add_argument("--no-results", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--distinct-users", action="store_true", help="only the distinct-users scenario")
    parser.add_argument("--events", type=int, default=DISTINCT_EVENTS, help="events of the distinct-users scenario")
    parser.add_argument("--repeat", type=int, default=DISTINCT_REPEAT, help="runs of each distinct-users variant")
    args = parser.parse_args()
    if args.distinct_users:
        distinct_users_scenario(args.events, args.repeat, not args.no_results)
        return
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [100_000, 1_000_000]
    if args.large and not args.sizes:
        sizes.append(5_000_000)

    load_before = benchlib.load_note()
    results: list[tuple[int, int, int, str, benchlib.TapRun]] = []
    for size in sizes:
        data = benchlib.dataset(size)
        with benchlib.sandbox(data) as sandbox:
            for streams in (("events",), benchlib.EXPORT_STREAMS):
                label = "+".join(streams)
                run = run_tap(benchlib.tap_config(sandbox, data), streams, f"memory-{size}-{label}")
                if run.records.get("events", 0) != data.events:
                    raise SystemExit(f"the tap emitted {run.records.get('events')} events, expected {data.events}")
                results.append((size, data.users, len(data.hour_windows()), label, run))
                print(
                    f"==> {size:,} events, {label}: peak RSS {run.measured.peak_mb:.0f} MB, "
                    f"{data.events / run.measured.seconds:,.0f} events/s ({run.measured.seconds:.1f} s); "
                    f"records {run.records}",
                    flush=True,
                )
    load_after = benchlib.load_note()

    rows = [
        [
            f"{size:,}",
            f"{users:,}",
            f"{run.records['users'] / windows:,.0f}" if "users" in run.records else "-",
            label,
            f"**{run.measured.peak_mb:.0f} MB**",
            f"{size / run.measured.seconds:,.0f}",
            f"{run.measured.seconds:.1f} s",
            ", ".join(f"{k} {v:,}" for k, v in sorted(run.records.items())),
        ]
        for size, users, windows, label, run in results
    ]
    lines = [
        (
            f"Run {benchlib.now_stamp()}: `{' '.join(['.venv/bin/python', 'bench/tap_memory.py', *sys.argv[1:]])}`; "
            f"{load_before} before, {load_after} after."
        ),
        "",
        f"Machine: {benchlib.machine()}.",
        "",
        benchlib.table(
            ["Events", "Users", "Users per window", "Streams", "Peak RSS", "Events/s", "Wall", "Records"],
            rows,
            "rrrlrrrl",
        ),
        "",
    ]
    for label in sorted({r[3] for r in results}, key=len):
        peaks = [(size, run.measured.peak_mb) for size, _u, _w, l, run in results if l == label]
        growth = peaks[-1][1] - peaks[0][1]
        flat = growth <= FLAT_MB
        under = all(mb < GOAL_RSS_MB for _s, mb in peaks)
        lines.append(
            f"- {label}: {peaks[0][1]:.0f} MB at {peaks[0][0]:,} events -> {peaks[-1][1]:.0f} MB at {peaks[-1][0]:,} "
            f"({growth:+.0f} MB): {'flat' if flat else '**grows**'}; under {GOAL_RSS_MB} MB at every size: "
            f"{'yes' if under else '**no**'}."
        )
    lines.append(
        f"- Flat means the largest size's peak is within {FLAT_MB} MB of the smallest's. With `users`, memory "
        'follows the distinct users of one export window ("Users per window": users records / windows; '
        "the data sets keep 50 events per user, so bigger ones have more users per day), not the "
        "export's size, and only up to the users it keeps in memory (past them it spills: `--distinct-users`)."
    )
    report = "\n".join(lines)
    print()
    print(report)
    if not args.no_results:
        name = "tap-memory" + ("" if sizes == [100_000, 1_000_000] else "-" + "-".join(map(str, sizes)))
        title = "Tap memory scaling, " + ", ".join(f"{size:,}" for size in sizes) + " events (issue 7, item 2)"
        benchlib.write_section(name, f"## {title}\n\n" + report)
        print(f"\nwritten to {benchlib.RESULTS.relative_to(benchlib.REPO)}")
    if args.large and not args.sizes:
        distinct_users_scenario(args.events, args.repeat, not args.no_results)


def download_export(sandbox: Any, data: benchlib.Dataset, path: Path) -> Path:
    """The data set's one export window, saved by a bare client."""
    import requests

    ((first, last),) = data.hour_windows()
    amplitude = sandbox.amplitude
    with requests.get(
        f"{amplitude['api']}/api/2/export",
        params={"start": first, "end": last},
        auth=(amplitude["api_key"], amplitude["secret_key"]),
        stream=True,
        timeout=3600,
    ) as response:
        response.raise_for_status()
        with path.open("wb") as sink:
            for chunk in response.iter_content(benchlib.MB):
                sink.write(chunk)
    return path


def aggregation_seconds(export: Path, in_memory: int | None) -> tuple[float, int]:
    """(CPU seconds, users): every line of the export decoded as the tap does, then the users aggregation alone
    (`add` per event, then every record built), in this process."""
    from tap_amplitude.derive import UserAggregator
    from tap_amplitude.events import EventDecoder

    decode = EventDecoder().decode
    window = datetime(2000, 1, 1, tzinfo=UTC)
    started = time.process_time()
    users = UserAggregator(window, window, in_memory=in_memory)
    add = users.add
    with zipfile.ZipFile(export) as archive:
        for name in archive.namelist():
            with archive.open(name) as member, gzip.open(member) as lines:
                for line in lines:
                    add(decode(line))
    count = sum(1 for _record in users.records())
    return time.process_time() - started, count


def distinct_users_scenario(events: int, repeat: int, write: bool) -> None:
    """Peak RSS and speed of the tap on `events` events of `events` distinct users in one window, with and without
    the users spill (alternated, `repeat` times each, best kept), and on `events` events of FEW_USERS users."""
    from tap_amplitude.derive import USERS_IN_MEMORY

    few = benchlib.dataset(events, users=FEW_USERS, days=1)
    many = distinct_users.dataset(events)

    def download_export_once(data: benchlib.Dataset) -> Path:
        with benchlib.sandbox(data) as sandbox:
            return download_export(sandbox, data, benchlib.OUT / f"distinct-users-{events}.zip")

    plan = [
        (f"{FEW_USERS} users", few, None, 1),
        ("distinct users, spill (as shipped)", many, None, repeat),
        ("distinct users, all in memory", many, [sys.executable, "-c", _NO_SPILL], repeat),
    ]
    load_before = benchlib.load_note()
    runs: dict[str, list[benchlib.TapRun]] = {label: [] for label, *_ in plan}
    for round_ in range(repeat):
        for label, data, command, times in plan:
            if round_ >= times:
                continue
            with benchlib.sandbox(data) as sandbox:
                name = f"distinct-users-{events}-{'few' if data is few else 'memory' if command else 'spill'}"
                run = run_tap(benchlib.tap_config(sandbox, data), benchlib.EXPORT_STREAMS, name, command=command)
            if run.records.get("events", 0) != data.events:
                raise SystemExit(f"{label}: the tap emitted {run.records.get('events')} events, expected {data.events}")
            if data is many and run.records.get("users") != data.users:
                raise SystemExit(f"{label}: the tap emitted {run.records.get('users')} users, expected {data.users}")
            runs[label].append(run)
            print(
                f"==> {label}: peak RSS {run.measured.peak_mb:.0f} MB, {run.measured.seconds:.1f} s wall, "
                f"read {run.read_seconds:.1f} s ({data.events / run.read_seconds:,.0f} events/s), "
                f"{run.measured.cpu_seconds:.1f} s CPU; records {run.records}",
                flush=True,
            )
    # The spill's own cost, away from the sandbox and the download: the same decode + users aggregation in this
    # process, with the bound as shipped and lifted, alternated; the difference is the spill.
    export = download_export_once(many)
    alone: dict[bool, list[float]] = {True: [], False: []}
    for _round in range(AGGREGATION_ROUNDS):
        for spills in (True, False):
            seconds, count = aggregation_seconds(export, None if spills else 1 << 62)
            if count != many.users:
                raise SystemExit(f"the aggregation gave {count} users, expected {many.users}")
            alone[spills].append(seconds)
            print(f"==> users aggregation alone, {'spill' if spills else 'in memory'}: {seconds:.1f} s CPU", flush=True)
    export.unlink()
    load_after = benchlib.load_note()

    def best(label: str) -> tuple[float, float, float, float]:
        """(peak MB, wall s, read s, CPU s): the highest peak, the lowest times."""
        done = runs[label]
        return (
            max(r.measured.peak_mb for r in done),
            min(r.measured.seconds for r in done),
            min(r.read_seconds for r in done),
            min(r.measured.cpu_seconds for r in done),
        )

    rows = []
    for label, data, _command, times in plan:
        peak, wall, read, cpu = best(label)
        rows.append(
            [
                label,
                f"{data.users:,}",
                f"{len(data.hour_windows())}",
                f"**{peak:.0f} MB**",
                f"{wall:.1f} s",
                f"{read:.1f} s",
                f"**{data.events / read:,.0f}**",
                f"{cpu:.1f} s",
                f"{data.events / cpu:,.0f}",
                f"{times}",
                ", ".join(f"{k} {v:,}" for k, v in sorted(runs[label][0].records.items())),
            ]
        )
    (few_peak, _w, few_read, few_cpu), spill, memory = (best(label) for label, *_ in plan)
    spill_us = (min(alone[True]) - min(alone[False])) / events * 1e6
    command = ["`.venv/bin/python", "bench/tap_memory.py", "--distinct-users"]
    if events != DISTINCT_EVENTS:
        command += ["--events", str(events)]
    if repeat != DISTINCT_REPEAT:
        command += ["--repeat", str(repeat)]
    lines = [
        f"Run {benchlib.now_stamp()}: {' '.join(command)}`; {load_before} before, {load_after} after.",
        "",
        f"Machine: {benchlib.machine()}.",
        "",
        benchlib.table(
            [
                "Export",
                "Users",
                "Windows",
                "Peak RSS",
                "Wall",
                "Read",
                "Events/s (read)",
                "CPU",
                "Events per CPU s",
                "Runs",
                "Records",
            ],
            rows,
            "lrrrrrrrrrl",
        ),
        "",
        (
            f"- {events:,} distinct users in one window, spilling past {USERS_IN_MEMORY:,} users in memory: peak RSS "
            f"**{spill[0]:.0f} MB** (goal < {GOAL_RSS_MB} MB: {'met' if spill[0] < GOAL_RSS_MB else '**missed**'}); "
            f"the same export with everything in memory: {memory[0]:,.0f} MB."
        ),
        (
            f"- Cost of the spill on the same data: {events / spill[2]:,.0f} against {events / memory[2]:,.0f} "
            f"events/s read ({spill[2] / memory[2] - 1:+.0%} read time), {spill[3]:.1f} against {memory[3]:.1f} CPU "
            f"seconds ({spill[3] / memory[3] - 1:+.0%} CPU, {(spill[3] - memory[3]) / events * 1e6:.1f} us per user)."
        ),
        (
            f"- The users aggregation alone (decoding every line, `add` per event, every record built; in the bench "
            f"process, best of {AGGREGATION_ROUNDS}): {min(alone[True]):.1f} s CPU spilling against "
            f"{min(alone[False]):.1f} s in memory, so the spill costs **{spill_us:.1f} us of CPU per user** "
            f"({min(alone[True]) / min(alone[False]) - 1:+.0%} on this work; per run: "
            f"{', '.join(f'{t:.1f}' for t in alone[True])} s against {', '.join(f'{t:.1f}' for t in alone[False])} s)."
        ),
        (
            f"- {FEW_USERS} users (nothing to spill): {few_peak:.0f} MB, {events / few_read:,.0f} events/s read, "
            f"{few_cpu:.1f} CPU seconds."
        ),
        (
            "- Wall: the tap's whole run, the export's download included (one 24 h window cannot be read while it "
            "downloads, and the sandbox builds the zip while it serves it). Read: the tap's own work on the window "
            "(decode, aggregate, emit every record, users included), summed from its per-window log lines. CPU: user "
            "+ system seconds of the tap's process tree. Best of the runs for each; the machine is shared, so wall "
            "and read times move with its load more than CPU seconds do."
        ),
    ]
    report = "\n".join(lines)
    print()
    print(report)
    if write:
        title = f"Tap memory at {events:,} distinct users in one export window: the users spill (issue 16)"
        name = "tap-memory-distinct-users" + ("" if events == DISTINCT_EVENTS else f"-{events}")
        benchlib.write_section(name, f"## {title}\n\n" + report)
        print(f"\nwritten to {benchlib.RESULTS.relative_to(benchlib.REPO)}")


if __name__ == "__main__":
    main()
