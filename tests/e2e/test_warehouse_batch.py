"""Amplitude data into PostgreSQL through BATCH messages: `meltano run tap-amplitude target-postgres` with
tap-amplitude's `batch_config` (JSON Lines files, gzip) lands the same rows, and stores the same state, as the run
with RECORD messages. The server is the `postgres` fixture's (see conftest.py)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import psycopg
import pytest
import yaml

from e2e.postgres import Postgres
from e2e.support import DEMO_ENVIRONMENT, MELTANO, REPO, SEED_START, Pipeline

pytestmark = pytest.mark.e2e

SMALL = {"users": 40, "events": 400, "days": 0.5, "start": SEED_START.isoformat()}
EXPORT_TABLES = {"events": "uuid", "users": "amplitude_id", "revenue": "uuid"}  # the tables' primary keys
STATE_ID = f"{DEMO_ENVIRONMENT}:tap-amplitude-to-target-postgres"
BATCH_CONFIG_SETTING = {
    "name": "batch_config",
    "kind": "object",
    "description": "Write records to JSON Lines files announced by BATCH messages (see the SDK's batch_config).",
}


def batch_project(root: Path) -> Path:
    """The repository's Meltano project, its tap-amplitude declaring `batch_config` (Meltano passes a plugin only
    the settings it declares, and meltano.yml does not declare this one), with the installed plugins shared."""
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    tap = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-amplitude")
    if not any(setting["name"] == "batch_config" for setting in tap["settings"]):
        tap["settings"].append(BATCH_CONFIG_SETTING)
    if "batch" not in tap["capabilities"]:
        tap["capabilities"].append("batch")
    root.mkdir(parents=True)
    (root / "meltano.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    for plugin in ("extractors/tap-amplitude", "loaders/target-postgres"):
        (root / ".meltano" / plugin).parent.mkdir(parents=True, exist_ok=True)
        (root / ".meltano" / plugin).symlink_to(REPO / ".meltano" / plugin)
    return root


def meltano(pipeline: Pipeline, project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [MELTANO, *args],
        check=False,  # checked below, with the end of stderr in the message
        cwd=project,
        env={**pipeline.env, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"meltano {' '.join(args)} exited {result.returncode}:\n{result.stderr[-6000:]}"
    return result


def landed(postgres: Postgres, schema: str) -> tuple[dict[str, int], dict[str, str]]:
    """Rows per table of `schema`, and a digest of each export table's rows over the tap's columns (the target
    fills its `_sdc_*` columns from RECORD messages only)."""
    digests = {}
    with psycopg.connect(postgres.conninfo()) as db:
        tables = [t for (t,) in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))]
        rows = {t: db.execute(f'SELECT count(*) FROM "{schema}"."{t}"').fetchone()[0] for t in tables}
        for table, key in EXPORT_TABLES.items():
            columns = ", ".join(
                f'"{name}"'
                for (name,) in db.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                    " AND column_name NOT LIKE '\\_sdc\\_%%' ORDER BY column_name",
                    (schema, table),
                )
            )
            digests[table] = db.execute(
                f'SELECT md5(string_agg(row({columns})::text, E\'\\n\' ORDER BY {key})) FROM "{schema}"."{table}"'
            ).fetchone()[0]
    return rows, digests


def test_batch_messages_land_the_same_rows_as_record_messages(
    pipeline: Pipeline, postgres: Postgres, tmp_path: Path
) -> None:
    pipeline.env.update(postgres.plugin_env("target-postgres"))
    seeded = pipeline.seed_app(**SMALL)
    project = batch_project(tmp_path / "project")
    files = tmp_path / "batches"
    batch_config = {"encoding": {"format": "jsonl", "compression": "gzip"}, "storage": {"root": files.as_uri()}}
    runs = {
        "records": {},
        "batches": {"TAP_AMPLITUDE_BATCH_CONFIG": json.dumps({**batch_config, "batch_size": 100})},
    }
    schemas, states, logs = {}, {}, {}
    for name, extra in runs.items():
        schema = schemas[name] = f"amplitude_e2e_{name}"
        with psycopg.connect(postgres.conninfo(), autocommit=True) as db:
            db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        env = {
            **extra,
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / f'{name}.db'}",
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        }
        logs[name] = meltano(pipeline, project, "run", "tap-amplitude", "target-postgres", **env).stderr
        states[name] = meltano(pipeline, project, "state", "get", STATE_ID, **env).stdout

    announced = re.search(r"BATCH messages: (\d+) files", logs["batches"])
    assert announced and int(announced.group(1)) >= seeded["events"] // 100, logs["batches"][-3000:]
    assert len(list(files.iterdir())) == int(announced.group(1))
    assert "BATCH messages" not in logs["records"]

    rows, digests = landed(postgres, schemas["records"])
    batch_rows, batch_digests = landed(postgres, schemas["batches"])
    assert rows["events"] == seeded["events"] and rows["users"] == SMALL["users"]
    assert batch_rows == rows
    assert batch_digests == digests
    assert json.loads(states["batches"]) == json.loads(states["records"])
    for schema in schemas.values():
        with psycopg.connect(postgres.conninfo(), autocommit=True) as db:
            db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
