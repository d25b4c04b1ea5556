"""Dagster job `amplitude_to_brevo_backfill`: the same split as the Airflow DAG (airflow_backfill_dag.py).

Launch it with run config:

    ops:
      partitions:
        config: {start: "2026-01-01", end: "2026-04-01", partition_hours: 24}

`partitions` prepares the Meltano system database and emits one dynamic output per partition; `partition` runs
`meltano run --state-id-suffix=backfill-<start>-<end> tap-amplitude target-brevo` for each (at most
`BACKFILL_MAX_PARALLEL` at a time, each retried on its own); `final` runs once they all succeeded.
`dagster dev -f orchestration/dagster_backfill.py` serves it; `MELTANO_PROJECT_ROOT` and `MELTANO_EXECUTABLE` as for
the DAG. (No `from __future__ import annotations`: Dagster reads the config class's annotations at run time.)
"""

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import (
    Config,
    Definitions,
    DynamicOut,
    DynamicOutput,
    Out,
    Output,
    RetryPolicy,
    job,
    multiprocess_executor,
    op,
)
from pydantic import Field  # Dagster's config classes are pydantic models

sys.path.insert(0, str(Path(__file__).resolve().parent))
import backfill  # beside this file

PROJECT_DIR = Path(os.environ.get("MELTANO_PROJECT_ROOT", str(backfill.PROJECT_DIR)))
MELTANO = os.environ.get("MELTANO_EXECUTABLE", "meltano")
MAX_PARALLEL = int(os.environ.get("BACKFILL_MAX_PARALLEL", str(backfill.DEFAULT_WORKERS)))
RETRIES = RetryPolicy(max_retries=backfill.DEFAULT_RETRIES, delay=backfill.DEFAULT_RETRY_DELAY_SECONDS)


class BackfillRange(Config):
    start: str  # first hour (UTC), e.g. 2026-01-01
    end: str  # exclusive
    partition_hours: int = backfill.DEFAULT_PARTITION_HOURS
    partition_streams: list[str] = Field(default_factory=lambda: list(backfill.PARTITION_STREAMS))
    final_streams: list[str] = Field(default_factory=lambda: list(backfill.FINAL_STREAMS))  # []: no final run


def _runner() -> backfill.Runner:
    # Dagster retries a failed op itself; the output goes to the op's log.
    return backfill.Runner(meltano=MELTANO, project_dir=PROJECT_DIR, retries=0, echo=True)


def _run(run: backfill.Run) -> dict[str, Any]:
    outcome = _runner().run_one(run)
    if outcome.status != "succeeded":
        raise RuntimeError(outcome.line())
    return {"name": outcome.name, "seconds": round(outcome.seconds, 1), "summary": outcome.summary}


@op(out={"partition_runs": DynamicOut(dict), "final_run": Out(dict)})
def partitions(config: BackfillRange) -> Iterator[DynamicOutput[dict] | Output[dict]]:
    _runner().prepare()
    plan = backfill.plan(
        backfill.parse_hour(config.start),
        backfill.parse_hour(config.end),
        config.partition_hours,
        config.partition_streams,
        config.final_streams,
    )
    for run in plan.partitions:
        yield DynamicOutput(run.to_dict(), mapping_key=run.name.replace("-", "_"), output_name="partition_runs")
    yield Output(plan.final.to_dict() if plan.final else {}, output_name="final_run")


@op(retry_policy=RETRIES)
def partition(run: dict) -> dict:
    return _run(backfill.Run.from_dict(run))


@op(retry_policy=RETRIES)
def final(run: dict, partitions_done: list[dict]) -> dict:
    return _run(backfill.Run.from_dict(run)) if run else {}


@job(executor_def=multiprocess_executor.configured({"max_concurrent": MAX_PARALLEL}))
def amplitude_to_brevo_backfill() -> None:
    partition_runs, final_run = partitions()
    final(final_run, partition_runs.map(partition).collect())


defs = Definitions(jobs=[amplitude_to_brevo_backfill])
