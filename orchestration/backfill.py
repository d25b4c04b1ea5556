"""Partitioned backfills: hour ranges as independent `meltano run`s, each with its own state id.

The plan (which runs, with which command and environment) and the way one run is started are shared by the
Airflow DAG (`airflow_backfill_dag.py`), the Dagster job (`dagster_backfill.py`) and the tests. Run locally, this
module runs a plan with N parallel workers, retrying a failed run:

    .venv/bin/python orchestration/backfill.py --start 2026-01-01 --end 2026-04-01 --partition-hours 168 --workers 2

A plan is the partitions, which may run in any order and in parallel, then one final run over the whole range:

- each partition exports its hours (`TAP_AMPLITUDE_START_DATE` / `TAP_AMPLITUDE_END_DATE`) under the state id
  suffix `backfill-<start>-<end>`, selecting only the streams whose records belong to an hour (`events`,
  `revenue`): the volume, and the Brevo calls that rate limits make slow;
- the final run, once every partition succeeded, reads the whole range again, in order, for the streams whose
  latest record must win (`users` -> contact attributes, `groups` -> companies: partitions finishing in any
  order would leave an older window's values), and the snapshot streams (`cohort_members`, `deletions`), which
  describe the present, not an hour range, and would otherwise be fetched and applied once per partition.

Every run gets a `.meltano` directory of its own (`MELTANO_SYS_DIR_ROOT`, the installed plugins linked in):
Meltano writes the extractor's catalog and state to `.meltano/run/<extractor>/` under fixed names, so two runs
of one extractor in one project directory overwrite each other's files (meltano/meltano#8763). The system
database (bookmarks), the delivery ledger and the privacy store stay shared.

Standard library only: an orchestrator's worker needs nothing but this file and the Meltano project.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
EXTRACTOR, LOADER = "tap-amplitude", "target-brevo"
PARTITION_STREAMS = ("events", "revenue")
FINAL_STREAMS = ("users", "groups", "cohort_members", "deletions")
DEFAULT_PARTITION_HOURS = 24
DEFAULT_WORKERS = 2  # Brevo's limits are per account: see orchestration/README.md
DEFAULT_RETRIES = 2
DEFAULT_RETRY_DELAY_SECONDS = 60.0
DEFAULT_REPORTS_DIR = "output/backfill"
SUFFIX_TIME = "%Y%m%dT%H"
# `.meltano` entries a run shares with the project (installed plugins); everything else is its own.
PLUGIN_DIRS = ("extractors", "loaders", "mappers", "utilities", "transformers", "orchestrators", "files")


def parse_hour(text: str) -> datetime:
    """A UTC hour from `2026-03-02`, `2026-03-02T05`, `2026-03-02T05:00:00Z` or `...+00:00`; raises ValueError
    for a time inside an hour (the tap exports whole hours) or with another offset than UTC."""
    value = text.strip()
    if len(value) == len("2026-03-02T05"):
        value += ":00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.utcoffset() != timedelta(0):
        raise ValueError(f"{text!r}: give the hour in UTC")
    if (moment.minute, moment.second, moment.microsecond) != (0, 0, 0):
        raise ValueError(f"{text!r} is not on an hour")
    return moment.astimezone(UTC)


# -- the plan -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One `meltano run` of the plan: a partition or the final run."""

    kind: str  # "partition" or "final"
    start: datetime
    end: datetime  # exclusive
    streams: tuple[str, ...]

    @property
    def state_id_suffix(self) -> str:
        prefix = "backfill" if self.kind == "partition" else "backfill-final"
        return f"{prefix}-{self.start:{SUFFIX_TIME}}-{self.end:{SUFFIX_TIME}}"

    @property
    def name(self) -> str:
        return self.state_id_suffix

    def command(self, meltano: str = "meltano") -> list[str]:
        return [meltano, "run", f"--state-id-suffix={self.state_id_suffix}", EXTRACTOR, LOADER]

    def env(self, reports_dir: str | Path = DEFAULT_REPORTS_DIR) -> dict[str, str]:
        """The variables that make `command()` this run: its hours, its streams (over meltano.yml's `select`)
        and its own target reports (summary and rejects files)."""
        reports = Path(reports_dir) / self.name
        return {
            "TAP_AMPLITUDE_START_DATE": self.start.isoformat(),
            "TAP_AMPLITUDE_END_DATE": self.end.isoformat(),
            "TAP_AMPLITUDE__SELECT": json.dumps([f"{stream}.*" for stream in self.streams]),
            "TARGET_BREVO_SUMMARY_FILE": str(reports / "brevo-summary.json"),
            "TARGET_BREVO_REJECTS_FILE": str(reports / "brevo-rejects.jsonl"),
        }

    def shell_command(self, meltano: str = "meltano", reports_dir: str | Path = DEFAULT_REPORTS_DIR) -> str:
        """The run as one shell line (its variables, then the command), for logs and docs."""
        assignments = [f"{name}={shlex.quote(value)}" for name, value in self.env(reports_dir).items()]
        return " ".join([*assignments, shlex.join(self.command(meltano))])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (what an orchestrator passes between tasks)."""
        return {
            "kind": self.kind,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "streams": list(self.streams),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        return cls(data["kind"], parse_hour(data["start"]), parse_hour(data["end"]), tuple(data["streams"]))


@dataclass(frozen=True)
class Plan:
    partitions: tuple[Run, ...]
    final: Run | None

    @property
    def runs(self) -> tuple[Run, ...]:
        return (*self.partitions, *((self.final,) if self.final else ()))


def partitions(
    start: datetime, end: datetime, hours: int = DEFAULT_PARTITION_HOURS, streams: Sequence[str] = PARTITION_STREAMS
) -> list[Run]:
    """Consecutive hour ranges of `hours` covering [start, end); the last one may be shorter."""
    if hours < 1:
        raise ValueError("partition hours must be at least 1")
    if end <= start:
        raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    runs, first, step = [], start, timedelta(hours=hours)
    while first < end:
        last = min(first + step, end)
        runs.append(Run("partition", first, last, tuple(streams)))
        first = last
    return runs


def plan(
    start: datetime,
    end: datetime,
    hours: int = DEFAULT_PARTITION_HOURS,
    partition_streams: Sequence[str] = PARTITION_STREAMS,
    final_streams: Sequence[str] = FINAL_STREAMS,
) -> Plan:
    """The partitions of [start, end), then the final run over it (none when `final_streams` is empty)."""
    final = Run("final", start, end, tuple(final_streams)) if final_streams else None
    return Plan(tuple(partitions(start, end, hours, partition_streams)), final)


# -- a run's own .meltano directory -------------------------------------------------------------------------


def own_meltano_dir(project_dir: Path, sys_dir: Path, env: dict[str, str]) -> dict[str, str]:
    """Prepare `sys_dir` as a run's `.meltano` (the project's installed plugins linked in); the variables that
    point Meltano at it, keeping the project's system database when none is configured."""
    shared = project_dir / ".meltano"
    missing = [name for name in (f"extractors/{EXTRACTOR}", f"loaders/{LOADER}") if not (shared / name).is_dir()]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not installed in {shared}: run `meltano install` first")
    sys_dir.mkdir(parents=True, exist_ok=True)
    for name in PLUGIN_DIRS:
        link = sys_dir / name
        if (shared / name).is_dir() and not link.is_symlink():
            link.symlink_to(shared / name, target_is_directory=True)
    variables = {"MELTANO_SYS_DIR_ROOT": str(sys_dir)}
    if not _database_configured(project_dir, env):  # Meltano's default lives in the .meltano directory
        variables["MELTANO_DATABASE_URI"] = f"sqlite:///{shared / 'meltano.db'}"
    return variables


