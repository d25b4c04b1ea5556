"""POST /contacts/import and the background processes behind GET /processes.

An import is checked and queued synchronously (202 {"processId"}), then a worker thread moves
it queued -> processing (after half of `import_delay_seconds`) -> completed (after all of it),
applying the rows at that last step. Queued imports live in the store, so a restart resumes
them. Chosen conventions (reference §4): invalid emails are skipped and counted in
`invalid_emails`; a row repeating an identifier already seen in the same import, or whose
secondary identifier belongs to another contact, is counted in `duplicate_<kind>_id` (the row
is skipped when its primary identifier repeats, else only that identifier is dropped).
The same worker applies company imports (`company_imports`), chosen by process name.
"""

from __future__ import annotations

import csv
import io
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from sandbox import clock
from sandbox.brevo import attributes as attrs
from sandbox.brevo import contacts, lists
from sandbox.brevo.errors import BrevoError, invalid, missing, out_of_range
from sandbox.brevo.store import Store, iso

log = logging.getLogger("sandbox.brevo")

PROCESS_NAME = "IMPORTUSER"
MAX_IMPORT_BYTES = 10 * 1024 * 1024
CHUNK = 1000
DUPLICATE_COUNTERS = {
    "email": "duplicate_email_id",
    "ext_id": "duplicate_ext_id",
    "sms": "duplicate_phone_id",
    "whatsapp": "duplicate_whatsapp_id",
    "landline": "duplicate_landline_number_id",
}
COUNTERS = ("invalid_emails", "duplicate_contact_id", *DUPLICATE_COUNTERS.values())


def start(db: sqlite3.Connection, body: dict[str, Any], delay: float) -> int:
    """Check an import request and queue it; returns the process id."""
    given = [key for key in ("jsonBody", "fileBody", "fileUrl") if body.get(key) not in (None, "", [])]
    if not given:
        raise missing("One of jsonBody, fileBody or fileUrl is required")
    if len(given) > 1:
        raise invalid("Pass only one of jsonBody, fileBody or fileUrl")
    source = given[0]
    if source == "fileUrl":
        raise invalid("fileUrl imports are not emulated by the sandbox: send jsonBody or fileBody")
    size = len(body["fileBody"].encode()) if source == "fileBody" else len(orjson.dumps(body["jsonBody"]))
    if size > MAX_IMPORT_BYTES:
        raise out_of_range(f"{source} is larger than the 10 MB limit ({size} bytes)")
    if source == "fileBody":
        header = _csv_header(body["fileBody"])
        if not {"EMAIL", *attrs.IDENTIFIERS} & set(header):
            raise invalid("fileBody needs a header row naming EMAIL, SMS or EXT_ID among its columns")
    list_ids = list(body.get("listIds") or [])
    if list_ids:
        contacts.check_lists(db, list_ids)
    elif body.get("newList"):
        new = body["newList"]
        if not new.get("listName"):
            raise missing("newList.listName is required")
        if new.get("folderId") is None:
            raise missing("newList.folderId is required")
        list_ids = [lists.create_list(db, {"name": new["listName"], "folderId": new["folderId"]})]
    else:
        raise missing("listIds is required unless newList is given")
    payload = {
        "source": source,
        "data": body[source],
        "listIds": list_ids,
        "updateExistingContacts": body.get("updateExistingContacts", True),
        "emptyContactsAttributes": body.get("emptyContactsAttributes", False),
        "emailBlacklist": body.get("emailBlacklist", False),
        "smsBlacklist": body.get("smsBlacklist", False),
    }
    return queue(db, PROCESS_NAME, payload, delay)


def queue(db: sqlite3.Connection, name: str, payload: dict[str, Any], delay: float) -> int:
    """Queue a background process named `name` (its applier's key in `ImportWorker`); its id."""
    now = clock.now()
    cur = db.execute(
        "INSERT INTO processes (name, status, created_at, start_at, due_at, payload) VALUES (?, 'queued', ?, ?, ?, ?)",
        (name, now, now + delay / 2, now + delay, orjson.dumps(payload)),
    )
    return int(cur.lastrowid)


