"""Airflow DAG `amplitude_to_brevo_backfill`: a tap-amplitude -> target-brevo backfill split into hour ranges.

Trigger it with a config, e.g. `airflow dags trigger amplitude_to_brevo_backfill --conf
'{"start": "2026-01-01", "end": "2026-04-01", "partition_hours": 24}'`. Then:

1. `partitions` prepares the Meltano system database and lists the partitions (orchestration/backfill.py);
2. `partition` runs once per partition (a mapped task, at most `BACKFILL_MAX_PARALLEL` at a time, each retried on
   its own): `meltano run --state-id-suffix=backfill-<start>-<end> tap-amplitude target-brevo` with
   TAP_AMPLITUDE_START_DATE / TAP_AMPLITUDE_END_DATE set to the partition's hours; a retry resumes from the
   partition's own bookmark;
3. `final` runs once every partition succeeded: contacts, companies, cohorts and deletions over the whole range.

Put this file and backfill.py in the DAGs folder (or point the DAGs folder at orchestration/). The worker needs
the Meltano project (`MELTANO_PROJECT_ROOT`, default: this repository) with its plugins installed, `meltano`
(`MELTANO_EXECUTABLE`), and the project's keys in its environment or `.env`. Airflow 3, or 2.9 and later
(`map_index_template`).
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import backfill  # beside this file, found once its folder is on the path

try:  # Airflow 3
    from airflow.sdk import DAG, Param, get_current_context, task
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task
    from airflow.models.param import Param
    from airflow.operators.python import get_current_context

PROJECT_DIR = Path(os.environ.get("MELTANO_PROJECT_ROOT", str(backfill.PROJECT_DIR)))
MELTANO = os.environ.get("MELTANO_EXECUTABLE", "meltano")
MAX_PARALLEL = int(os.environ.get("BACKFILL_MAX_PARALLEL", str(backfill.DEFAULT_WORKERS)))
RETRIES = backfill.DEFAULT_RETRIES
RETRY_DELAY = timedelta(seconds=backfill.DEFAULT_RETRY_DELAY_SECONDS)


def _runner() -> backfill.Runner:
    # Airflow retries a failed task itself; the output goes to the task's log.
    return backfill.Runner(meltano=MELTANO, project_dir=PROJECT_DIR, retries=0, echo=True)


def _plan(params: dict[str, Any]) -> backfill.Plan:
    return backfill.plan(
        backfill.parse_hour(params["start"]),
        backfill.parse_hour(params["end"]),
        int(params["partition_hours"]),
        params["partition_streams"],
        params["final_streams"],
    )


def _run(run: backfill.Run) -> dict[str, Any]:
    outcome = _runner().run_one(run)
    if outcome.status != "succeeded":
        raise RuntimeError(outcome.line())
    return {"name": outcome.name, "seconds": round(outcome.seconds, 1), "summary": outcome.summary}


with DAG(
    dag_id="amplitude_to_brevo_backfill",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    params={
        "start": Param("2026-01-01", type="string", description="First hour (UTC), e.g. 2026-01-01 or 2026-01-01T06"),
        "end": Param("2026-01-08", type="string", description="End, exclusive (UTC)"),
        "partition_hours": Param(backfill.DEFAULT_PARTITION_HOURS, type="integer", minimum=1),
        "partition_streams": Param(list(backfill.PARTITION_STREAMS), type="array", description="Streams per partition"),
        "final_streams": Param(
            list(backfill.FINAL_STREAMS), type="array", description="Streams of the final run ([]: no final run)"
        ),
    },
    tags=["meltano", "amplitude", "brevo", "backfill"],
    doc_md=__doc__,
):

    @task
    def partitions(**context: Any) -> list[dict[str, Any]]:
        _runner().prepare()
        return [run.to_dict() for run in _plan(context["params"]).partitions]

    @task(
        retries=RETRIES,
        retry_delay=RETRY_DELAY,
        max_active_tis_per_dag=MAX_PARALLEL,
        map_index_template="{{ partition_name }}",
    )
    def partition(run: dict[str, Any]) -> dict[str, Any]:
        this = backfill.Run.from_dict(run)
        get_current_context()["partition_name"] = this.name  # type: ignore[index]  # names the mapped instance
        return _run(this)

    @task(retries=RETRIES, retry_delay=RETRY_DELAY)
    def final(**context: Any) -> dict[str, Any] | None:
        run = _plan(context["params"]).final
        return _run(run) if run else None

    partition.expand(run=partitions()) >> final()
