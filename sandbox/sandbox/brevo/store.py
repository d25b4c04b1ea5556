"""The Brevo account's persistent state: one SQLite file in the sandbox's data directory.

A restart with the same `--data-dir` keeps the account. One connection shared by the request
threads and the import worker, serialised by a lock (SQLite writes are serial anyway).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sandbox import clock
from sandbox.brevo.errors import invalid

SCHEMA = """
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT UNIQUE,
    ext_id TEXT UNIQUE,
    sms TEXT UNIQUE,
    whatsapp TEXT UNIQUE,
    landline TEXT UNIQUE,
    attributes TEXT NOT NULL DEFAULT '{}',
    email_blacklisted INTEGER NOT NULL DEFAULT 0,
    sms_blacklisted INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    modified_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS contacts_modified ON contacts (modified_at);
CREATE INDEX IF NOT EXISTS contacts_created ON contacts (created_at);
CREATE TABLE IF NOT EXISTS folders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS lists (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    folder_id INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS list_members (
    list_id INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    added_at REAL NOT NULL,
    PRIMARY KEY (list_id, contact_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS list_members_contact ON list_members (contact_id);
CREATE TABLE IF NOT EXISTS attributes (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    category TEXT NOT NULL,
    type TEXT,
    enumeration TEXT,
    options TEXT,
    value TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id INTEGER,
    event_name TEXT NOT NULL,
    event_date TEXT NOT NULL,
    received_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_contact ON events (contact_id, id);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    contact_id INTEGER,
    status TEXT NOT NULL,
    amount REAL NOT NULL,
    historical INTEGER,
    batch_id INTEGER,
    revisions INTEGER NOT NULL DEFAULT 1,
    received_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_contact ON orders (contact_id);
CREATE TABLE IF NOT EXISTS order_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    count INTEGER NOT NULL,
    historical INTEGER NOT NULL,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS processes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    info TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    start_at REAL NOT NULL,
    due_at REAL NOT NULL,
    completed_at REAL,
    payload BLOB
);
CREATE TABLE IF NOT EXISTS smtp_log_deletions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identifier TEXT NOT NULL,
    kind TEXT NOT NULL,
    status INTEGER NOT NULL,
    requested_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS account (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS companies (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    attributes TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    modified_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS company_contacts (
    company_seq INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    PRIMARY KEY (company_seq, contact_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS company_contacts_contact ON company_contacts (contact_id);
CREATE TABLE IF NOT EXISTS company_deals (
    company_seq INTEGER NOT NULL,
    deal_id TEXT NOT NULL,
    PRIMARY KEY (company_seq, deal_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS crm_attributes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    object_type TEXT NOT NULL,
    internal_name TEXT NOT NULL,
    label TEXT NOT NULL,
    type TEXT NOT NULL,
    options TEXT,
    description TEXT,
    UNIQUE (object_type, internal_name)
);
CREATE TABLE IF NOT EXISTS webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    channel TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    modified_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS campaigns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    list_id INTEGER NOT NULL,
    sent_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS smtp_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    email TEXT NOT NULL,
    event TEXT NOT NULL,
    at REAL NOT NULL,
    template_id INTEGER,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS smtp_events_at ON smtp_events (at);
"""

TABLES = (
    "contacts",
    "folders",
    "lists",
    "list_members",
    "attributes",
    "events",
    "orders",
    "order_batches",
    "processes",
    "smtp_log_deletions",
    "account",
    "companies",
    "company_contacts",
    "company_deals",
    "crm_attributes",
    "webhooks",
    "campaigns",
    "smtp_events",
)

DEFAULT_ATTRIBUTES = (("FIRSTNAME", "normal", "text"), ("LASTNAME", "normal", "text"), ("SMS", "normal", "text"))
DEFAULT_FOLDER = "Your first folder"


def iso(ts: float) -> str:
    """Brevo's timestamp format, `YYYY-MM-DDTHH:mm:ss.SSSZ`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_since(name: str, value: str | None) -> float | None:
    """A `modifiedSince`-like query parameter as a timestamp (UTC unless it names its zone)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise invalid(f"{name} must be a date-time like YYYY-MM-DDTHH:mm:ss.SSSZ") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class Store:
    """The account's SQLite database, with the transactions every change goes through."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        with self.tx() as db:
            if db.execute("SELECT value FROM account WHERE key='initialised'").fetchone() is None:
                self._initialise(db)

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A transaction under the store's lock (re-entrant: nested calls join the outer one)."""
        with self.lock:
            if self.db.in_transaction:
                yield self.db
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _initialise(self, db: sqlite3.Connection) -> None:
        now = clock.now()
        db.executemany("INSERT INTO attributes (name, category, type) VALUES (?, ?, ?)", DEFAULT_ATTRIBUTES)
        db.execute("INSERT INTO folders (name, created_at) VALUES (?, ?)", (DEFAULT_FOLDER, now))
        db.execute("INSERT INTO account (key, value) VALUES ('initialised', ?)", (iso(now),))

    def reset(self) -> None:
        with self.tx() as db:
            for table in TABLES:
                db.execute(f"DELETE FROM {table}")
            db.execute("DELETE FROM sqlite_sequence")
            self._initialise(db)

    def account_value(self, key: str, default: str | None = None) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT value FROM account WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_account_value(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO account (key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        with self.lock:
            self.db.close()
