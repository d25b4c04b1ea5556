"""The privacy store: a SQLite file beside the ledger, shared by the targets of one host.

- `identities`: amplitude_id -> the email and ext_id of the contact this target delivered for it, since
  Amplitude's deletion list names people by amplitude_id only. An entry is erased with its person.
- `tombstones`: keyed hashes of an erased person's identifiers (amplitude_id, email, ext_id), never the
  identifiers themselves: enough to recognise the person in a later record, not to name them. A tombstone
  is written `erasing` before Brevo is asked to delete (so no other process re-creates the contact
  meanwhile) and turns `erased` once Brevo answered.
- `pending_log_deletions`: emails whose transactional logs are still to be erased (Brevo's calls for it draw on
  the 300-per-hour `/smtp/*` bucket, so a backlog is worked off over several runs); a row goes once its call succeeded.
- `consent`: the last consent seen per person (keyed hash), so a record without the consent field
  (a cohort member, an order) is judged by it.

The hash key is random per store (kept in the file): the hashes cannot be matched against another
store's or a list of known emails without the file itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from target_brevo.brevo.api import ContactIdentity
from target_brevo.delivery.ledger import connect_shared, write_transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS store_keys (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS identities (
    amplitude_id INTEGER PRIMARY KEY,
    email TEXT,
    ext_id TEXT,
    seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS identities_by_email ON identities(email);
CREATE INDEX IF NOT EXISTS identities_by_ext_id ON identities(ext_id);
CREATE TABLE IF NOT EXISTS tombstones (
    digest BLOB PRIMARY KEY,
    state TEXT NOT NULL,
    at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending_log_deletions (email TEXT PRIMARY KEY, queued_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS consent (
    digest BLOB PRIMARY KEY,
    granted INTEGER NOT NULL,
    at REAL NOT NULL
) WITHOUT ROWID;
"""
_DIGEST_BYTES = 16
#: How often the tombstones held in memory are checked against the file (other processes add some).
REFRESH_SECONDS = 1.0
REREAD_SECONDS = 300.0  # how far back each refresh reads again (writers stamp before they commit)


def person_keys(identity: ContactIdentity, amplitude_id: int | None) -> list[str]:
    """The identifiers a person is recognised by: `a:<amplitude_id>`, `e:<email>`, `x:<ext_id>`."""
    keys = [f"a:{amplitude_id}"] if amplitude_id is not None else []
    if identity.email:
        keys.append(f"e:{identity.email}")
    if identity.ext_id:
        keys.append(f"x:{identity.ext_id}")
    return keys


