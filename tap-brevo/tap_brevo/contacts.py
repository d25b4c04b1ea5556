"""Optional enrichment: the contact's ext_id (target-brevo sets it to the Amplitude user_id) and chosen attributes.

A campaign's events name thousands of recipients at once, and Brevo's `/contacts` bucket allows 10 requests a
second: one `GET /contacts/{email}` per recipient would hold a 100,000-recipient campaign back for hours. So the
account's contacts are read in pages of 1,000 (`GET /contacts`, 10,000 contacts a second) into a directory on disk,
and later runs read only those modified since (`modifiedSince`). An email not in the directory makes it read the
changes again, at most every `REFRESH_SECONDS`; a sender's recipient who is not a contact stays without ext_id.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tap_brevo.client import BrevoClient, BrevoError

EXT_ID_ATTRIBUTE = "EXT_ID"
PAGE = 1000  # GET /contacts' largest page
REFRESH_SECONDS = 30.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS contacts (email TEXT PRIMARY KEY, id INTEGER, ext_id TEXT, attributes BLOB) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bookmark (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""


class ContactLookup:
    """email -> (contact id, ext_id, the chosen attributes), from the directory at `path` (shared by every run of
    the tap; another process may refresh it at the same time)."""

    def __init__(self, client: BrevoClient, attributes: Sequence[str], logger: logging.Logger, path: Path) -> None:
        self.client = client
        self.attributes = tuple(attributes)
        self.logger = logger
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a cache of Brevo's contacts: a lost write is read again
        self._db.executescript(SCHEMA)
        self._refreshed_at: float | None = None
        self.looked_up = 0  # records enriched from the directory
        self.not_found = 0
        self.contacts_read = 0
        self.failures = 0

    def enrich(self, record: dict[str, Any]) -> None:
        email = record.get("email")
        if not email:
            return
        if record.get("event") == "contact_deleted":  # Brevo erased the contact: so does the directory
            self._write("DELETE FROM contacts WHERE email = ?", [(str(email).lower(),)])
        found = self._find(email)
        if found is None and self._refresh_due():
            self._refresh()
            found = self._find(email)
        if found is None:
            self.not_found += 1
            record["ext_id"] = record["contact_attributes"] = None
            return
        contact_id, ext_id, attributes = found
        self.looked_up += 1
        record["ext_id"] = ext_id
        record["contact_attributes"] = (
            {name: attributes.get(name) for name in self.attributes} if self.attributes else None
        )
        if record.get("contact_id") is None:
            record["contact_id"] = contact_id

    def _find(self, email: str) -> tuple[int | None, str | None, dict[str, Any]] | None:
        row = self._db.execute(
            "SELECT id, ext_id, attributes FROM contacts WHERE email = ?", (email.lower(),)
        ).fetchone()
        return None if row is None else (row[0], row[1], orjson.loads(row[2]))

    def _refresh_due(self) -> bool:
        return self._refreshed_at is None or time.monotonic() - self._refreshed_at >= REFRESH_SECONDS

    def _refresh(self) -> None:
        """Read the contacts modified since the last read (all of them the first time) into the directory."""
        self._refreshed_at = time.monotonic()
        row = self._db.execute("SELECT value FROM bookmark WHERE name = 'modified_since'").fetchone()
        since, newest, offset = (row[0] if row else None), None, 0
        try:
            while True:
                params: dict[str, Any] = {"limit": PAGE, "offset": offset, "sort": "asc"}
                if since:
                    params["modifiedSince"] = since
                contacts = (self.client.get("/contacts", params) or {}).get("contacts") or []
                newest = max([newest or "", *(_utc(c.get("modifiedAt")) for c in contacts)]) or newest
                self._store(contacts)
                if len(contacts) < PAGE:
                    break
                offset += PAGE
        except BrevoError as exc:
            # The pages read are kept, the bookmark is not moved: the pages after them (in creation order, not
            # modification order) may hold contacts modified before the newest seen.
            self.failures += 1
            self.logger.warning("Reading the contacts failed (%s): records go without ext_id until the next read", exc)
            return
        if newest:
            self._write("INSERT OR REPLACE INTO bookmark VALUES ('modified_since', ?)", [(newest,)])

    def _store(self, contacts: list[dict[str, Any]]) -> None:
        rows = []
        for contact in contacts:
            email = contact.get("email")
            if not email:
                continue
            attributes = contact.get("attributes") if isinstance(contact.get("attributes"), dict) else {}
            ext_id = contact.get("ext_id") or contact.get("extId") or attributes.get(EXT_ID_ATTRIBUTE)
            contact_id = contact.get("id") if type(contact.get("id")) is int else None
            rows.append(
                (
                    str(email).lower(),
                    contact_id,
                    str(ext_id) if ext_id not in (None, "") else None,
                    orjson.dumps(attributes),
                )
            )
        self._write("INSERT OR REPLACE INTO contacts VALUES (?, ?, ?, ?)", rows)
        self.contacts_read += len(rows)

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(sql, rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


def _utc(value: Any) -> str:
    """A contact's `modifiedAt` as the `modifiedSince` form Brevo takes (UTC, milliseconds, `Z`); '' if unreadable."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
