"""B2B end to end: the simulated app's accounts (Amplitude groups) become Brevo companies with their contacts
linked through `meltano run`; a later run with a changed group property updates the companies in place; a
re-run of the same hours makes no company call; saved chart results land in PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg
import pytest

from e2e.postgres import Postgres
from e2e.support import SEED_START, Pipeline

SEED = {"users": 40, "events": 400, "days": 1.0, "start": SEED_START.isoformat()}
SEED_CHARTS = ["seed-active-users", "seed-purchase-funnel", "seed-retention"]


def companies(p: Pipeline) -> dict[str, dict]:
    return {c["attributes"]["amplitude_group"]: c for c in p.brevo("companies")["companies"]}


def summary(p: Pipeline) -> dict:
    return json.loads((p.workdir / "summary.json").read_text())


def test_accounts_become_companies_updated_in_place_and_a_rerun_changes_nothing(pipeline: Pipeline) -> None:
    p = pipeline
    seeded = p.seed_app(**SEED)
    halfway = SEED_START + timedelta(hours=12)  # the app changes every account's profile halfway through
    p.run("run", "tap-amplitude", "target-brevo", TAP_AMPLITUDE_END_DATE=halfway.isoformat())
    first = companies(p)
    assert len(first) == seeded["accounts"]
    contact_ids = {c["id"] for c in p.all_pages("contacts", "contacts")}
    for company in first.values():
        assert company["linkedContactsIds"] and set(company["linkedContactsIds"]) <= contact_ids
        assert company["attributes"]["industry"] and company["attributes"]["number_of_employees"] > 0

    p.run("run", "tap-amplitude", "target-brevo")  # the rest of the day: the changed profiles
    second = companies(p)
    assert {key: c["id"] for key, c in second.items()} == {key: c["id"] for key, c in first.items()}, "no duplicate"
    changed = [key for key in first if first[key]["attributes"] != second[key]["attributes"]]
    assert changed, "the halfway profile change reached the companies"
    assert summary(p)["objects"]["companies"].get("updated", 0) >= len(changed)

    p.run("run", "--state-id-suffix=again", "tap-amplitude", "target-brevo")  # the same hours again
    again = summary(p)
    assert not {k: v for k, v in again["api_calls"].items() if "/companies" in k or "/crm/" in k}
    assert again["objects"]["companies"]["unchanged"] >= seeded["accounts"]
    assert companies(p) == second


@pytest.fixture
def charts_pipeline(pipeline: Pipeline, postgres: Postgres) -> Pipeline:
    pipeline.env.update(postgres.plugin_env("target-postgres"))
    return pipeline


def test_saved_chart_results_land_in_postgres(charts_pipeline: Pipeline, postgres: Postgres) -> None:
    p = charts_pipeline
    schema = "amplitude_charts_e2e"
    with psycopg.connect(postgres.conninfo(), autocommit=True) as db:
        db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    p.seed_app(**SEED)
    env = {"TAP_AMPLITUDE_CHARTS_CHART_IDS": json.dumps(SEED_CHARTS), "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema}
    p.run("run", "amplitude-charts-to-warehouse", **env)
    p.run("run", "amplitude-charts-to-warehouse", **env)  # a re-run the same day replaces the day's rows
    with psycopg.connect(postgres.conninfo()) as db:
        results = db.execute(f"SELECT chart_id, count(*) FROM {schema}.chart_results GROUP BY 1 ORDER BY 1").fetchall()
        series = db.execute(
            f"SELECT chart_id, count(*), count(DISTINCT (series_index, x_value)) FROM {schema}.chart_series GROUP BY 1"
        ).fetchall()
    assert results == [(chart, 1) for chart in sorted(SEED_CHARTS)]
    assert {chart for chart, _, _ in series} == set(SEED_CHARTS)
    assert all(rows == distinct > 0 for _, rows, distinct in series)
