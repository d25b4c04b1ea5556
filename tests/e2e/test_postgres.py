"""PostgreSQL where our users have it: a warehouse table feeding Brevo, Amplitude data landed in the
warehouse, and Meltano's state shared in PostgreSQL. The server is the `postgres` fixture's (see conftest.py)."""

from __future__ import annotations

import json

import psycopg
import pytest

from e2e.postgres import Postgres
from e2e.support import DEMO_ENVIRONMENT, SEED_START, Pipeline

pytestmark = pytest.mark.e2e

SMALL = {"users": 40, "events": 400, "days": 0.5, "start": SEED_START.isoformat()}
CUSTOMERS = [
    ("c-001", "ada@example.com", "Ada", "Lovelace", "+442071838750", "pro"),
    ("c-002", "grace@example.com", "Grace", "Hopper", "+12125550123", "starter"),
    ("c-003", "alan@example.com", "Alan", "Turing", "not a phone", "free"),
    ("c-004", "not-an-email", "Bad", "Address", None, "free"),
]


@pytest.fixture
def pipeline(pipeline: Pipeline, postgres: Postgres) -> Pipeline:
    """The pipeline, its PostgreSQL plugins pointed at the session's server (meltano.yml names 127.0.0.1:5432)."""
    pipeline.env.update(postgres.plugin_env("tap-warehouse-customers", "target-postgres"))
    return pipeline


@pytest.fixture
def warehouse(postgres: Postgres) -> None:
    with psycopg.connect(postgres.conninfo(), autocommit=True) as db:
        db.execute("DROP SCHEMA IF EXISTS warehouse CASCADE")
        db.execute("CREATE SCHEMA warehouse")
        db.execute(
            "CREATE TABLE warehouse.customers (customer_id text PRIMARY KEY, email text, first_name text,"
            " last_name text, phone text, plan text)"
        )
        with db.cursor() as cur:
            cur.executemany("INSERT INTO warehouse.customers VALUES (%s, %s, %s, %s, %s, %s)", CUSTOMERS)


def test_a_warehouse_table_feeds_brevo_contacts(pipeline: Pipeline, warehouse: None) -> None:
    target_env = {
        k.replace("TARGET_BREVO_", "TARGET_BREVO_CUSTOMERS_"): v
        for k, v in pipeline.env.items()
        if k.startswith("TARGET_BREVO_")
    }
    # `dev`: no demo mappings to merge into the customers' own (what a user's project runs)
    pipeline.run("run", "tap-warehouse-customers", "target-brevo-customers", MELTANO_ENVIRONMENT="dev", **target_env)

    ada = pipeline.brevo("contacts/c-001", identifierType="ext_id")
    assert ada["email"] == "ada@example.com"
    assert ada["attributes"]["FIRSTNAME"] == "Ada"
    assert ada["attributes"]["PLAN"] == "pro"
    assert ada["attributes"]["SMS"].lstrip("+") == "442071838750"
    alan = pipeline.brevo("contacts/c-003", identifierType="ext_id")
    assert "SMS" not in alan["attributes"]
    assert pipeline.brevo("stats")["contacts"] == 3

    rejects = [json.loads(line) for line in (pipeline.workdir / "rejects.jsonl").read_text().splitlines()]
    reasons = {r["key"] if isinstance(r.get("key"), str) else json.dumps(r.get("key")): r["reason"] for r in rejects}
    assert any("c-004" in k and "email" in v.lower() for k, v in reasons.items()), rejects
    assert any("c-003" in k and "phone" in v.lower() for k, v in reasons.items()), rejects
    assert pipeline.sandbox.brevo["api_key"] not in (pipeline.workdir / "rejects.jsonl").read_text()


