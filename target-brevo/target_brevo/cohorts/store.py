"""On-disk scratch store for list sync: current list members and the cohort members received this run.

Cohorts reach millions of users, so sets live in a temporary SQLite file, not in memory. Members
received and not yet applied to their list (`applied = 0`) are what the next flush sends.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from target_brevo.brevo.api import ContactIdentity

_SCHEMA = """
CREATE TABLE current (list_id INTEGER, email TEXT, ext_id TEXT, added INTEGER DEFAULT 0);
CREATE INDEX current_email ON current(list_id, email);
CREATE INDEX current_ext ON current(list_id, ext_id);
CREATE TABLE received (cohort TEXT, list_id INTEGER, key TEXT, email TEXT, ext_id TEXT, applied INTEGER DEFAULT 0,
                       PRIMARY KEY (cohort, key));
CREATE INDEX received_email ON received(list_id, email);
CREATE INDEX received_ext ON received(list_id, ext_id);
CREATE INDEX received_pending ON received(applied, cohort, list_id);
CREATE TABLE seen (cohort TEXT, key TEXT, PRIMARY KEY (cohort, key)) WITHOUT ROWID;
"""
_IN_LIST = """((r.email IS NOT NULL AND EXISTS (SELECT 1 FROM current c WHERE c.list_id=r.list_id AND c.email=r.email))
            OR (r.ext_id IS NOT NULL AND EXISTS (SELECT 1 FROM current c WHERE c.list_id=r.list_id AND c.ext_id=r.ext_id)))"""
_PAGE = 5000


def member_key(email: str | None, ext_id: str | None) -> str:
    return f"e:{email}" if email else f"x:{ext_id}"


class MemberStore:
    """Sets of list members and received cohort members, on disk for the run (cohorts reach millions)."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="target-brevo-")
        self._db = sqlite3.connect(str(Path(self._dir.name) / "membership.sqlite3"), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("PRAGMA temp_store=FILE")  # big INSERT ... SELECT sorts go to disk, not memory
        self._db.execute("PRAGMA cache_size=-16000")  # 16 MB
        self._db.executescript(_SCHEMA)
        self.loaded: set[int] = set()
        self.original_size: dict[int, int] = {}

    def load_current(self, list_id: int, members: Iterable[ContactIdentity]) -> None:
        """Remember the list's members as Brevo has them now."""
        count = 0
        rows = []
        for email, ext_id in members:
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

    def mark_removed(self, list_id: int, members: list[ContactIdentity]) -> None:
        for email, ext_id in members:
            if email:
                self._db.execute("DELETE FROM current WHERE list_id=? AND email=?", (list_id, email))
            elif ext_id:
                self._db.execute("DELETE FROM current WHERE list_id=? AND ext_id=?", (list_id, ext_id))
        self._db.commit()

    def receive(self, cohort: str, list_id: int, email: str | None, ext_id: str | None) -> bool:
        """Remember a member of `cohort` (to apply at the next flush); False when already received in this run."""
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

    # -- members received and not applied yet -------------------------------------------------
    def pending_groups(self) -> list[tuple[str, int]]:
        """(cohort, list_id) pairs with members to apply, in the order they first arrived."""
        rows = self._db.execute(
            "SELECT cohort, list_id, min(rowid) AS first FROM received WHERE applied=0 GROUP BY cohort, list_id ORDER BY first"
        )
        return [(cohort, list_id) for cohort, list_id, _ in rows]

    def count_pending(self, cohort: str, list_id: int, *, in_list: bool) -> int:
        """Pending members of `cohort` that are (in_list) or are not (not in_list) in the list now."""
        condition = _IN_LIST if in_list else f"NOT {_IN_LIST}"
        return self._db.execute(
            f"SELECT count(*) FROM received r WHERE r.applied=0 AND r.cohort=? AND r.list_id=? AND {condition}",
            (cohort, list_id),
        ).fetchone()[0]

    def iter_pending(self, cohort: str, list_id: int, *, in_list: bool) -> Iterator[ContactIdentity]:
        """Those members, page by page (the list's current members must not change meanwhile)."""
        condition = _IN_LIST if in_list else f"NOT {_IN_LIST}"
        after = 0
        while True:
            rows = self._db.execute(
                f"SELECT r.rowid, r.email, r.ext_id FROM received r WHERE r.applied=0 AND r.cohort=? AND r.list_id=? "
                f"AND r.rowid>? AND {condition} ORDER BY r.rowid LIMIT ?",
                (cohort, list_id, after, _PAGE),
            ).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            for _, email, ext_id in rows:
                yield ContactIdentity(email, ext_id)

    def apply_pending(self, cohort: str, list_id: int, *, added: bool) -> None:
        """Record the cohort's pending members as applied: now in the list (added) or out of it."""
        if added:
            self._db.execute(
                f"INSERT INTO current(list_id, email, ext_id, added) SELECT r.list_id, r.email, r.ext_id, 1 "
                f"FROM received r WHERE r.applied=0 AND r.cohort=? AND r.list_id=? AND NOT {_IN_LIST}",
                (cohort, list_id),
            )
        else:
            self._db.execute(
                "DELETE FROM current WHERE list_id=? AND ("
                " email IN (SELECT email FROM received WHERE applied=0 AND cohort=? AND list_id=? AND email IS NOT NULL)"
                " OR ext_id IN (SELECT ext_id FROM received WHERE applied=0 AND cohort=? AND list_id=? AND ext_id IS NOT NULL))",
                (list_id, cohort, list_id, cohort, list_id),
            )
        self._db.execute("UPDATE received SET applied=1 WHERE applied=0 AND cohort=? AND list_id=?", (cohort, list_id))
        self._db.commit()

    def not_received(self, list_id: int) -> list[ContactIdentity]:
        """Current members of the list that no cohort mapped to it delivered in this run (mirror removals)."""
        rows = self._db.execute(
            """SELECT DISTINCT c.email, c.ext_id FROM current c
               WHERE c.list_id=?
                 AND NOT (c.email IS NOT NULL AND EXISTS (SELECT 1 FROM received r WHERE r.list_id=c.list_id AND r.email=c.email))
                 AND NOT (c.ext_id IS NOT NULL AND EXISTS (SELECT 1 FROM received r WHERE r.list_id=c.list_id AND r.ext_id=c.ext_id))""",
            (list_id,),
        )
        return [ContactIdentity(e, x) for e, x in rows]

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()
