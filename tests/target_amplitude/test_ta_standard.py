"""The Singer SDK's standard target tests: every bundled stream is read without error.

None of their records is an email event (no `event` field), so each is rejected with its reason and nothing
is sent (the api_url is a closed loopback port: a request would fail the test). A record without its key
property stops the run, as the SDK's own test expects."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from singer_sdk.testing import get_target_test_class
from target_amplitude.target import TargetAmplitude

WORKDIR = Path(tempfile.mkdtemp(prefix="target-amplitude-standard-"))
CONFIG = {
    "api_key": "0123456789abcdef0123456789abcdef",
    "api_url": "http://127.0.0.1:9",
    "ledger_path": str(WORKDIR / "ledger.sqlite3"),
    "rejects_file": str(WORKDIR / "rejects.jsonl"),
    "max_retries": 0,
}

StandardTargetTests = get_target_test_class(target_class=TargetAmplitude, config=CONFIG)


class TestTargetAmplitude(StandardTargetTests):  # type: ignore[misc, valid-type]
    @pytest.fixture(scope="class")
    @classmethod
    def resource(cls) -> str:
        return "resource"
