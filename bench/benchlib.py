"""Shared by the tap and pipeline benchmarks: seeded export data sets (cached), the sandbox, running a command
while sampling the peak RSS of its whole process tree, machine facts, and sections of bench/RESULTS.md."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"
OUT = REPO / "bench" / "out"  # git-ignored: cached data sets, logs
VENV_BIN = Path(sys.executable).parent
MB = 1024 * 1024
DAY = timedelta(days=1)

# Code whose change makes a cached data set stale: the seed generator and the emulator's stored form.
_SEED_CODE = (
    "sandbox/sandbox/amplitude/seed_plan.py",
    "sandbox/sandbox/amplitude/seed.py",
    "sandbox/sandbox/amplitude/store.py",
    "sandbox/sandbox/amplitude/ingest.py",
)


# -- data sets -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """A sandbox data directory holding `events` bulk-seeded Amplitude events (US project)."""

    path: Path
    events: int
    users: int
    start: datetime  # first hour with data (UTC)
    end: datetime  # exclusive bound, a few hours after the last event

    def hour_windows(self, hours: int = 24) -> list[tuple[str, str]]:
        """The Export API windows (`start`, `end` as YYYYMMDDTHH, both included) that tap-amplitude requests
        for this data set with `export_window_hours = hours`."""
        windows, first, last = [], self.start, self.end - timedelta(hours=1)
        while first <= last:
            window_last = min(first + timedelta(hours=hours - 1), last)
            windows.append((f"{first:%Y%m%dT%H}", f"{window_last:%Y%m%dT%H}"))
            first = window_last + timedelta(hours=1)
        return windows


def dataset(events: int, *, users: int | None = None, days: float = 30, seed: int = 42, fresh: bool = False) -> Dataset:
    """A bulk-seeded data set, reused across runs from bench/out/data while the seed code is unchanged.

    Events span `days` days ending at least a day ago, so every hour is final for the Export API's latency.
    Users default to events / 50 (sessions of 3-12 events spread over the span).
    """
    users = users or max(1, events // 50)
    digest = hashlib.sha256(b"".join((REPO / name).read_bytes() for name in _SEED_CODE)).hexdigest()[:10]
    path = OUT / "data" / f"amplitude-{events}-{users}-{days:g}d-s{seed}-{digest}"
    meta = path / "dataset.json"
    if fresh and path.exists():
        shutil.rmtree(path)
    if not meta.exists():
        from sandbox.amplitude import seed as sandbox_seed

        shutil.rmtree(path, ignore_errors=True)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=days) - 2 * DAY
        print(
            f"seeding {events:,} events for {users:,} users over {days:g} days into {path.relative_to(REPO)} ...",
            flush=True,
        )
        started = time.monotonic()
        summary = sandbox_seed.bulk_into_data_dir(
            path,
            {"mode": "bulk", "events": events, "users": users, "days": days, "seed": seed, "start": start.isoformat()},
        )
        print(f"  seeded in {time.monotonic() - started:.0f} s", flush=True)
        meta.write_text(json.dumps(summary, indent=2))
    summary = json.loads(meta.read_text())
    start = datetime.fromisoformat(summary["start"]).replace(minute=0, second=0, microsecond=0)
    end = datetime.fromisoformat(summary["end"]).replace(minute=0, second=0, microsecond=0) + DAY
    if end > datetime.now(UTC) - timedelta(hours=4):
        raise SystemExit(f"data set {path} is too recent for the export latency; delete it or wait")
    return Dataset(path, summary["events"], summary["users"], start, end)


# -- the sandbox ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def sandbox(data: Dataset | Path | None = None, *args: str) -> Iterator[Any]:
    from sandbox.process import running

    extra = ("--data-dir", str(data.path if isinstance(data, Dataset) else data)) if data is not None else ()
    OUT.mkdir(parents=True, exist_ok=True)
    with running(*extra, *args, log_file=OUT / "sandbox.log", timeout=120) as process:
        yield process


# -- measuring a command -------------------------------------------------------------------------------------


class PeakRss(threading.Thread):
    """Samples the summed RSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.every = every
        self.peak = 0
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            total = 0
            try:
                for process in (self.root, *self.root.children(recursive=True)):
                    with contextlib.suppress(psutil.Error):
                        total += process.memory_info().rss
            except psutil.Error:
                pass
            self.peak = max(self.peak, total)
            self.samples += 1
            self._done.wait(self.every)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak


@dataclass
class Measured:
    seconds: float
    cpu_seconds: float  # user + system, of the process and the descendants it waited for
    peak_rss: int
    returncode: int
    log: Path

    @property
    def peak_mb(self) -> float:
        return self.peak_rss / MB

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def measure(
    command: Sequence[str],
    log: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: Path | None = None,
) -> Measured:
    """Run `command` with stdout to /dev/null and stderr to `log`; wall time and peak RSS of its process tree."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as err, open(os.devnull, "wb") as devnull, \
            (open(stdin, "rb") if stdin else open(os.devnull, "rb")) as source:  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        process = subprocess.Popen(
            list(command), stdin=source, stdout=devnull, stderr=err, env={**os.environ, **(env or {})}, cwd=cwd
        )
        sampler = PeakRss(process.pid)
        sampler.start()
        returncode = process.wait()
        seconds = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak = sampler.stop()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(seconds, cpu, peak, returncode, log)


def failed(run: Measured, what: str) -> SystemExit:
    tail = "\n".join(run.text().splitlines()[-25:])
    return SystemExit(f"{what} exited with {run.returncode} (log {run.log}):\n{tail}")


# -- tap-amplitude -------------------------------------------------------------------------------------------

TAP = VENV_BIN / "tap-amplitude"
EXPORT_STREAMS = ("events", "users", "revenue")
_METRIC = re.compile(r'METRIC: (\{.*"metric":"record_count".*\})')
_READ = re.compile(r"downloaded in ([0-9.]+) s, read in ([0-9.]+) s")
_PASS = re.compile(r"Export summary: .* in ([0-9.]+) s \(")


def byte_compile_tap() -> None:
    """Compile tap-amplitude's modules, as pip does for an installed package. The project's virtualenv holds the
    tap as an editable install, whose modules are compiled on first import unless PYTHONDONTWRITEBYTECODE is set
    (as on some CI machines): the tap would then compile itself on every start, and the comparison with a
    connector installed by pip would not be fair."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "tap-amplitude" / "tap_amplitude")], check=True
    )


