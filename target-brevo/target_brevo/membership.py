"""On-disk scratch store for list sync: current list members and the cohort members received this run.

Cohorts reach millions of users, so sets live in a temporary SQLite file, not in memory.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

_SCHEMA = """
CREATE TABLE current (list_id INTEGER, email TEXT, ext_id TEXT, added INTEGER DEFAULT 0);
CREATE INDEX current_email ON current(list_id, email);
CREATE INDEX current_ext ON current(list_id, ext_id);
CREATE TABLE received (cohort TEXT, list_id INTEGER, key TEXT, email TEXT, ext_id TEXT, PRIMARY KEY (cohort, key));
CREATE INDEX received_email ON received(list_id, email);
CREATE INDEX received_ext ON received(list_id, ext_id);
CREATE TABLE seen (cohort TEXT, key TEXT, PRIMARY KEY (cohort, key)) WITHOUT ROWID;
"""


def member_key(email: str | None, ext_id: str | None) -> str:
    return f"e:{email}" if email else f"x:{ext_id}"


class MembershipStore:
    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="target-brevo-")
        self._db = sqlite3.connect(str(Path(self._dir.name) / "membership.sqlite3"), check_same_thread=False)
        self._db.executescript(_SCHEMA)
        self.loaded: set[int] = set()
        self.original_size: dict[int, int] = {}

    def load_current(self, list_id: int, members: list[tuple[str | None, str | None]] | object) -> None:
        count = 0
        rows = []
        for email, ext_id in members:  # type: ignore[attr-defined]
            rows.append((list_id, email, ext_id))
            count += 1
            if len(rows) >= 5000:
                self._db.executemany("INSERT INTO current(list_id, email, ext_id) VALUES (?,?,?)", rows)
                rows = []
        if rows:
            self._db.executemany("INSERT INTO current(list_id, email, ext_id) VALUES (?,?,?)", rows)
        self._db.commit()
        self.loaded.add(list_id)
        self.original_size[list_id] = count

    def in_list(self, list_id: int, email: str | None, ext_id: str | None) -> bool:
        if email and self._db.execute("SELECT 1 FROM current WHERE list_id=? AND email=? LIMIT 1", (list_id, email)).fetchone():
            return True
        return bool(ext_id and self._db.execute(
            "SELECT 1 FROM current WHERE list_id=? AND ext_id=? LIMIT 1", (list_id, ext_id)).fetchone())

    def mark_in_list(self, list_id: int, members: list[tuple[str | None, str | None]]) -> None:
        self._db.executemany("INSERT INTO current(list_id, email, ext_id, added) VALUES (?,?,?,1)",
                             [(list_id, e, x) for e, x in members])
        self._db.commit()

    def mark_removed(self, list_id: int, members: list[tuple[str | None, str | None]]) -> None:
        for email, ext_id in members:
            if email:
                self._db.execute("DELETE FROM current WHERE list_id=? AND email=?", (list_id, email))
            elif ext_id:
                self._db.execute("DELETE FROM current WHERE list_id=? AND ext_id=?", (list_id, ext_id))
        self._db.commit()

    def receive(self, cohort: str, list_id: int, email: str | None, ext_id: str | None) -> bool:
        """Remember a member of `cohort`; False when it was already received in this run."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO received(cohort, list_id, key, email, ext_id) VALUES (?,?,?,?,?)",
            (cohort, list_id, member_key(email, ext_id), email, ext_id),
        )
        return cursor.rowcount == 1

    def see(self, cohort: str, key: str) -> None:
        """Count a record of `cohort` towards its snapshot (distinct by the record's key)."""
        self._db.execute("INSERT OR IGNORE INTO seen(cohort, key) VALUES (?,?)", (cohort, key))

    def seen_count(self, cohort: str) -> int:
        return self._db.execute("SELECT count(*) FROM seen WHERE cohort=?", (cohort,)).fetchone()[0]

    def commit(self) -> None:
        self._db.commit()

    def received_count(self, cohort: str) -> int:
        return self._db.execute("SELECT count(*) FROM received WHERE cohort=?", (cohort,)).fetchone()[0]

    def not_received(self, list_id: int) -> list[tuple[str | None, str | None]]:
        """Current members of the list that no cohort mapped to it delivered in this run (mirror removals)."""
        rows = self._db.execute(
            """SELECT DISTINCT c.email, c.ext_id FROM current c
               WHERE c.list_id=?
                 AND NOT (c.email IS NOT NULL AND EXISTS (SELECT 1 FROM received r WHERE r.list_id=c.list_id AND r.email=c.email))
                 AND NOT (c.ext_id IS NOT NULL AND EXISTS (SELECT 1 FROM received r WHERE r.list_id=c.list_id AND r.ext_id=c.ext_id))""",
            (list_id,),
        )
        return [(e, x) for e, x in rows]

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()
