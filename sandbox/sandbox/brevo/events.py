"""Custom events: POST /events (204) and POST /events/batch (202 / 207 / 400 per-index errors).

Chosen conventions (reference §7): the 207 body has the 400 shape; `status` is "partial_success"
or "failed"; over 200 events or 512 KB gives 400 out_of_range. Sandbox convention where the
reference is silent: an event for a contact that does not exist yet creates it from the event's
identifiers (email_id, ext_id, phone_id, whatsapp_id, landline_number_id); an unknown
`contact_id` fails the event.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import orjson

from sandbox import clock
from sandbox.brevo import attributes as attrs
from sandbox.brevo import contacts
from sandbox.brevo.errors import BrevoError, invalid, missing, out_of_range
from sandbox.brevo.store import Store, iso
from sandbox.brevo.validation import event_schema_errors

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
MAX_PROPERTIES_BYTES = 50 * 1024
MAX_BATCH_EVENTS = 200
MAX_BATCH_BYTES = 512 * 1024
# Event identifier -> contacts column, in the order used to find the contact (contact_id wins).
IDENTIFIERS = {
    "contact_id": "id",
    "email_id": "email",
    "ext_id": "ext_id",
    "phone_id": "sms",
    "whatsapp_id": "whatsapp",
    "landline_number_id": "landline",
}
ACCEPTED = "Batch accepted. Valid events have been added to the processing queue."


def _check_keys(value: Any, path: str) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if not NAME_RE.match(key):
                raise invalid(f"event_properties key '{path}{key}' must be at most 255 letters, digits, '-' or '_'")
            _check_keys(inner, f"{path}{key}.")
    elif isinstance(value, list):
        for inner in value:
            _check_keys(inner, path)


def check(event: dict[str, Any]) -> None:
    """Brevo's rules beyond the schema: names, identifiers, date, property keys and size."""
    if not NAME_RE.match(event["event_name"]):
        raise invalid("event_name must be 1 to 255 letters, digits, '-' or '_'")
    identifiers = event["identifiers"]
    if not any(identifiers.get(key) not in (None, "") for key in IDENTIFIERS):
        raise missing("identifiers needs one of " + ", ".join(IDENTIFIERS))
    if event.get("event_date") is not None:
        try:
            clock.parse_iso(str(event["event_date"]))
        except ValueError:
            raise invalid("event_date must be an ISO 8601 date-time") from None
    properties = event.get("event_properties")
    if properties:
        _check_keys(properties, "")
        if len(orjson.dumps(properties)) > MAX_PROPERTIES_BYTES:
            raise out_of_range("event_properties is larger than 50 KB")


def _contact(db: sqlite3.Connection, identifiers: dict[str, Any]) -> int:
    if identifiers.get("contact_id") is not None:
        found = contacts.lookup(db, "id", identifiers["contact_id"])
        if found is None:
            raise invalid(f"Contact does not exist: contact_id {identifiers['contact_id']}")
        return found
    given: dict[str, str] = {}
    for key, column in IDENTIFIERS.items():
        if key != "contact_id" and identifiers.get(key) not in (None, ""):
            given[column] = attrs.normalize_identifier(column, identifiers[key])
    for column, value in given.items():
        row = db.execute(f"SELECT id FROM contacts WHERE {column}=?", (value,)).fetchone()
        if row is not None:
            return int(row[0])
    return contacts.write(db, None, values={}, identifiers=given)


def record(db: sqlite3.Connection, event: dict[str, Any], defs: dict[str, attrs.Attribute]) -> int:
    """Store one checked event against its contact; returns the contact id."""
    contact_id = _contact(db, event["identifiers"])
    if event.get("contact_properties"):
        values, identifiers, _ = attrs.split(defs, event["contact_properties"])
        for column in contacts._conflicts(db, identifiers, contact_id):
            del identifiers[column]
        contacts.write(db, contact_id, values=values, identifiers=identifiers)
    now = clock.now()
    db.execute(
        "INSERT INTO events (contact_id, event_name, event_date, received_at, body) VALUES (?, ?, ?, ?, ?)",
        (contact_id, event["event_name"], event.get("event_date") or iso(now), now, orjson.dumps(event).decode()),
    )
    return contact_id


def create(store: Store, event: dict[str, Any]) -> None:
    check(event)
    with store.tx() as db:
        record(db, event, attrs.load(db))


def create_batch(store: Store, events: list[Any]) -> tuple[int, dict[str, Any]]:
    if not events:
        raise missing("events must hold at least one event")
    if len(events) > MAX_BATCH_EVENTS:
        raise out_of_range(f"A batch holds at most {MAX_BATCH_EVENTS} events ({len(events)} sent)")
    failures: dict[str, list[int]] = {}
    with store.tx() as db:
        defs = attrs.load(db)
        for index, event in enumerate(events):
            try:
                problems = event_schema_errors(event)
                if problems:
                    raise invalid(problems[0])
                check(event)
                with _savepoint(db):
                    record(db, event, defs)
            except BrevoError as exc:
                failures.setdefault(exc.message, []).append(index)
    failed = sum(len(indexes) for indexes in failures.values())
    if not failed:
        return 202, {"message": ACCEPTED, "count": len(events)}
    body = {
        "status": "failed" if failed == len(events) else "partial_success",
        "total_events": len(events),
        "successful_events": len(events) - failed,
        "failed_events": failed,
        "errors": [{"eventIndex": indexes, "message": message} for message, indexes in failures.items()],
    }
    return (400 if failed == len(events) else 207), body


class _savepoint:
    """Undo one event's partial writes when it fails, keeping the rest of the batch."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("SAVEPOINT event")

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self.db.execute("ROLLBACK TO event")
        self.db.execute("RELEASE event")


def listing(
    db: sqlite3.Connection, contact_id: int | None, name: str | None, limit: int, offset: int
) -> dict[str, Any]:
    """Admin view of stored events, oldest first: `received_at` on the sandbox clock, `accepted_at` on the real one
    (epoch seconds)."""
    where, args = [], []
    if contact_id is not None:
        where.append("contact_id=?")
        args.append(contact_id)
    if name:
        where.append("event_name=?")
        args.append(name)
    condition = " WHERE " + " AND ".join(where) if where else ""
    count = db.execute(f"SELECT COUNT(*) FROM events{condition}", args).fetchone()[0]
    rows = db.execute(
        f"SELECT id, contact_id, event_name, event_date, received_at, body FROM events{condition} ORDER BY id LIMIT ? OFFSET ?",
        [*args, limit, offset],
    )
    events = [
        {
            "id": row["id"],
            "contact_id": row["contact_id"],
            "event_name": row["event_name"],
            "event_date": row["event_date"],
            "received_at": iso(row["received_at"]),
            # Real clock (time.time()) when the emulator stored it, for latency measurements: exact unless
            # the sandbox clock was moved since.
            "accepted_at": row["received_at"] - clock.offset(),
            **{k: v for k, v in orjson.loads(row["body"]).items() if k not in ("event_name", "event_date")},
        }
        for row in rows
    ]
    return {"count": count, "events": events}