def tap_catalog(selected: Sequence[str]) -> dict[str, Any]:
    """The tap's own discovered catalog (offline), with exactly `selected` streams selected."""
    config = OUT / "discover-config.json"
    OUT.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"api_key": "x", "secret_key": "y", "start_date": "2024-01-01T00:00:00Z"}))
    catalog = json.loads(
        subprocess.run([str(TAP), "--config", str(config), "--discover"], capture_output=True, check=True).stdout
    )
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in selected
    return catalog


def tap_config(sandbox_process: Any, data: Dataset, **extra: Any) -> dict[str, Any]:
    amplitude = sandbox_process.amplitude
    return {
        "api_key": amplitude["api_key"],
        "secret_key": amplitude["secret_key"],
        "api_url": amplitude["api"],
        "start_date": data.start.isoformat(),
        "end_date": data.end.isoformat(),
        **extra,
    }


@dataclass
class TapRun:
    measured: Measured
    records: dict[str, int]  # per stream, from the tap's METRIC record_count lines
    download_seconds: float  # summed over windows (overlaps reading)
    read_seconds: float  # summed over windows: decoding, building and writing records
    export_seconds: float  # the export pass, from the tap's summary line (its start-up excluded)


def run_tap(
    config: dict[str, Any],
    streams: Sequence[str],
    name: str,
    *,
    command: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
) -> TapRun:
    """The real `tap-amplitude` CLI (or `command`), stdout to /dev/null, stderr to bench/out/<name>.log."""
    work = OUT / "runs" / name
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.json").write_text(json.dumps(config))
    (work / "catalog.json").write_text(json.dumps(tap_catalog(streams)))
    args = ["--config", str(work / "config.json"), "--catalog", str(work / "catalog.json")]
    measured = measure([*(command or [str(TAP)]), *args], work / "tap.log", env=env)
    if measured.returncode != 0:
        raise failed(measured, f"tap-amplitude ({name})")
    log = measured.text()
    records: dict[str, int] = {}
    for match in _METRIC.finditer(log):
        metric = json.loads(match.group(1))
        stream = metric["tags"]["stream"]
        records[stream] = records.get(stream, 0) + int(metric["value"])
    phases = [(float(d), float(r)) for d, r in _READ.findall(log)]
    export_pass = _PASS.search(log)
    return TapRun(
        measured,
        records,
        sum(d for d, _ in phases),
        sum(r for _, r in phases),
        float(export_pass.group(1)) if export_pass else measured.seconds,
    )


# -- machine facts and the results file --------------------------------------------------------------------


def machine() -> str:
    """One line: CPU, cores, memory, OS, Python and the hot-path libraries."""
    from importlib.metadata import version

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    libraries = ", ".join(f"{name} {version(name)}" for name in ("singer-sdk", "msgspec", "orjson", "meltano"))
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 1024**3:.0f} GB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; {libraries}"
    )


def load_note() -> str:
    """The 1-minute load average: the machine may be shared, and figures move with it."""
    one, _five, _fifteen = os.getloadavg()
    return f"load average {one:.2f} on {os.cpu_count()} CPUs"


def log_tail(log: Path, lines: int = 25) -> str:
    """The last lines of a process's log, for an error message."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def listening_url(process: subprocess.Popen[bytes], log: Path, pattern: re.Pattern[str], timeout: float = 60.0) -> str:
    """The base URL a webhook tap (started with its stderr in `log`) logs once it listens on its free port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pattern.search(log.read_text(errors="replace"))
        if found:
            return found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"{Path(process.args[0]).name} did not start listening (log {log}):\n{log_tail(log)}")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of `values` (nan when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def seconds_text(value: float, digits: int = 2) -> str:
    """A duration for a table: milliseconds under a second, else seconds with `digits` decimals; '-' for nan."""
    if math.isnan(value):
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.{digits}f} s"


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """How the benchmark was run, for its section of RESULTS.md."""
    return " ".join([".venv/bin/python", script, *(argv if argv is not None else sys.argv[1:])])


def publish(section: str, scale: float, text: str) -> None:
    """Write a benchmark's text as its RESULTS.md section (`<section>-scale-<s>` for another scale), and say so."""
    write_section(section if scale == 1 else f"{section}-scale-{scale:g}", text)
    print(f"\nwritten to {RESULTS.relative_to(REPO)}")


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section between `<!-- name -->` and `<!-- /name -->` in bench/RESULTS.md,
    under a lock so that benchmarks finishing together do not lose each other's sections."""
    begin, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    section = f"{begin}\n{body.strip()}\n{end}"
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / ".results.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
        if begin in text and end in text:
            head, rest = text.split(begin, 1)
            text = head + section + rest.split(end, 1)[1]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        RESULTS.write_text(text)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A Markdown table; `align` is one of l/r per column (default: first left, others right)."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": ":--", "r": "--:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
