"""Delivery ledger: which events Brevo has accepted, keyed by event uuid, in a SQLite file.

Brevo's event API has no idempotency key, so the ledger is what makes re-runs safe: an event whose
key is recorded as delivered is never sent again. Keys are written `inflight` before a request and
`delivered` in the same breath as Brevo's 2xx, with SIGTERM/SIGINT held back in between so an
orderly stop cannot split the two. Only a hard kill during the request round trip can leave keys
`inflight`; those are sent again on the next run (never lost, at worst one batch repeated).
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
"""


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold back SIGTERM and SIGINT until the block ends (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGTERM, signal.SIGINT}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Ledger:
    """Event keys Brevo accepted (`delivered`) or that were on their way when the run stopped (`inflight`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def is_delivered(self, kind: str, key: str) -> bool:
        with self._lock:
            return (
                self._db.execute(
                    "SELECT 1 FROM deliveries WHERE kind=? AND key=? AND status='delivered'", (kind, key)
                ).fetchone()
                is not None
            )

    def _set(self, kind: str, keys: Iterable[str], status: str) -> None:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO deliveries(kind, key, status, updated_at) VALUES (?,?,?,?) "
                    "ON CONFLICT(kind, key) DO UPDATE SET status=excluded.status, updated_at=excluded.updated_at",
                    [(kind, key, status, now) for key in keys],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def mark_inflight(self, kind: str, keys: Iterable[str]) -> None:
        self._set(kind, keys, "inflight")

    def mark_delivered(self, kind: str, keys: Iterable[str]) -> None:
        self._set(kind, keys, "delivered")

    def forget(self, kind: str, keys: Iterable[str]) -> None:
        """Drop keys that were not accepted (rejected events), so a later run may send them again."""
        keys = list(keys)
        with self._lock:
            self._db.executemany(
                "DELETE FROM deliveries WHERE kind=? AND key=? AND status!='delivered'", [(kind, k) for k in keys]
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
