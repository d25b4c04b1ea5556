"""Fixtures of the tap-brevo tests: the tap as a process (one factory per test, killed at the end) and a local fake
of the Brevo API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from brevo_fake import FakeBrevo, serve
from brevo_support import BrevoTap


@pytest.fixture
def brevo_tap(tmp_path: Path) -> Iterator[Callable[..., BrevoTap]]:
    taps: list[BrevoTap] = []

    def make(**config: Any) -> BrevoTap:
        tap = BrevoTap(tmp_path / f"tap{len(taps)}", **config)
        taps.append(tap)
        return tap

    yield make
    for tap in taps:
        tap.kill()


@pytest.fixture
def fake_brevo() -> Iterator[FakeBrevo]:
    yield from serve(FakeBrevo())
