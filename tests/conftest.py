"""Shared fixtures: one sandbox process for the whole session, reset before each test that uses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.process import SandboxProcess, start

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def sandbox_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    workdir = tmp_path_factory.mktemp("sandbox")
    proc = start(ready_file=workdir / "ready.json", log_file=workdir / "sandbox.log")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def sandbox(sandbox_session: SandboxProcess) -> SandboxProcess:
    """The session's sandbox, emptied: no data, no pending faults, an empty request log, default settings."""
    sandbox_session.reset()
    return sandbox_session
