"""Fixtures for the target-amplitude tests against the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def amplitude(sandbox):
    """The sandbox with no export latency, so what was ingested is exported at once."""
    sandbox.configure("amplitude", export_latency_hours=-1)
    return sandbox


@pytest.fixture
def config(amplitude, tmp_path: Path):
    def make(**extra: Any) -> dict[str, Any]:
        return {
            "api_key": amplitude.amplitude["api_key"],
            "api_url": amplitude.amplitude["ingest"],
            "ledger_path": str(tmp_path / "ledger.sqlite3"),
            "rejects_file": str(tmp_path / "rejects.jsonl"),
            "backoff_base_seconds": 0.01,
            "backoff_max_seconds": 0.05,
            "throttle_wait_seconds": 0.3,
            **extra,
        }

    return make