class PrivacyStore:
    """Identity map, tombstones and consent states in one shared SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))  # SQLite gives its -wal, -shm the same mode
            os.chmod(self.path, 0o600)
        self._db = connect_shared(self.path, _SCHEMA)
        self._db.execute("PRAGMA secure_delete=ON")  # an erased identity is overwritten, not left in a free page
        self._lock = threading.Lock()
        self._key = self._hash_key()
        self._tombstones: set[bytes] = set()
        self._loaded_through = 0.0  # the newest tombstone time read from the file
        self._version: int | None = None
        self._checked_at = 0.0
        #: Changes whenever a tombstone is added here or read from another process: a held item admitted
        #: before the change is checked again before it is sent.
        self.generation = 0
        self._refresh(force=True)

    def _hash_key(self) -> bytes:
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO store_keys(name, value) VALUES ('hash', ?)", (secrets.token_bytes(32),))
            return bytes(db.execute("SELECT value FROM store_keys WHERE name='hash'").fetchone()[0])

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return write_transaction(self._db, self._lock)

    def digest(self, key: str) -> bytes:
        return hashlib.blake2b(key.encode(), key=self._key, digest_size=_DIGEST_BYTES).digest()

    # -- tombstones ---------------------------------------------------------------------------
    def _refresh(self, *, force: bool = False) -> None:
        """Read the tombstones other processes wrote since the last read (at most every REFRESH_SECONDS)."""
        now = time.monotonic()
        if not force and now - self._checked_at < REFRESH_SECONDS:
            return
        self._checked_at = now
        with self._lock:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if version == self._version and not force:
                return
            self._version = version
            # a margin: another process may commit a tombstone stamped a little before one already read
            since = self._loaded_through - REREAD_SECONDS
            rows = self._db.execute("SELECT digest, at FROM tombstones WHERE at >= ?", (since,))
            before = len(self._tombstones)
            for digest, at in rows:
                self._tombstones.add(bytes(digest))
                self._loaded_through = max(self._loaded_through, at)
            if len(self._tombstones) != before:
                self.generation += 1

    def refresh_now(self) -> None:
        """Read other processes' new tombstones now (before a send)."""
        self._checked_at = 0.0
        self._refresh()

    def is_erased(self, keys: Iterable[str]) -> bool:
        """Whether any of a person's keys has a tombstone (erasing or erased)."""
        self._refresh()
        if not self._tombstones:
            return False
        return any(self.digest(key) in self._tombstones for key in keys)

    def fully_erased(self, keys: list[str]) -> bool:
        """Whether an erasure of these keys was completed before (every key `erased`)."""
        digests = [self.digest(key) for key in keys]
        marks = ",".join("?" * len(digests))
        with self._lock:
            states = self._db.execute(f"SELECT state FROM tombstones WHERE digest IN ({marks})", digests).fetchall()
        return len(states) == len(digests) and all(state == "erased" for (state,) in states)

    def bury(self, keys: Iterable[str], *, state: str) -> None:
        """Write (or complete) the tombstones of `keys`; `erased` also drops the person's identity map entries."""
        now = time.time()
        keys = list(keys)
        with self._write() as db:
            db.executemany(
                "INSERT INTO tombstones(digest, state, at) VALUES (?,?,?) "
                "ON CONFLICT(digest) DO UPDATE SET state=excluded.state, at=excluded.at",
                [(self.digest(key), state, now) for key in keys],
            )
            if state == "erased":
                for key in keys:
                    kind, _, value = key.partition(":")
                    column = {"a": "amplitude_id", "e": "email", "x": "ext_id"}[kind]
                    db.execute(f"DELETE FROM identities WHERE {column}=?", (int(value) if kind == "a" else value,))
        self._tombstones.update(self.digest(key) for key in keys)
        self.generation += 1
        if state == "erased":
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Copy the WAL into the file and empty it where no other process reads, so an erased identity does
        not linger in old WAL frames (best effort: a reader elsewhere keeps the frames until its own end)."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- transactional logs still to erase ----------------------------------------------------
    def queue_log_deletion(self, email: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO pending_log_deletions(email, queued_at) VALUES (?,?)", (email, time.time())
            )

    def pending_log_deletions(self, limit: int) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT email FROM pending_log_deletions ORDER BY queued_at LIMIT ?", (limit,))
            return [row[0] for row in rows]

    def drop_log_deletions(self) -> int:
        """Forget every queued email (the feature was turned off): returns how many."""
        with self._write() as db:
            return db.execute("DELETE FROM pending_log_deletions").rowcount

    def log_deletions_waiting(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM pending_log_deletions").fetchone()[0])

    def log_deletion_done(self, email: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM pending_log_deletions WHERE email=?", (email,))

    # -- identity map -------------------------------------------------------------------------
    def remember(self, identities: dict[int, ContactIdentity]) -> None:
        """Record the contact identity of each amplitude_id (the latest wins; a missing part is kept), except
        for people erased meanwhile (by another process, say), checked inside the same transaction."""
        if not identities:
            return
        now = time.time()
        with self._write() as db:
            erased = {
                aid
                for aid, who in identities.items()
                for key in person_keys(who, aid)
                if db.execute("SELECT 1 FROM tombstones WHERE digest=?", (self.digest(key),)).fetchone()
            }
            identities = {aid: who for aid, who in identities.items() if aid not in erased}
            db.executemany(
                "INSERT INTO identities(amplitude_id, email, ext_id, seen_at) VALUES (?,?,?,?) "
                "ON CONFLICT(amplitude_id) DO UPDATE SET email=coalesce(excluded.email, email), "
                "ext_id=coalesce(excluded.ext_id, ext_id), seen_at=excluded.seen_at",
                [(aid, who.email, who.ext_id, now) for aid, who in identities.items()],
            )

    def identity_of(self, amplitude_id: int) -> ContactIdentity | None:
        with self._lock:
            row = self._db.execute(
                "SELECT email, ext_id FROM identities WHERE amplitude_id=?", (amplitude_id,)
            ).fetchone()
        return ContactIdentity(row[0], row[1]) if row else None

    def amplitude_ids_of(self, identity: ContactIdentity) -> list[int]:
        """The amplitude_ids the identity map holds for this email or ext_id."""
        found: list[int] = []
        with self._lock:
            for column, value in (("email", identity.email), ("ext_id", identity.ext_id)):
                if value:
                    rows = self._db.execute(f"SELECT amplitude_id FROM identities WHERE {column}=?", (value,))
                    found.extend(row[0] for row in rows)
        return list(dict.fromkeys(found))

    def is_known(self, identity: ContactIdentity) -> bool:
        """Whether this target delivered a contact with this email or ext_id (under some amplitude_id)."""
        with self._lock:
            for column, value in (("email", identity.email), ("ext_id", identity.ext_id)):
                if (
                    value
                    and self._db.execute(f"SELECT 1 FROM identities WHERE {column}=? LIMIT 1", (value,)).fetchone()
                ):
                    return True
        return False

    # -- consent ------------------------------------------------------------------------------
    def consent_of(self, keys: list[str]) -> bool | None:
        """The last consent recorded for any of a person's keys (None: never seen)."""
        digests = [self.digest(key) for key in keys]
        if not digests:
            return None
        marks = ",".join("?" * len(digests))
        with self._lock:
            row = self._db.execute(
                f"SELECT granted FROM consent WHERE digest IN ({marks}) ORDER BY at DESC LIMIT 1", digests
            ).fetchone()
        return bool(row[0]) if row else None

    def record_consent(self, states: dict[str, bool]) -> None:
        """Remember each person key's consent (True granted, False not)."""
        if not states:
            return
        now = time.time()
        with self._write() as db:
            db.executemany(
                "INSERT INTO consent(digest, granted, at) VALUES (?,?,?) "
                "ON CONFLICT(digest) DO UPDATE SET granted=excluded.granted, at=excluded.at",
                [(self.digest(key), int(granted), now) for key, granted in states.items()],
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