def _database_configured(project_dir: Path, env: dict[str, str]) -> bool:
    if env.get("MELTANO_DATABASE_URI"):
        return True
    try:
        lines = (project_dir / ".env").read_text().splitlines()
    except OSError:
        return False
    return any(line.strip().removeprefix("export ").startswith("MELTANO_DATABASE_URI=") for line in lines)


# -- running a plan on this machine -------------------------------------------------------------------------


@dataclass
class Outcome:
    """How one run of the plan went: its last attempt's exit code, attempts, times and the target's summary."""

    name: str
    kind: str
    start: str
    end: str
    status: str  # succeeded, failed, stopped, not run
    attempts: int = 0
    returncode: int | None = None
    started_at: float | None = None  # epoch seconds
    finished_at: float | None = None
    log: str | None = None
    summary: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def seconds(self) -> float:
        return (self.finished_at or 0.0) - (self.started_at or 0.0)

    def line(self) -> str:
        figures = ""
        if self.summary:
            objects, rate = self.summary.get("objects", {}), self.summary.get("rate_limit", {})
            figures = (
                f"; events sent {objects.get('events', {}).get('sent', 0)}, orders sent "
                f"{objects.get('orders', {}).get('sent', 0)}, contacts upserted "
                f"{objects.get('contacts', {}).get('upserted', 0)}, Brevo calls {self.summary.get('api_calls_total', 0)}, "
                f"429s waited {rate.get('429_waited', 0)}"
            )
        return f"{self.name}: {self.status} after {self.attempts} attempt(s), {self.seconds:.1f} s (exit {self.returncode}){figures}"