def test_a_warehouse_table_of_erasure_requests_erases_brevo_contacts(
    pipeline: Pipeline, warehouse: None, postgres: Postgres
) -> None:
    customers_env = {
        k.replace("TARGET_BREVO_", "TARGET_BREVO_CUSTOMERS_"): v
        for k, v in pipeline.env.items()
        if k.startswith("TARGET_BREVO_")
    }
    dev = {"MELTANO_ENVIRONMENT": "dev"}
    pipeline.run("run", "warehouse-customers-to-brevo", **dev, **customers_env)
    assert pipeline.brevo("stats")["contacts"] == 3
    with psycopg.connect(postgres.conninfo(), autocommit=True) as db:
        db.execute("CREATE TABLE warehouse.gdpr_requests (request_id text PRIMARY KEY, email text, user_id text)")
        db.execute("INSERT INTO warehouse.gdpr_requests VALUES ('r1', 'ada@example.com', NULL), ('r2', NULL, 'c-002')")
    erasures_env = {
        k.replace("TAP_WAREHOUSE_CUSTOMERS_", "TAP_WAREHOUSE_ERASURES_"): v
        for k, v in pipeline.env.items()
        if k.startswith("TAP_WAREHOUSE_CUSTOMERS_")
    }
    # --refresh-catalog: Meltano caches a tap's catalog, and this table is new
    pipeline.run("run", "--refresh-catalog", "warehouse-erasures-to-brevo", **dev, **erasures_env)
    summary = json.loads((pipeline.workdir / "summary.json").read_text())["objects"]["deletions"]
    assert summary["erased"] == 2 and summary["contacts_deleted"] == 2, summary
    assert [c["email"] for c in pipeline.all_pages("contacts", "contacts")] == ["alan@example.com"]
    # the customers table still holds them: the next sync does not bring them back
    pipeline.run("run", "warehouse-customers-to-brevo", **dev, **customers_env)
    again = json.loads((pipeline.workdir / "summary.json").read_text())["objects"]["contacts"]
    assert again["dropped_erased"] == 2, again
    assert pipeline.brevo("stats")["contacts"] == 1


def test_amplitude_data_lands_in_postgres(pipeline: Pipeline, postgres: Postgres) -> None:
    schema = "amplitude_e2e"
    with psycopg.connect(postgres.conninfo(), autocommit=True) as db:
        db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    seeded = pipeline.seed_app(**SMALL)
    pipeline.run("run", "tap-amplitude", "target-postgres", TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=schema)
    with psycopg.connect(postgres.conninfo()) as db:
        events = db.execute(f"SELECT count(*), count(DISTINCT uuid) FROM {schema}.events").fetchone()
        users = db.execute(f"SELECT count(DISTINCT amplitude_id) FROM {schema}.users").fetchone()[0]
        members = db.execute(f"SELECT count(*) FROM {schema}.cohort_members WHERE NOT snapshot_end").fetchone()[0]
    assert events == (seeded["events"], seeded["events"])
    assert users == SMALL["users"]
    assert members == sum(c["size"] for c in seeded["cohorts"].values())


def test_meltano_state_shared_in_postgres(pipeline: Pipeline, postgres: Postgres) -> None:
    with psycopg.connect(postgres.conninfo(), autocommit=True) as db:
        db.execute("DROP DATABASE IF EXISTS meltano_e2e WITH (FORCE)")
        db.execute("CREATE DATABASE meltano_e2e")
    env = {"MELTANO_DATABASE_URI": postgres.sqlalchemy_url("meltano_e2e")}
    pipeline.seed_app(**SMALL)
    pipeline.run("run", "tap-amplitude", "target-brevo", **env)
    stored = pipeline.run("state", "get", f"{DEMO_ENVIRONMENT}:tap-amplitude-to-target-brevo", **env).stdout
    bookmark = json.loads(stored)["singer_state"]["bookmarks"]["events"]["replication_key_value"]
    assert bookmark.startswith(f"{SEED_START:%Y-%m-%d}") or bookmark > SEED_START.isoformat()
    delivered = pipeline.brevo("stats")["events"]
    assert delivered > 0

    # A second worker (its own, empty delivery ledger) with the same state database continues from the
    # bookmark: nothing is extracted again, so nothing is sent twice.
    other_worker = {**env, "TARGET_BREVO_LEDGER_PATH": str(pipeline.workdir / "worker2-ledger.sqlite3")}
    pipeline.run("run", "tap-amplitude", "target-brevo", **other_worker)
    assert pipeline.brevo("stats")["events"] == delivered