def _csv_header(text: str) -> list[str]:
    first = next(csv.reader(io.StringIO(text), delimiter=";"), [])
    return [name.strip().upper() for name in first]


def _rows(payload: dict[str, Any], defs: dict[str, attrs.Attribute]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """(email, attributes) per row, CSV cells converted to their attribute's type."""
    if payload["source"] == "jsonBody":
        for item in payload["data"]:
            attributes = dict(item.get("attributes") or {})
            yield item.get("email", attributes.pop("EMAIL", None)), attributes
        return
    reader = csv.reader(io.StringIO(payload["data"]), delimiter=";")
    header = [name.strip().upper() for name in next(reader, [])]
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        row = {name: cell.strip() for name, cell in zip(header, cells, strict=False)}
        email = row.pop("EMAIL", None)
        yield email, {name: attrs.from_text(defs.get(name), value) for name, value in row.items()}


def apply(store: Store, process_id: int, payload: dict[str, Any]) -> dict[str, int] | None:
    """Apply an import's rows in chunks; None if the process vanished meanwhile (a reset)."""
    counters = dict.fromkeys(COUNTERS, 0)
    seen: dict[str, set[str]] = {column: set() for column in contacts.IDENTIFIER_ORDER}
    with store.tx() as db:
        defs = attrs.load(db)
    rows = _rows(payload, defs)
    while True:
        chunk = [row for _, row in zip(range(CHUNK), rows, strict=False)]
        if not chunk:
            return counters
        with store.tx() as db:
            if db.execute("SELECT 1 FROM processes WHERE id=?", (process_id,)).fetchone() is None:
                return None
            existing_lists = [
                lid for lid in payload["listIds"] if db.execute("SELECT 1 FROM lists WHERE id=?", (lid,)).fetchone()
            ]
            for email, attributes in chunk:
                _apply_row(db, defs, email, attributes, payload, existing_lists, counters, seen)


def _apply_row(
    db: sqlite3.Connection,
    defs: dict[str, attrs.Attribute],
    email: Any,
    attributes: dict[str, Any],
    payload: dict[str, Any],
    list_ids: list[int],
    counters: dict[str, int],
    seen: dict[str, set[str]],
) -> None:
    identifiers: dict[str, str] = {}
    if email not in (None, ""):
        try:
            identifiers["email"] = attrs.normalize_email(email)
        except BrevoError:
            counters["invalid_emails"] += 1
            return
    attributes.pop("EMAIL", None)
    values, more, erase = attrs.split(defs, attributes, strict=False)
    identifiers.update(more)
    if not identifiers:
        counters["invalid_emails"] += 1
        return
    primary = next(column for column in contacts.IDENTIFIER_ORDER if column in identifiers)
    if identifiers[primary] in seen[primary]:
        counters[DUPLICATE_COUNTERS[primary]] += 1
        return
    for column in [c for c in identifiers if c != primary]:
        if identifiers[column] in seen[column]:
            counters[DUPLICATE_COUNTERS[column]] += 1
            del identifiers[column]
    for column, value in identifiers.items():
        seen[column].add(value)
    matches = contacts._conflicts(db, identifiers, None)
    target = matches.get(primary)
    for column, contact_id in matches.items():
        if contact_id != target:
            counters[DUPLICATE_COUNTERS[column]] += 1
            del identifiers[column]
    flags = {
        "email_blacklisted": True if payload["emailBlacklist"] else None,
        "sms_blacklisted": True if payload["smsBlacklist"] else None,
    }
    if target is None:
        contacts.write(db, None, values=values, identifiers=identifiers, list_ids=list_ids, **flags)
    elif payload["updateExistingContacts"]:
        erase = erase if payload["emptyContactsAttributes"] else set()
        contacts.write(db, target, values=values, identifiers=identifiers, erase=erase, list_ids=list_ids, **flags)
    else:
        now = clock.now()
        db.executemany(
            "INSERT OR IGNORE INTO list_members (list_id, contact_id, added_at) VALUES (?, ?, ?)",
            [(list_id, target, now) for list_id in list_ids],
        )


# ---------------------------------------------------------------- processes


def public(row: sqlite3.Row, now: float | None = None) -> dict[str, Any]:
    now = clock.now() if now is None else now
    status = row["status"]
    if status == "queued" and now >= row["start_at"]:
        status = "processing"
    out: dict[str, Any] = {"id": row["id"], "name": row["name"], "status": status, "created_at": iso(row["created_at"])}
    if row["info"]:
        out["info"] = orjson.loads(row["info"])
    if row["error"]:
        out["error"] = row["error"]
    if row["completed_at"] is not None:
        out["completed_at"] = iso(row["completed_at"])
    return out


def get(db: sqlite3.Connection, process_id: int) -> dict[str, Any]:
    row = db.execute("SELECT * FROM processes WHERE id=?", (process_id,)).fetchone()
    if row is None:
        raise BrevoError(404, "invalid_parameter", "processId is invalid")
    return public(row)


def listing(db: sqlite3.Connection, query: dict[str, Any]) -> dict[str, Any]:
    order = "ASC" if query.get("sort") == "asc" else "DESC"
    count = db.execute("SELECT COUNT(*) FROM processes").fetchone()[0]
    rows = db.execute(
        f"SELECT * FROM processes ORDER BY id {order} LIMIT ? OFFSET ?",
        (query.get("limit", 10), query.get("offset", 0)),
    ).fetchall()
    now = clock.now()
    return {"count": count, "processes": [public(row, now) for row in rows]}


# apply(store, process id, payload) -> the counters of info.import, or None if the process vanished
Applier = Callable[[Store, int, dict[str, Any]], dict[str, int] | None]


class ImportWorker(threading.Thread):
    """Moves queued imports along and applies them when due, each with the applier of its process name."""

    def __init__(self, store: Store, appliers: dict[str, Applier]) -> None:
        super().__init__(name="brevo-imports", daemon=True)
        self.store = store
        self.appliers = appliers
        self.wake = threading.Event()
        self.stopping = False

    def run(self) -> None:
        while not self.stopping:
            try:
                next_due = self.step()
            except Exception:  # keep the worker alive; the failing process is marked failed in step()
                log.exception("import worker step failed")
                next_due = None
            timeout = 0.25 if next_due is None else min(0.25, max(0.0, next_due - clock.now()))
            self.wake.wait(timeout)
            self.wake.clear()

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()

    def step(self) -> float | None:
        with self.store.tx() as db:
            pending = db.execute(
                "SELECT id, status, start_at, due_at FROM processes WHERE status IN ('queued', 'processing') ORDER BY id"
            ).fetchall()
        next_due = None
        for row in pending:
            now = clock.now()
            if row["status"] == "queued" and now >= row["start_at"]:
                with self.store.tx() as db:
                    db.execute("UPDATE processes SET status='processing' WHERE id=? AND status='queued'", (row["id"],))
            if now < row["due_at"]:
                upcoming = row["start_at"] if now < row["start_at"] else row["due_at"]
                next_due = upcoming if next_due is None else min(next_due, upcoming)
                continue
            self._complete(row["id"])
        return next_due

    def _complete(self, process_id: int) -> None:
        with self.store.tx() as db:
            row = db.execute("SELECT name, payload FROM processes WHERE id=?", (process_id,)).fetchone()
        if row is None:
            return
        try:
            counters = self.appliers[row["name"]](self.store, process_id, orjson.loads(row["payload"]))
        except Exception as exc:
            log.exception("import %s failed", process_id)
            with self.store.tx() as db:
                db.execute(
                    "UPDATE processes SET status='failed', error=?, completed_at=?, payload=NULL WHERE id=?",
                    (f"Import failed: {exc}", clock.now(), process_id),
                )
            return
        if counters is None:
            return
        with self.store.tx() as db:
            db.execute(
                "UPDATE processes SET status='completed', info=?, completed_at=?, payload=NULL WHERE id=?",
                (orjson.dumps({"import": counters}).decode(), clock.now(), process_id),
            )
