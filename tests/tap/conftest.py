"""Fixtures for the tap-amplitude tests (helpers live in support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def tap_dir(tmp_path: Path):
    counter = iter(range(1000))
    return lambda: tmp_path / f"run{next(counter)}"
