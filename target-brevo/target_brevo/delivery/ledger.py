"""Delivery ledger: what Brevo has been given, in a SQLite file that several target processes may share.

Events. Brevo's event API has no idempotency key, so the ledger is what makes re-runs, retries and a
second path (a streaming target beside the hourly export target) safe: an event key is sent only by
the process that claims it. A claim inserts the key `inflight` under the claiming ledger's owner id
inside one write transaction, and SQLite lets one writer at a time in, so two processes can never
both claim a key. The key turns `delivered` in the same breath as Brevo's 2xx, with SIGTERM/SIGINT
held back in between, and a key Brevo refused is released. A key left `inflight` by an owner that is
no longer running (a hard kill during the request round trip) is free again: the next claimant sends
it again, so nothing is lost and at worst one batch repeats.

Owners. An open ledger holds an exclusive `flock` on `<ledger>.owners/<owner>.lock`; the kernel drops
it when the process ends, however it ends, so "is the owner of this claim still running" needs no
clock and no heartbeat. SQLite's WAL and `flock` both need the processes on one host (a local disk or
one volume of one node), which is how a streaming and an export target share a ledger.

Companies. `companies` keeps the Brevo id of each group's company and a fingerprint of what was sent (name and
attributes), `company_members` the contacts linked to it, so a re-run sends only what changed;
`company_imports` the company imports sent whose new ids are not recorded yet (a crash in between), so the
next run looks them up instead of creating the companies twice.

Cohort deltas. `list_changes` keeps, per list and contact, the last membership change applied (in or
out, when Amplitude computed it, and its message id), so a repeated message and a change older than
the one applied are skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

LOGGER = logging.getLogger("target_brevo.ledger")
#: How long a writer waits for another process's write transaction (they last milliseconds).
BUSY_TIMEOUT_SECONDS = 30.0
_PAGE = 500  # keys per query (SQLite allows 32,766 parameters)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at REAL NOT NULL,
    owner TEXT,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS companies (
    company_key TEXT PRIMARY KEY,
    company_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS company_members (
    company_key TEXT NOT NULL,
    contact TEXT NOT NULL,
    PRIMARY KEY (company_key, contact)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS company_members_by_contact ON company_members(contact);
CREATE TABLE IF NOT EXISTS company_imports (
    sent_since REAL NOT NULL,
    owner TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS list_changes (
    list_id INTEGER NOT NULL,
    contact TEXT NOT NULL,
    in_list INTEGER NOT NULL,
    computed_at REAL NOT NULL,
    message_id TEXT NOT NULL,
    applied_at REAL NOT NULL,
    PRIMARY KEY (list_id, contact)
) WITHOUT ROWID;
"""


