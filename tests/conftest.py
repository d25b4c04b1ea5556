"""Shared fixtures: one sandbox process for the whole session, reset before each test that uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox.process import SandboxProcess, start
from sandbox_per_test import SandboxForOneTest


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
    """The session's sandbox, emptied: no data, no pending faults, an empty request log, default settings.

    Its request log leaves out requests of earlier tests that the sandbox finished after this reset
    (see sandbox_per_test.py)."""
    view = SandboxForOneTest(sandbox_session)
    view.reset()
    return view
