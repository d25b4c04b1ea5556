"""When held records are sent, and the STATE that follows them is emitted (and acknowledged in a file)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from target_common.files import write_atomically

LOGGER = logging.getLogger("target_brevo")


class FlushPolicy:
    """Flush when a STATE arrives at least `interval_seconds` after the last flush; emit each new STATE
    once, and none in a dry run (nothing was written, so a bookmark would make the next real run skip
    those records). Each STATE emitted is also written to `ack_file` when one is set."""

    def __init__(
        self,
        interval_seconds: float,
        *,
        dry_run: bool,
        ack_file: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_seconds = interval_seconds
        self.dry_run = dry_run
        self.ack_file = Path(ack_file) if ack_file else None
        self._clock = clock
        self._flushed_at = clock()
        self._last_state: Any = None

    def flush_due(self) -> bool:
        return self._clock() - self._flushed_at >= self.interval_seconds

    def flushed(self) -> None:
        self._flushed_at = self._clock()

    def emits(self, state: dict[str, Any]) -> bool:
        """Whether `state`, which every delivered record precedes, is to be written now."""
        if state == self._last_state:
            return False
        if self.dry_run and self._last_state is None:
            LOGGER.info("Dry run: STATE messages are not emitted")
        self._last_state = state
        return not self.dry_run

    def acknowledge(self, state: dict[str, Any]) -> None:
        """After `state` was emitted (never in a dry run, see `emits`): write it to `ack_file`, for a tap
        that drops what it covers."""
        if self.ack_file is not None:
            write_atomically(self.ack_file, orjson.dumps(state) + b"\n")
