"""One Amplitude project's data on disk (SQLite): events, users, devices, groups, cohorts, saved charts, deletion jobs.

Events are stored in their export form (one serialized JSON object per row), so an export is a
plain indexed scan that streams with flat memory. Every write goes through `write()` (one
transaction, one writer); long reads (export, cohort files) open their own connection so they see
a stable snapshot while ingestion continues (WAL).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

SCHEMA = """
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY,
    upload_us INTEGER NOT NULL,
    uuid TEXT NOT NULL,
    amplitude_id INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    session_id INTEGER NOT NULL,
    event_us INTEGER NOT NULL,
    revenue REAL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_upload ON events(upload_us, uuid);
CREATE INDEX IF NOT EXISTS events_by_user ON events(amplitude_id, event_us);
CREATE TABLE IF NOT EXISTS hours(hour INTEGER PRIMARY KEY, events INTEGER NOT NULL, bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS event_types(event_type TEXT PRIMARY KEY, totals INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users(amplitude_id INTEGER PRIMARY KEY, user_id TEXT UNIQUE, state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS devices(device_id TEXT PRIMARY KEY, amplitude_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS insert_ids(
    insert_id TEXT NOT NULL, device_id TEXT NOT NULL, received_us INTEGER NOT NULL,
    PRIMARY KEY(insert_id, device_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS groups(
    group_type TEXT NOT NULL, group_value TEXT NOT NULL, properties BLOB NOT NULL, updated_us INTEGER NOT NULL,
    PRIMARY KEY(group_type, group_value)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cohorts(id TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS charts(id TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS cohort_members(
    cohort_id TEXT NOT NULL, amplitude_id INTEGER NOT NULL, PRIMARY KEY(cohort_id, amplitude_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cohort_requests(
    request_id TEXT PRIMARY KEY, cohort_id TEXT NOT NULL, props INTEGER NOT NULL,
    prop_keys BLOB NOT NULL, requested_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deletions(
    day TEXT NOT NULL, amplitude_id INTEGER NOT NULL, requester TEXT, requested_on_day TEXT NOT NULL,
    PRIMARY KEY(day, amplitude_id)
) WITHOUT ROWID;
"""

FIRST_AMPLITUDE_ID = 100_000_000_001
HOUR_US = 3_600_000_000


class Store:
    """One project's SQLite file: the writes of ingestion and cohorts, the reads of every API."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-16000")  # 16 MB: bounded, whatever the data size
        conn.executescript(SCHEMA)
        return conn

    def reader(self) -> sqlite3.Connection:
        """A private connection for a long read (close it when done)."""
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=60)
        conn.execute("PRAGMA cache_size=-4000")
        return conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction; nested calls join the outer one (bulk loads group many batches per commit)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def wipe(self) -> None:
        with self._lock:
            self._conn.close()
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(str(self.path) + suffix).unlink()
            self._conn = self._open()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- identities (inside a write transaction) --------------------------------------------

    @staticmethod
    def user_by_user_id(conn: sqlite3.Connection, user_id: str) -> tuple[int, dict[str, Any]] | None:
        row = conn.execute("SELECT amplitude_id, state FROM users WHERE user_id = ?", (user_id,)).fetchone()
        return (row[0], orjson.loads(row[1])) if row else None

    @staticmethod
    def user_by_amplitude_id(conn: sqlite3.Connection, amplitude_id: int) -> tuple[str | None, dict[str, Any]] | None:
        row = conn.execute("SELECT user_id, state FROM users WHERE amplitude_id = ?", (amplitude_id,)).fetchone()
        return (row[0], orjson.loads(row[1])) if row else None

    @staticmethod
    def device_owner(conn: sqlite3.Connection, device_id: str) -> int | None:
        row = conn.execute("SELECT amplitude_id FROM devices WHERE device_id = ?", (device_id,)).fetchone()
        return row[0] if row else None

    @staticmethod
    def max_amplitude_id(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT MAX(amplitude_id) FROM users").fetchone()
        return row[0] or FIRST_AMPLITUDE_ID - 1

    @staticmethod
    def insert_ids_received(conn: sqlite3.Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """When each known (device_id, insert_id) was last accepted."""
        found: dict[tuple[str, str], int] = {}
        wanted = set(keys)
        ids = sorted({insert_id for _device, insert_id in keys})
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = conn.execute(
                f"SELECT device_id, insert_id, received_us FROM insert_ids WHERE insert_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for device_id, insert_id, received in rows:
                if (device_id, insert_id) in wanted:
                    found[(device_id, insert_id)] = received
        return found

    @staticmethod
    def save(
        conn: sqlite3.Connection,
        users: Iterable[tuple[int, str | None, bytes]],
        devices: Iterable[tuple[str, int]],
        insert_ids: Iterable[tuple[str, str, int]],
        events: list[tuple[int, str, int, str, int, int, float | None, bytes]],
    ) -> None:
        """Persist one ingestion batch; `events` rows are (upload_us, uuid, amplitude_id, event_type,
        session_id, event_us, revenue, body)."""
        conn.executemany(
            "INSERT INTO users(amplitude_id, user_id, state) VALUES (?, ?, ?) "
            "ON CONFLICT(amplitude_id) DO UPDATE SET user_id = excluded.user_id, state = excluded.state",
            users,
        )
        conn.executemany("INSERT OR REPLACE INTO devices(device_id, amplitude_id) VALUES (?, ?)", devices)
        conn.executemany(
            "INSERT OR REPLACE INTO insert_ids(device_id, insert_id, received_us) VALUES (?, ?, ?)", insert_ids
        )
        conn.executemany(
            "INSERT INTO events(upload_us, uuid, amplitude_id, event_type, session_id, event_us, revenue, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        hours: dict[int, list[int]] = {}
        types: dict[str, int] = {}
        for row in events:
            slot = hours.setdefault(row[0] // HOUR_US, [0, 0])
            slot[0] += 1
            slot[1] += len(row[7]) + 1
            types[row[3]] = types.get(row[3], 0) + 1
        conn.executemany(
            "INSERT INTO hours(hour, events, bytes) VALUES (?, ?, ?) ON CONFLICT(hour) DO UPDATE SET "
            "events = events + excluded.events, bytes = bytes + excluded.bytes",
            [(h, n, b) for h, (n, b) in hours.items()],
        )
        conn.executemany(
            "INSERT INTO event_types(event_type, totals) VALUES (?, ?) ON CONFLICT(event_type) DO UPDATE SET "
            "totals = totals + excluded.totals",
            list(types.items()),
        )

    # -- groups (see groups.py) -------------------------------------------------------------

    @staticmethod
    def group_properties(conn: sqlite3.Connection, group_type: str, group_value: str) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT properties FROM groups WHERE group_type = ? AND group_value = ?", (group_type, group_value)
        ).fetchone()
        return orjson.loads(row[0]) if row else None

    @staticmethod
    def save_groups(conn: sqlite3.Connection, groups: Iterable[tuple[str, str, bytes, int]]) -> None:
        """Persist (group_type, group_value, properties, updated_us) rows."""
        conn.executemany(
            "INSERT OR REPLACE INTO groups(group_type, group_value, properties, updated_us) VALUES (?, ?, ?, ?)",
            groups,
        )

    def groups(self) -> list[tuple[str, str, dict[str, Any], int]]:
        """Every group: (group_type, group_value, properties, updated_us)."""
        with self.read() as conn:
            rows = conn.execute(
                "SELECT group_type, group_value, properties, updated_us FROM groups ORDER BY group_type, group_value"
            ).fetchall()
        return [(t, v, orjson.loads(p), at) for t, v, p, at in rows]

    # -- export ------------------------------------------------------------------------------

    @staticmethod
    def hours_in(conn: sqlite3.Connection, first_hour: int, last_hour: int) -> list[tuple[int, int, int]]:
        """(hour, events, bytes) for every hour with data in [first_hour, last_hour] (epoch hours)."""
        return conn.execute(
            "SELECT hour, events, bytes FROM hours WHERE hour BETWEEN ? AND ? AND events > 0 ORDER BY hour",
            (first_hour, last_hour),
        ).fetchall()

    @staticmethod
    def event_bodies(conn: sqlite3.Connection, hour: int) -> Iterator[bytes]:
        """One hour's events in export order (server_upload_time, uuid), lazily."""
        cursor = conn.execute(
            "SELECT body FROM events WHERE upload_us >= ? AND upload_us < ? ORDER BY upload_us, uuid",
            (hour * HOUR_US, (hour + 1) * HOUR_US),
        )
        for (body,) in cursor:
            yield body

    # -- users -------------------------------------------------------------------------------

    def search_users(self, term: str, limit: int = 100) -> list[tuple[str | None, int]]:
        with self.read() as conn:
            found: dict[int, str | None] = {}
            if term.isdigit():
                for amp, uid in conn.execute(
                    "SELECT amplitude_id, user_id FROM users WHERE amplitude_id = ?", (int(term),)
                ):
                    found[amp] = uid
            for amp, uid in conn.execute(
                "SELECT u.amplitude_id, u.user_id FROM devices d JOIN users u USING(amplitude_id) WHERE d.device_id = ?",
                (term,),
            ):
                found[amp] = uid
            escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            for amp, uid in conn.execute(
                "SELECT amplitude_id, user_id FROM users WHERE user_id = ? OR user_id LIKE ? ESCAPE '\\' "
                "ORDER BY user_id LIMIT ?",
                (term, escaped + "%", limit),
            ):
                found[amp] = uid
        return [(uid, amp) for amp, uid in list(found.items())[:limit]]

    def user_summary(self, amplitude_id: int) -> dict[str, Any] | None:
        with self.read() as conn:
            row = conn.execute("SELECT user_id, state FROM users WHERE amplitude_id = ?", (amplitude_id,)).fetchone()
            if row is None:
                return None
            stats = conn.execute(
                "SELECT COUNT(*), MIN(event_us), MAX(event_us), COUNT(revenue), COALESCE(SUM(revenue), 0) "
                "FROM events WHERE amplitude_id = ?",
                (amplitude_id,),
            ).fetchone()
            sessions = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(span), 0) FROM (SELECT MAX(event_us) - MIN(event_us) AS span "
                "FROM events WHERE amplitude_id = ? AND session_id != -1 GROUP BY session_id)",
                (amplitude_id,),
            ).fetchone()
        return {
            "user_id": row[0],
            "state": orjson.loads(row[1]),
            "num_events": stats[0],
            "first_us": stats[1],
            "last_us": stats[2],
            "purchases": stats[3],
            "revenue": float(stats[4]),
            "num_sessions": sessions[0],
            "usage_us": sessions[1],
        }

    def user_events(self, amplitude_id: int, offset: int, limit: int, latest: bool) -> list[bytes]:
        order = "DESC" if latest else "ASC"
        with self.read() as conn:
            rows = conn.execute(
                f"SELECT body FROM events WHERE amplitude_id = ? ORDER BY event_us {order}, id {order} LIMIT ? OFFSET ?",
                (amplitude_id, limit, offset),
            ).fetchall()
        return [r[0] for r in rows]

    def event_type_totals(self) -> list[tuple[str, int]]:
        with self.read() as conn:
            return conn.execute("SELECT event_type, totals FROM event_types ORDER BY event_type").fetchall()

    def counts(self) -> dict[str, int]:
        with self.read() as conn:
            return {
                "events": conn.execute("SELECT COALESCE(SUM(events), 0) FROM hours").fetchone()[0],
                "users": conn.execute("SELECT COUNT(*) FROM users").fetchone()[0],
                "devices": conn.execute("SELECT COUNT(*) FROM devices").fetchone()[0],
                "cohorts": conn.execute("SELECT COUNT(*) FROM cohorts").fetchone()[0],
                "groups": conn.execute("SELECT COUNT(*) FROM groups").fetchone()[0],
                "hours": conn.execute("SELECT COUNT(*) FROM hours").fetchone()[0],
            }

    # -- cohorts -----------------------------------------------------------------------------

    def amplitude_ids_for(self, id_kind: str, ids: list[str]) -> tuple[list[int], list[str]]:
        """Resolve user IDs (`user`) or Amplitude IDs (`amplitude`) to known Amplitude IDs; also the unknown ones."""
        found: list[int] = []
        unknown: list[str] = []
        with self.read() as conn:
            for raw in ids:
                key = str(raw)
                if id_kind == "user":
                    row = conn.execute("SELECT amplitude_id FROM users WHERE user_id = ?", (key,)).fetchone()
                else:
                    row = conn.execute(
                        "SELECT amplitude_id FROM users WHERE amplitude_id = ?", (int(key) if key.isdigit() else -1,)
                    ).fetchone()
                if row:
                    found.append(row[0])
                else:
                    unknown.append(key)
        return found, unknown

    def cohort(self, cohort_id: str) -> dict[str, Any] | None:
        with self.read() as conn:
            row = conn.execute("SELECT doc FROM cohorts WHERE id = ?", (cohort_id,)).fetchone()
            if row is None:
                return None
            doc = orjson.loads(row[0])
            doc["size"] = conn.execute(
                "SELECT COUNT(*) FROM cohort_members WHERE cohort_id = ?", (cohort_id,)
            ).fetchone()[0]
        return doc

    def cohorts(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM cohorts ORDER BY id")]
        return [c for c in (self.cohort(i) for i in ids) if c is not None]

    def save_cohort(
        self, doc: dict[str, Any], add: Iterable[int] = (), remove: Iterable[int] = (), replace: bool = False
    ) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO cohorts(id, doc) VALUES (?, ?)", (doc["id"], orjson.dumps(doc)))
            if replace:
                conn.execute("DELETE FROM cohort_members WHERE cohort_id = ?", (doc["id"],))
            conn.executemany(
                "INSERT OR IGNORE INTO cohort_members(cohort_id, amplitude_id) VALUES (?, ?)",
                [(doc["id"], a) for a in add],
            )
            conn.executemany(
                "DELETE FROM cohort_members WHERE cohort_id = ? AND amplitude_id = ?", [(doc["id"], a) for a in remove]
            )

    @staticmethod
    def cohort_members(conn: sqlite3.Connection, cohort_id: str) -> Iterator[tuple[int, str | None, bytes]]:
        cursor = conn.execute(
            "SELECT m.amplitude_id, u.user_id, u.state FROM cohort_members m JOIN users u USING(amplitude_id) "
            "WHERE m.cohort_id = ? ORDER BY m.amplitude_id",
            (cohort_id,),
        )
        yield from cursor

    def save_cohort_request(
        self, request_id: str, cohort_id: str, props: bool, prop_keys: list[str], at: float
    ) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO cohort_requests(request_id, cohort_id, props, prop_keys, requested_at) VALUES (?, ?, ?, ?, ?)",
                (request_id, cohort_id, int(props), orjson.dumps(prop_keys), at),
            )

    def cohort_request(self, request_id: str) -> dict[str, Any] | None:
        with self.read() as conn:
            row = conn.execute(
                "SELECT cohort_id, props, prop_keys, requested_at FROM cohort_requests WHERE request_id = ?",
                (request_id,),
            ).fetchone()
        if row is None:
            return None
        return {
            "request_id": request_id,
            "cohort_id": row[0],
            "props": bool(row[1]),
            "prop_keys": orjson.loads(row[2]),
            "requested_at": row[3],
        }

    # -- privacy deletion jobs (a job is every row of one `day`, YYYY-MM-DD) -------------------

    @staticmethod
    def user_ids_of(conn: sqlite3.Connection, amplitude_ids: list[int]) -> dict[int, str | None]:
        """The known Amplitude IDs among `amplitude_ids`, each with its user ID (None when anonymous)."""
        found: dict[int, str | None] = {}
        for amplitude_id in amplitude_ids:
            row = conn.execute("SELECT user_id FROM users WHERE amplitude_id = ?", (amplitude_id,)).fetchone()
            if row:
                found[amplitude_id] = row[0]
        return found

    @staticmethod
    def amplitude_ids_of(conn: sqlite3.Connection, user_ids: list[str]) -> dict[str, int]:
        """The known user IDs among `user_ids`, each with its Amplitude ID."""
        found: dict[str, int] = {}
        for user_id in user_ids:
            row = conn.execute("SELECT amplitude_id FROM users WHERE user_id = ?", (user_id,)).fetchone()
            if row:
                found[user_id] = row[0]
        return found

    @staticmethod
    def deletion_days_from(conn: sqlite3.Connection, first_day: str) -> list[str]:
        return [
            r[0] for r in conn.execute("SELECT DISTINCT day FROM deletions WHERE day >= ? ORDER BY day", (first_day,))
        ]

    @staticmethod
    def add_deletions(
        conn: sqlite3.Connection, day: str, amplitude_ids: list[int], requester: str | None, requested_on_day: str
    ) -> dict[int, tuple[str | None, str]]:
        """Put the IDs into the job of `day` (an ID already there keeps its first request); returns
        each ID's (requester, requested_on_day) as the job holds it."""
        conn.executemany(
            "INSERT OR IGNORE INTO deletions(day, amplitude_id, requester, requested_on_day) VALUES (?, ?, ?, ?)",
            [(day, a, requester, requested_on_day) for a in amplitude_ids],
        )
        return {a: held for a in amplitude_ids if (held := Store.deletion_of(conn, day, a)) is not None}

    @staticmethod
    def deletion_of(conn: sqlite3.Connection, day: str, amplitude_id: int) -> tuple[str | None, str] | None:
        """(requester, requested_on_day) of one ID in the job of `day`, or None if the job does not hold it."""
        row = conn.execute(
            "SELECT requester, requested_on_day FROM deletions WHERE day = ? AND amplitude_id = ?", (day, amplitude_id)
        ).fetchone()
        return (row[0], row[1]) if row else None

    @staticmethod
    def remove_deletion(conn: sqlite3.Connection, day: str, amplitude_id: int) -> None:
        conn.execute("DELETE FROM deletions WHERE day = ? AND amplitude_id = ?", (day, amplitude_id))

    def deletions_between(self, first_day: str, last_day: str) -> list[tuple[str, int, str | None, str]]:
        """(day, amplitude_id, requester, requested_on_day) of the jobs of days in [first_day, last_day]."""
        with self.read() as conn:
            return conn.execute(
                "SELECT day, amplitude_id, requester, requested_on_day FROM deletions "
                "WHERE day BETWEEN ? AND ? ORDER BY day, amplitude_id",
                (first_day, last_day),
            ).fetchall()

    # -- saved charts (see charts.py) --------------------------------------------------------

    def save_chart(self, doc: dict[str, Any]) -> bool:
        """Save a chart definition; True when it replaced one with the same id."""
        with self.write() as conn:
            existed = conn.execute("SELECT 1 FROM charts WHERE id = ?", (doc["id"],)).fetchone() is not None
            conn.execute("INSERT OR REPLACE INTO charts(id, doc) VALUES (?, ?)", (doc["id"], orjson.dumps(doc)))
        return existed

    def chart(self, chart_id: str) -> dict[str, Any] | None:
        with self.read() as conn:
            row = conn.execute("SELECT doc FROM charts WHERE id = ?", (chart_id,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def charts(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            return [orjson.loads(row[0]) for row in conn.execute("SELECT doc FROM charts ORDER BY id")]

    def delete_chart(self, chart_id: str) -> bool:
        with self.write() as conn:
            return conn.execute("DELETE FROM charts WHERE id = ?", (chart_id,)).rowcount > 0

    @staticmethod
    def events_between(
        conn: sqlite3.Connection, first_us: int, end_us: int, event_types: list[str] | None
    ) -> Iterator[tuple[int, str, int, int, bytes]]:
        """(amplitude_id, event_type, event_us, session_id, body) of the events whose event time is in
        [first_us, end_us), of `event_types` (None: every type), in event time order, lazily."""
        sql = "SELECT amplitude_id, event_type, event_us, session_id, body FROM events WHERE event_us >= ? AND event_us < ?"
        params: list[Any] = [first_us, end_us]
        if event_types is not None:
            sql += f" AND event_type IN ({','.join('?' * len(event_types))})"
            params += event_types
        yield from conn.execute(sql + " ORDER BY event_us, id", params)
