"""The durable spool: every accepted payload item is a row in SQLite, on disk before the sender hears 2xx.

SQLite in WAL mode with `synchronous=FULL` syncs the write-ahead log at every commit, so a committed row survives
a crash or a power cut. Rows are numbered by `seq` (AUTOINCREMENT: a number is never given twice, even after every
row has been pruned), read in that order by the consumer, and pruned from the front once downstream has made them
durable too. Only a prefix is ever pruned, so the rows kept are always a contiguous range of seqs.

One process owns a spool file at a time (an exclusive lock on `<path>.lock`): two consumers pruning the same rows
would lose data.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

_CREATE = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    received_at REAL NOT NULL,
    body BLOB NOT NULL
)
"""
_INSERT = "INSERT INTO spool (kind, received_at, body) VALUES (?, ?, ?)"
_BUSY_TIMEOUT_MS = 5000


class SpoolError(Exception):
    """The spool cannot take or give items (disk full, I/O error, locked by another process, ...)."""


class SpoolFull(SpoolError):
    """Accepting the items would take the spool past its size limit: the sender should retry later."""


@dataclass(frozen=True, slots=True)
class SpooledItem:
    seq: int
    kind: str
    received_at: float  # Unix time of the commit that made it durable
    body: bytes


@dataclass(frozen=True, slots=True)
class SpoolStats:
    pending: int  # rows kept: accepted and not pruned yet
    pending_bytes: int  # their bodies' size
    last_seq: int  # the highest seq given so far (0: none yet)


Item = tuple[str, bytes]  # (kind, body)


def _connect(path: Path) -> sqlite3.Connection:
    # Autocommit mode: transactions are opened explicitly. Connections are used from several threads, always
    # under the lock that goes with them.
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        connection.close()
        raise SpoolError(f"spool {path}: the file system does not support SQLite's WAL mode (got {mode!r})")
    connection.execute("PRAGMA synchronous = FULL")
    return connection


class Spool:
    """The spool file at `path`; `max_bytes` caps the bodies kept (a size guard: beyond it appends raise SpoolFull).

    Thread-safe: appends and prunes share one connection, reads use another (WAL lets them run side by side).
    """

    def __init__(self, path: str | Path, *, max_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(self.path.with_name(self.path.name + ".lock"), "a+b")  # noqa: SIM115
        except OSError as exc:
            raise SpoolError(f"spool {self.path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise SpoolError(f"spool {self.path} is in use by another process") from None
        connections: list[sqlite3.Connection] = []
        try:
            self._writer = _connect(self.path)
            connections.append(self._writer)
            self._writer.execute(_CREATE)
            self._reader = _connect(self.path)
            connections.append(self._reader)
            count, size = self._writer.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM spool").fetchone()
            row = self._writer.execute("SELECT seq FROM sqlite_sequence WHERE name = 'spool'").fetchone()
        except sqlite3.Error as exc:
            for connection in connections:
                connection.close()
            self._lock_file.close()
            raise SpoolError(f"spool {self.path}: {exc}") from exc
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._changed = threading.Condition()  # guards the three counters below; notified on every append
        self._pending = int(count)
        self._pending_bytes = int(size)
        self._last_seq = int(row[0]) if row else 0
        self._closed = False

    # -- writing ------------------------------------------------------------------------------------

    def append(self, items: Sequence[Item]) -> int:
        """Store `items` in one transaction, durable on return; the seq of the last one."""
        return self.append_groups([items])[-1]

    def append_groups(self, groups: Sequence[Sequence[Item]]) -> list[int]:
        """Store several requests' items in one transaction (one fsync for all); the last seq of each group."""
        rows = [(kind, body) for group in groups for kind, body in group]
        size = sum(len(body) for _, body in rows)
        with self._write_lock:
            if self.max_bytes is not None and self._pending_bytes + size > self.max_bytes:
                raise SpoolFull(
                    f"spool {self.path} holds {self._pending_bytes} bytes; {size} more would pass its limit "
                    f"of {self.max_bytes}"
                )
            now = time.time()
            with self._transaction() as db:
                db.executemany(_INSERT, [(kind, now, body) for kind, body in rows])
                last = int(db.execute("SELECT last_insert_rowid()").fetchone()[0])
            with self._changed:
                self._pending += len(rows)
                self._pending_bytes += size
                self._last_seq = last
                self._changed.notify_all()
        # Writes are serialised by the lock, so the rows of one transaction have consecutive seqs.
        lasts = []
        for group in reversed(groups):
            lasts.append(last)
            last -= len(group)
        return lasts[::-1]

    def prune_through(self, seq: int) -> int:
        """Delete the rows up to and including `seq`; how many were deleted."""
        with self._write_lock:
            with self._transaction() as db:
                count, size = db.execute(
                    "SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM spool WHERE seq <= ?", (seq,)
                ).fetchone()
                if count:
                    db.execute("DELETE FROM spool WHERE seq <= ?", (seq,))
            with self._changed:
                self._pending -= int(count)
                self._pending_bytes -= int(size)
        return int(count)

    def continue_after(self, seq: int) -> bool:
        """Make the next seq at least `seq` + 1; True when it had to move.

        For a spool that is behind the consumer's bookmark (a new or replaced file): without this its new rows
        would be numbered at or below the bookmark, and skipped as already emitted."""
        with self._write_lock:
            if self._last_seq >= seq:
                return False
            with self._transaction() as db:
                # The table's sqlite_sequence row exists once a row was ever inserted; else it is created here.
                if not db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'spool'", (seq,)).rowcount:
                    db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('spool', ?)", (seq,))
            with self._changed:
                self._last_seq = seq
        return True

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the writer (the caller holds the write lock); SQLite errors as SpoolError."""
        try:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
                self._writer.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as exc:
            raise SpoolError(f"spool {self.path}: {exc}") from exc

    def _rollback(self) -> None:
        try:
            self._writer.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the transaction is already gone (SQLite rolls back by itself on some errors, disk full among them)

    # -- reading ------------------------------------------------------------------------------------

    def read_after(self, seq: int, limit: int) -> list[SpooledItem]:
        """Up to `limit` rows with a seq above `seq`, in seq order."""
        with self._read_lock:
            try:
                rows = self._reader.execute(
                    "SELECT seq, kind, received_at, body FROM spool WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
                ).fetchall()
            except sqlite3.Error as exc:
                raise SpoolError(f"spool {self.path}: {exc}") from exc
        return [SpooledItem(row[0], row[1], row[2], bytes(row[3])) for row in rows]

    def wait_beyond(self, seq: int, timeout: float) -> bool:
        """Block until a row with a seq above `seq` was appended, or `timeout` seconds passed; True if one was."""
        with self._changed:
            return self._changed.wait_for(lambda: self._last_seq > seq, timeout)

    def stats(self) -> SpoolStats:
        with self._changed:
            return SpoolStats(self._pending, self._pending_bytes, self._last_seq)

    def probe(self) -> None:
        """Raise SpoolError unless the file can be opened and read right now (for health checks)."""
        try:
            connection = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=1)
            try:
                connection.execute("SELECT MAX(seq) FROM spool").fetchone()
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise SpoolError(f"spool {self.path}: {exc}") from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._write_lock, self._read_lock:
            self._reader.close()
            self._writer.close()
        self._lock_file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