class ContactChange(NamedTuple):
    """A membership change of one contact in one list: in or out, when Amplitude computed it (epoch
    seconds), and the message that carried it."""

    in_list: bool
    computed_at: float
    message_id: str


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold back SIGTERM, SIGINT and SIGALRM (the target's stop timer) until the block ends (main thread only;
    elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGTERM, signal.SIGINT, signal.SIGALRM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _OwnerLock:
    """This ledger's owner id, and the lock that says the owner is running (no lock for a ledger in
    memory, which no other ledger can see)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.owner = uuid.uuid4().hex
        self._fd: int | None = None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self._path = directory / f"{self.owner}.lock"
            unnamed = directory / f".{self.owner}.new"
            self._fd = os.open(unnamed, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(unnamed, self._path)  # a lock file is never seen unlocked while its owner runs
            for other in directory.glob("*.lock"):
                if other != self._path:
                    self.running(other.stem)  # drops the files of owners that ended without closing

    def running(self, owner: str | None) -> bool:
        """Whether another ledger `owner` (of a claim) is open in a live process. A claim without an owner
        was written before owners existed: its process is gone."""
        if owner is None or self.directory is None:
            return False
        path = self.directory / f"{owner}.lock"
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also releases the lock taken on a dead owner's file
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return False

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        os.close(self._fd)
        self._fd = None


def _journal_mode_wal(db: sqlite3.Connection) -> str:
    """Switch to WAL; returns the journal mode in force. Two processes creating the ledger at once can
    get "database is locked" here without SQLite waiting (the busy timeout does not cover the switch)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            return str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextlib.contextmanager
def write_transaction(db: sqlite3.Connection, lock: threading.Lock) -> Iterator[sqlite3.Connection]:
    """One write transaction on a shared file, taken at once (BEGIN IMMEDIATE) so that reads inside it are
    current; `lock` keeps this process's threads out of each other's transactions."""
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def connect_shared(path: Path, schema: str) -> sqlite3.Connection:
    """A SQLite file that processes on one host share (the ledger, the privacy store): WAL mode, a busy
    timeout, synchronous commits, and `schema` applied."""
    db = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
    mode = _journal_mode_wal(db)
    if mode != "wal" and str(path) != ":memory:":
        LOGGER.warning("%s cannot use WAL (journal mode %s): do not share it between processes", path, mode)
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    return db


class Ledger:
    """Event keys claimed (`inflight`) and accepted (`delivered`), and the last list change applied per
    list and contact."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = connect_shared(self.path, _SCHEMA)
        self._lock = threading.Lock()
        try:
            self._migrate()
            in_memory = str(path) == ":memory:"
            self._owner = _OwnerLock(None if in_memory else self.path.with_name(self.path.name + ".owners"))
        except BaseException:
            self._db.close()
            raise

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return write_transaction(self._db, self._lock)

    def _migrate(self) -> None:
        """Ledgers written before owners existed gain the column (their claims have no owner: free)."""
        with self._write() as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(deliveries)")}
            if "owner" not in columns:
                db.execute("ALTER TABLE deliveries ADD COLUMN owner TEXT")

    # -- events -------------------------------------------------------------------------------
    def is_delivered(self, kind: str, *keys: str) -> bool:
        """Whether any of `keys` (one item's key and aliases) was delivered: one query."""
        marks = ",".join("?" * len(keys))
        with self._lock:
            return (
                self._db.execute(
                    f"SELECT 1 FROM deliveries WHERE kind=? AND key IN ({marks}) AND status='delivered' LIMIT 1",
                    (kind, *keys),
                ).fetchone()
                is not None
            )

    def mark_inflight(self, kind: str, keys: Iterable[str]) -> list[str]:
        """Claim `keys` for sending; returns the keys this ledger now holds: new ones, its own claims, and
        claims of owners no longer running. Delivered keys and live owners' claims are not returned."""
        keys = list(dict.fromkeys(keys))
        return [keys[i] for i in self.claim(kind, [(key,) for key in keys])]

    def claim(self, kind: str, groups: Sequence[Sequence[str]]) -> list[int]:
        """Claim each group of keys (an item's delivery key and its aliases) as one: a group is claimed when
        none of its keys is delivered or held by another running owner. Returns the claimed groups' indexes."""
        now = time.time()
        claimed: list[int] = []
        running: dict[str | None, bool] = {}
        with self._write() as db:
            for index, group in enumerate(groups):
                keys = list(dict.fromkeys(group))
                if not all(self._claimable(db, kind, key, running) for key in keys):
                    continue
                db.executemany(
                    "INSERT INTO deliveries(kind, key, status, updated_at, owner) VALUES (?,?,'inflight',?,?) "
                    "ON CONFLICT(kind, key) DO UPDATE SET owner=excluded.owner, updated_at=excluded.updated_at",
                    [(kind, key, now, self._owner.owner) for key in keys],
                )
                claimed.append(index)
        return claimed

    def _claimable(self, db: sqlite3.Connection, kind: str, key: str, running: dict[str | None, bool]) -> bool:
        row = db.execute("SELECT status, owner FROM deliveries WHERE kind=? AND key=?", (kind, key)).fetchone()
        if row is None:
            return True
        status, owner = row
        if status != "inflight":
            return False  # delivered
        if owner == self._owner.owner:
            return True
        if owner not in running:
            running[owner] = self._owner.running(owner)
        return not running[owner]

    def mark_delivered(self, kind: str, keys: Iterable[str]) -> None:
        now = time.time()
        with self._write() as db:
            db.executemany(
                "INSERT INTO deliveries(kind, key, status, updated_at, owner) VALUES (?,?,'delivered',?,?) "
                "ON CONFLICT(kind, key) DO UPDATE SET status='delivered', updated_at=excluded.updated_at, "
                "owner=excluded.owner",
                [(kind, key, now, self._owner.owner) for key in keys],
            )

    def forget(self, kind: str, keys: Iterable[str]) -> None:
        """Release this ledger's claims on keys that were not accepted (refused events), so that a later
        run may send them again. Delivered keys and other owners' claims stay."""
        with self._write() as db:
            db.executemany(
                "DELETE FROM deliveries WHERE kind=? AND key=? AND status='inflight' AND owner=?",
                [(kind, key, self._owner.owner) for key in keys],
            )

    # -- cohort deltas ------------------------------------------------------------------------
    def applied_changes(self, list_id: int, contacts: list[str]) -> dict[str, ContactChange]:
        """The last change applied to each of `contacts` (that has one) in list `list_id`."""
        found: dict[str, ContactChange] = {}
        with self._lock:
            for start in range(0, len(contacts), _PAGE):
                part = contacts[start : start + _PAGE]
                rows = self._db.execute(
                    "SELECT contact, in_list, computed_at, message_id FROM list_changes "
                    f"WHERE list_id=? AND contact IN ({','.join('?' * len(part))})",
                    (list_id, *part),
                )
                for contact, in_list, computed_at, message_id in rows:
                    found[contact] = ContactChange(bool(in_list), computed_at, message_id)
        return found

    def record_changes(self, list_id: int, changes: Iterable[tuple[str, ContactChange]]) -> None:
        """Remember changes Brevo applied; a change older than the one recorded (by another process
        meanwhile) does not replace it."""
        now = time.time()
        rows = ((list_id, contact, int(c.in_list), c.computed_at, c.message_id, now) for contact, c in changes)
        with self._write() as db:
            db.executemany(
                "INSERT INTO list_changes(list_id, contact, in_list, computed_at, message_id, applied_at) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT(list_id, contact) DO UPDATE SET in_list=excluded.in_list, "
                "computed_at=excluded.computed_at, message_id=excluded.message_id, applied_at=excluded.applied_at "
                "WHERE excluded.computed_at >= list_changes.computed_at",
                rows,
            )

    def forget_contacts(self, contacts: list[str]) -> None:
        """Drop what is recorded of these contact keys (`e:<email>`, `x:<ext_id>`): an erased person."""
        with self._write() as db:
            for table in ("list_changes", "company_members"):
                db.executemany(f"DELETE FROM {table} WHERE contact=?", [(contact,) for contact in contacts])

    # -- companies ----------------------------------------------------------------------------
    def companies(self, keys: list[str]) -> dict[str, tuple[str, str]]:
        """company key -> (Brevo company id, fingerprint) of the companies already delivered."""
        found: dict[str, tuple[str, str]] = {}
        with self._lock:
            for start in range(0, len(keys), _PAGE):
                part = keys[start : start + _PAGE]
                rows = self._db.execute(
                    "SELECT company_key, company_id, fingerprint FROM companies "
                    f"WHERE company_key IN ({','.join('?' * len(part))})",
                    part,
                )
                found.update({key: (company_id, fingerprint) for key, company_id, fingerprint in rows})
        return found

    def company_import_sent(self, since: float) -> None:
        """Remember a company import sent at `since` (Brevo's clock) until its new ids are recorded."""
        with self._write() as db:
            db.execute("INSERT INTO company_imports(sent_since, owner) VALUES (?,?)", (since, self._owner.owner))

    def company_imports_unrecorded(self) -> float | None:
        """When the oldest company import whose ids were never recorded was sent (None: there is none)."""
        with self._lock:
            row = self._db.execute("SELECT min(sent_since) FROM company_imports").fetchone()
        return row[0] if row and row[0] is not None else None

    def company_imports_recorded(self) -> None:
        with self._write() as db:
            db.execute("DELETE FROM company_imports")

    def linked_members(self, key: str) -> set[str]:
        with self._lock:
            rows = self._db.execute("SELECT contact FROM company_members WHERE company_key=?", (key,))
            return {row[0] for row in rows}

    def record_company(self, key: str, company_id: str, fingerprint: str, members: Iterable[str]) -> None:
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO companies(company_key, company_id, fingerprint, updated_at) VALUES (?,?,?,?) "
                "ON CONFLICT(company_key) DO UPDATE SET company_id=excluded.company_id, "
                "fingerprint=excluded.fingerprint, updated_at=excluded.updated_at",
                (key, company_id, fingerprint, now),
            )
            db.executemany(
                "INSERT OR IGNORE INTO company_members(company_key, contact) VALUES (?,?)",
                [(key, member) for member in members],
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._owner.release()