class Runner:
    """Runs a plan's partitions as `workers` parallel `meltano run` subprocesses, then its final run.

    Each attempt's output goes to `<reports_dir>/<run>/meltano-attempt-N.log` (and to this process's stdout with
    `echo`, for an orchestrator's task log)."""

    def __init__(
        self,
        *,
        meltano: str,
        project_dir: Path = PROJECT_DIR,
        workers: int = DEFAULT_WORKERS,
        retries: int = DEFAULT_RETRIES,
        retry_delay: float = DEFAULT_RETRY_DELAY_SECONDS,
        reports_dir: Path | None = None,
        env: dict[str, str] | None = None,
        echo: bool = False,
        say: Callable[[str], None] = lambda line: print(line, flush=True),
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.meltano = meltano
        self.project_dir = project_dir.resolve()
        self.workers = workers
        self.retries = retries
        self.retry_delay = retry_delay
        self.reports_dir = (reports_dir or self.project_dir / DEFAULT_REPORTS_DIR).resolve()
        self.env = dict(os.environ if env is None else env)
        self.echo = echo
        self.say = say
        self._running: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.RLock()  # stop() may run in a signal handler
        self._stopping = threading.Event()

    def run(self, backfill: Plan) -> list[Outcome]:
        self.prepare()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="partition") as pool:
            outcomes = list(pool.map(self.run_one, backfill.partitions))
        if backfill.final is not None:
            if all(o.status == "succeeded" for o in outcomes):
                outcomes.append(self.run_one(backfill.final))
            else:
                outcomes.append(_outcome(backfill.final, "not run"))
                self.say(f"{backfill.final.name}: not run (a partition failed; run the backfill again to resume)")
        return outcomes

    def prepare(self) -> None:
        """Create or upgrade the system database once, before runs start together (two Meltano processes
        migrating one new database at once fail: `table alembic_version already exists`)."""
        folder = self.reports_dir / "prepare"
        folder.mkdir(parents=True, exist_ok=True)
        env = {**self.env, **own_meltano_dir(self.project_dir, folder / ".meltano", self.env)}
        with (folder / "meltano.log").open("wb") as out:
            done = subprocess.run(
                [self.meltano, "state", "list"],
                cwd=self.project_dir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if done.returncode != 0:
            raise RuntimeError(f"`meltano state list` exited {done.returncode}: see {folder / 'meltano.log'}")

    def run_one(self, run: Run) -> Outcome:
        """Run `run`, again after a failure up to `retries` times; a retry resumes from the run's own bookmark."""
        outcome = _outcome(run, "failed")
        outcome.started_at = time.time()
        for attempt in range(1, self.retries + 2):
            if attempt > 1:
                self.say(
                    f"{run.name}: attempt {attempt - 1} exited {outcome.returncode}; retry in {self.retry_delay:g} s"
                )
                if self._stopping.wait(self.retry_delay):
                    break
            if self._stopping.is_set():
                break
            outcome.attempts = attempt
            outcome.returncode, outcome.log = self._attempt(run, attempt)
            if self._stopping.is_set():  # however it exited, it did not finish its range: run again to resume
                outcome.status = "stopped"
                break
            if outcome.returncode == 0:
                outcome.status = "succeeded"
                break
        outcome.finished_at = time.time()
        if outcome.attempts == 0:
            outcome.status = "not run"
        outcome.summary = _read_json(self.summary_file(run))
        self.say(outcome.line())
        return outcome

    def summary_file(self, run: Run) -> Path:
        return Path(run.env(self.reports_dir)["TARGET_BREVO_SUMMARY_FILE"])

    def _attempt(self, run: Run, attempt: int) -> tuple[int, str]:
        folder = self.reports_dir / run.name
        log = folder / f"meltano-attempt-{attempt}.log"
        folder.mkdir(parents=True, exist_ok=True)
        self.summary_file(run).unlink(missing_ok=True)  # an earlier backfill's, not this attempt's
        env = {
            **self.env,
            **own_meltano_dir(self.project_dir, folder / ".meltano", self.env),
            **run.env(self.reports_dir),
        }
        self.say(f"{run.name}: attempt {attempt}: {run.shell_command(self.meltano, self.reports_dir)} (log {log})")
        with log.open("wb") as out:
            process = subprocess.Popen(
                run.command(self.meltano),
                cwd=self.project_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if self.echo else out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a stop reaches meltano and its plugins as one group
            )
            with self._lock:
                self._running.add(process)
            try:
                if self.echo and process.stdout is not None:
                    _tee(process.stdout, out, sys.stdout.buffer)
                return process.wait(), str(log)
            finally:
                with self._lock:
                    self._running.discard(process)

    def stop(self) -> None:
        """Stop as Ctrl-C stops `meltano run` (SIGTERM: the target sends what it holds and emits its STATE), and
        start nothing new."""
        self._stopping.set()
        with self._lock:
            running = list(self._running)
        for process in running:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def _tee(source: IO[bytes], *sinks: IO[bytes]) -> None:
    for line in iter(source.readline, b""):
        for sink in sinks:
            sink.write(line)
            sink.flush()


def _outcome(run: Run, status: str) -> Outcome:
    return Outcome(run.name, run.kind, run.start.isoformat(), run.end.isoformat(), status)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# -- command line ------------------------------------------------------------------------------------------


def _streams(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _default_meltano() -> str:
    beside = Path(sys.executable).with_name("meltano")  # the project's virtualenv
    return str(beside) if beside.exists() else "meltano"


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--start", required=True, type=parse_hour, help="first hour (UTC), e.g. 2026-01-01")
    parser.add_argument("--end", required=True, type=parse_hour, help="end, exclusive (UTC), e.g. 2026-04-01")
    parser.add_argument("--partition-hours", type=int, default=DEFAULT_PARTITION_HOURS, help="hours per partition")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="partitions run at once")
    parser.add_argument("--retries", type=int, default=DEFAULT_RETRIES, help="retries of a failed run")
    parser.add_argument("--retry-delay", type=float, default=DEFAULT_RETRY_DELAY_SECONDS, help="seconds")
    parser.add_argument("--partition-streams", type=_streams, default=PARTITION_STREAMS, metavar="A,B")
    parser.add_argument(
        "--final-streams", type=_streams, default=FINAL_STREAMS, metavar="A,B", help="'' for no final run"
    )
    parser.add_argument("--meltano", default=_default_meltano(), help="the meltano executable")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    parser.add_argument(
        "--reports-dir", type=Path, help=f"logs and target reports per run (default <project>/{DEFAULT_REPORTS_DIR})"
    )
    parser.add_argument("--report", type=Path, help="also write every run's outcome to this JSON file")
    parser.add_argument("--print-plan", action="store_true", help="print the runs as shell lines; run nothing")
    return parser.parse_args(argv)


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    backfill = plan(args.start, args.end, args.partition_hours, args.partition_streams, args.final_streams)
    runner = Runner(
        meltano=args.meltano,
        project_dir=args.project_dir,
        workers=args.workers,
        retries=args.retries,
        retry_delay=args.retry_delay,
        reports_dir=args.reports_dir,
    )
    if args.print_plan:
        for run in backfill.runs:
            print(run.shell_command(args.meltano, runner.reports_dir))
        return 0
    print(
        f"backfill {args.start.isoformat()} -> {args.end.isoformat()}: {len(backfill.partitions)} partition(s) of "
        f"{args.partition_hours} h on {args.workers} worker(s)" + (", then the final run" if backfill.final else ""),
        flush=True,
    )
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: runner.stop())
    try:
        outcomes = runner.run(backfill)
    except RuntimeError as exc:  # plugins not installed, or the system database could not be prepared
        print(f"backfill: {exc}", file=sys.stderr)
        return 2
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps([asdict(o) for o in outcomes], indent=2))
    unfinished = [o.name for o in outcomes if o.status != "succeeded"]
    print(
        f"{len(outcomes) - len(unfinished)} of {len(outcomes)} run(s) succeeded"
        + (f"; not done: {', '.join(unfinished)}" if unfinished else "")
    )
    return 1 if unfinished else 0


if __name__ == "__main__":
    sys.exit(main())
