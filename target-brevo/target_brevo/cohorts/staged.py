"""On-disk scratch store of the membership changes received since the last flush, one per list and contact.

A cohort's first sync sends its whole population (up to millions of users), so the changes wait in a
temporary SQLite file, not in memory. Of several changes to one contact, the latest computed wins.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from target_brevo.brevo.api import ContactIdentity
from target_brevo.cohorts import policy
from target_brevo.delivery.ledger import ContactChange

STAGED = "staged"
_PAGE = 500

_SCHEMA = """
CREATE TABLE staged (
    list_id INTEGER NOT NULL,
    contact TEXT NOT NULL,
    email TEXT,
    ext_id TEXT,
    in_list INTEGER NOT NULL,
    computed_at REAL NOT NULL,
    message_id TEXT NOT NULL,
    verdict TEXT,
    PRIMARY KEY (list_id, contact)
);
CREATE INDEX staged_verdict ON staged(list_id, verdict, contact);
"""


class StagedChange(NamedTuple):
    """The change to make to one contact of a list, keyed by `contact`."""

    contact: str
    member: ContactIdentity
    change: ContactChange


class StagedChanges:
    """Changes received and not yet applied, by list and contact."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="target-brevo-changes-")
        self._db = sqlite3.connect(str(Path(self._dir.name) / "changes.sqlite3"), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)

    def stage(self, list_id: int, contact: str, member: ContactIdentity, change: ContactChange) -> str:
        """Keep `change` for `contact`, replacing the one staged, unless `policy.delta_verdict` skips it
        against that one; returns `STAGED`, or the verdict that skipped it."""
        row = self._db.execute(
            "SELECT in_list, computed_at, message_id FROM staged WHERE list_id=? AND contact=?", (list_id, contact)
        ).fetchone()
        verdict = policy.delta_verdict(change, ContactChange(bool(row[0]), row[1], row[2]) if row else None)
        if verdict in (policy.DUPLICATE, policy.LATE):
            return verdict
        self._db.execute(
            "INSERT INTO staged(list_id, contact, email, ext_id, in_list, computed_at, message_id) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT(list_id, contact) DO UPDATE SET "
            "email=coalesce(excluded.email, staged.email), ext_id=coalesce(excluded.ext_id, staged.ext_id), "
            "in_list=excluded.in_list, computed_at=excluded.computed_at, message_id=excluded.message_id",
            (list_id, contact, member.email, member.ext_id, int(change.in_list), change.computed_at, change.message_id),
        )
        return STAGED

    def lists(self) -> list[int]:
        """The lists with staged changes."""
        return [row[0] for row in self._db.execute("SELECT DISTINCT list_id FROM staged ORDER BY list_id")]

    def pages(self, list_id: int, verdict: str | None = None) -> Iterator[list[StagedChange]]:
        """The list's staged changes (those given `verdict`, when given), a page at a time, by contact."""
        only = "" if verdict is None else "AND verdict=? "
        after = ""
        while True:
            rows = self._db.execute(
                "SELECT contact, email, ext_id, in_list, computed_at, message_id FROM staged "
                f"WHERE list_id=? AND contact>? {only}ORDER BY contact LIMIT ?",
                (list_id, after, *(() if verdict is None else (verdict,)), _PAGE),
            ).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            yield [
                StagedChange(contact, ContactIdentity(email, ext_id), ContactChange(bool(in_list), at, message_id))
                for contact, email, ext_id, in_list, at, message_id in rows
            ]

    def decide(self, list_id: int, verdicts: Iterable[tuple[str, str]]) -> None:
        """Record what is done with each staged change: (verdict, contact) pairs."""
        self._db.executemany(
            "UPDATE staged SET verdict=? WHERE list_id=? AND contact=?",
            [(verdict, list_id, contact) for verdict, contact in verdicts],
        )

    def with_verdict(self, list_id: int, verdict: str) -> Iterator[StagedChange]:
        for page in self.pages(list_id, verdict):
            yield from page

    def clear(self, list_id: int) -> None:
        self._db.execute("DELETE FROM staged WHERE list_id=?", (list_id,))
        self._db.commit()

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()
