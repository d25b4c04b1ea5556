"""The insert_ids Amplitude accepted (a 200), kept in SQLite beyond Amplitude's 7-day dedupe window.

A re-run of old records (a backfill, a reset bookmark) then sends nothing twice. An insert_id is written
only after the 200 of the request that carried it; a crash before that sends it again, which Amplitude's
own insert_id dedupe absorbs within its 7 days.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

_PAGE = 500


class Ledger:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS delivered (insert_id TEXT PRIMARY KEY, delivered_at REAL NOT NULL) WITHOUT ROWID"
        )

    def delivered(self, insert_ids: Iterable[str]) -> set[str]:
        """Those of `insert_ids` already accepted by Amplitude."""
        ids = list(dict.fromkeys(insert_ids))
        found: set[str] = set()
        for start in range(0, len(ids), _PAGE):
            page = ids[start : start + _PAGE]
            rows = self._conn.execute(
                f"SELECT insert_id FROM delivered WHERE insert_id IN ({','.join('?' * len(page))})", page
            )
            found.update(row[0] for row in rows)
        return found

    def record(self, insert_ids: Iterable[str]) -> None:
        now = time.time()
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT OR IGNORE INTO delivered (insert_id, delivered_at) VALUES (?, ?)",
                ((i, now) for i in insert_ids),
            )

    def close(self) -> None:
        self._conn.close()
