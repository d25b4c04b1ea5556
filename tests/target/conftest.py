"""Fixtures for the target-brevo tests against the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def brevo(sandbox):
    """The sandbox with a fast Brevo: short import delays, real rate limits."""
    sandbox.configure("brevo", import_delay_seconds=0.05)
    return sandbox


@pytest.fixture
def config(brevo, tmp_path: Path):
    def make(**extra: Any) -> dict[str, Any]:
        return {
            "api_key": brevo.brevo["api_key"],
            "api_url": brevo.brevo["api"],
            "ledger_path": str(tmp_path / "ledger.sqlite3"),
            "rejects_file": str(tmp_path / "rejects.jsonl"),
            "process_poll_initial_seconds": 0.05,
            "process_poll_max_seconds": 0.2,
            "backoff_base_seconds": 0.01,
            "backoff_max_seconds": 0.05,
            "create_missing_lists": True,
            # the fixtures' events are months old: tests of delivery mechanics send them anyway
            "send_old_events": True,
            **extra,
        }

    return make
