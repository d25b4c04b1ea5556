"""Transactional log deletion: DELETE /smtp/log/{identifier} (an email or a message id).

Brevo deletes an email's transactional logs asynchronously (24-48 h), so an email is accepted
(204) even when it has no logs. A message id is accepted when the transactional simulation sent it
(it is in `smtp_events`), else 404 "Message ID not found". The sandbox records the request but erases
nothing (the asynchronous erasure is not emulated). Each well-formed request is recorded with its
answer, for the admin route.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from sandbox import clock
from sandbox.brevo import attributes as attrs
from sandbox.brevo.errors import invalid
from sandbox.brevo.store import iso

MESSAGE_ID_RE = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")
MESSAGE_ID_NOT_FOUND = "Message ID not found"
INVALID_IDENTIFIER = "identifier must be an email address or a message id like <id@domain>"


def _kind(identifier: str) -> str:
    if MESSAGE_ID_RE.match(identifier):
        return "message_id"
    if attrs.EMAIL_RE.match(identifier):
        return "email"
    raise invalid(INVALID_IDENTIFIER)


def request_deletion(db: sqlite3.Connection, identifier: str) -> bool:
    """Record one deletion request: True when accepted (an email, or a message id the simulation sent)."""
    kind = _kind(identifier)
    accepted = kind == "email" or (
        db.execute("SELECT 1 FROM smtp_events WHERE message_id=? LIMIT 1", (identifier,)).fetchone() is not None
    )
    db.execute(
        "INSERT INTO smtp_log_deletions (identifier, kind, status, requested_at) VALUES (?, ?, ?, ?)",
        (
            attrs.normalize_email(identifier) if kind == "email" else identifier,
            kind,
            204 if accepted else 404,
            clock.now(),
        ),
    )
    return accepted


def listing(db: sqlite3.Connection, limit: int, offset: int) -> dict[str, Any]:
    """Admin view of the deletion requests, oldest first (`requested_at` on the sandbox clock)."""
    count = db.execute("SELECT COUNT(*) FROM smtp_log_deletions").fetchone()[0]
    rows = db.execute(
        "SELECT id, identifier, kind, status, requested_at FROM smtp_log_deletions ORDER BY id LIMIT ? OFFSET ?",
        (limit, offset),
    )
    deletions = [
        {
            "id": row["id"],
            "identifier": row["identifier"],
            "kind": row["kind"],
            "status": row["status"],
            "requested_at": iso(row["requested_at"]),
        }
        for row in rows
    ]
    return {"count": count, "deletions": deletions}
