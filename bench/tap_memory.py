"""Does tap-amplitude's memory stay flat as the export grows? (issue 7, item 2)

For each size, a bulk-seeded sandbox export (cached in bench/out/data; users = events / 50, over 30 days, read as
24 h windows) is read by the real `tap-amplitude` CLI twice: `events` only, then `events`, `users` and
`revenue`. Stdout goes to /dev/null; the peak RSS of the tap's process tree is sampled every 20 ms (psutil).

    .venv/bin/python bench/tap_memory.py            # 100,000 and 1,000,000 events (make bench)
    .venv/bin/python bench/tap_memory.py --large    # also 5,000,000 events (make bench-large)
    .venv/bin/python bench/tap_memory.py --sizes 100000,300000

Memory may grow with what one window holds (the distinct users of a window for `users`), never with the
export's total size. Flat here means: the largest size's peak is within FLAT_MB of the smallest's.
"""

from __future__ import annotations

import argparse
import sys

import benchlib

GOAL_RSS_MB = 250
FLAT_MB = 25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help="add 5,000,000 events")
    parser.add_argument("--sizes", help="comma-separated event counts (overrides the defaults)")
    parser.add_argument("--no-results", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
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
                run = benchlib.run_tap(benchlib.tap_config(sandbox, data), streams, f"memory-{size}-{label}")
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
        "export's size."
    )
    report = "\n".join(lines)
    print()
    print(report)
    if not args.no_results:
        name = "tap-memory" + ("" if sizes == [100_000, 1_000_000] else "-" + "-".join(map(str, sizes)))
        title = "Tap memory scaling, " + ", ".join(f"{size:,}" for size in sizes) + " events (issue 7, item 2)"
        benchlib.write_section(name, f"## {title}\n\n" + report)
        print(f"\nwritten to {benchlib.RESULTS.relative_to(benchlib.REPO)}")


if __name__ == "__main__":
    main()
