"""The sandbox's clock: real time plus an adjustable offset, shared by every emulator.

Demos and tests move it to simulate an app that ran for days, or to let Amplitude's export latency
pass without waiting. Every response carries it in the `Date` header, as a real server's clock.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from email.utils import formatdate

_offset = 0.0
_lock = threading.Lock()


def now() -> float:
    """Seconds since the epoch, as the sandbox sees it."""
    return time.time() + _offset


def now_datetime() -> datetime:
    return datetime.fromtimestamp(now(), UTC)


def offset() -> float:
    return _offset


def set_offset(seconds: float) -> None:
    global _offset
    with _lock:
        _offset = float(seconds)


def set_now(moment: datetime) -> None:
    """Make the sandbox clock read `moment` now (it then keeps ticking)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    set_offset(moment.timestamp() - time.time())


def parse_iso(text: str) -> datetime:
    """An ISO 8601 date-time as the sandbox's routes read it: a `Z` means UTC, even after a bare date."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: FURB162 - Python alone rejects "2025-01-01Z"


def http_date() -> str:
    return formatdate(now(), usegmt=True)
