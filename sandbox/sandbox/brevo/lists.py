"""Folders, lists and list membership (add/remove at most 150 contacts per call)."""

from __future__ import annotations

import sqlite3
from typing import Any

from sandbox import clock
from sandbox.brevo.errors import FOLDER_NOT_FOUND, LIST_NOT_FOUND, BrevoError, invalid, not_found
from sandbox.brevo.store import iso

NOTHING_ADDED = "Contact already in list and/or does not exist"
NOTHING_REMOVED = "Contact already removed from list and/or does not exist"
NOTHING_REMOVED_ALL = "Contacts already removed from list and/or does not exist"


def _order(query: dict[str, Any]) -> str:
    return "ASC" if query.get("sort") == "asc" else "DESC"


def _totals(db: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> dict[str, int]:
    members, blacklisted = db.execute(
        "SELECT COUNT(DISTINCT m.contact_id), COUNT(DISTINCT CASE WHEN c.email_blacklisted THEN c.id END) "
        f"FROM list_members m JOIN contacts c ON c.id = m.contact_id WHERE {where}",
        args,
    ).fetchone()
    return {"uniqueSubscribers": members, "totalSubscribers": members, "totalBlacklisted": blacklisted}


def require_list(db: sqlite3.Connection, list_id: int) -> sqlite3.Row:
    row = db.execute("SELECT * FROM lists WHERE id=?", (list_id,)).fetchone()
    if row is None:
        raise not_found(LIST_NOT_FOUND)
    return row


def require_folder(db: sqlite3.Connection, folder_id: int) -> sqlite3.Row:
    row = db.execute("SELECT * FROM folders WHERE id=?", (folder_id,)).fetchone()
    if row is None:
        raise not_found(FOLDER_NOT_FOUND)
    return row


# ---------------------------------------------------------------- folders


def folder_public(db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    totals = _totals(db, "m.list_id IN (SELECT id FROM lists WHERE folder_id=?)", (row["id"],))
    return {"id": row["id"], "name": row["name"], **totals}


def create_folder(db: sqlite3.Connection, body: dict[str, Any]) -> int:
    name = (body.get("name") or "").strip()
    if not name:
        raise BrevoError(400, "missing_parameter", "name is required")
    return int(db.execute("INSERT INTO folders (name, created_at) VALUES (?, ?)", (name, clock.now())).lastrowid)


def folders(db: sqlite3.Connection, query: dict[str, Any]) -> dict[str, Any]:
    count = db.execute("SELECT COUNT(*) FROM folders").fetchone()[0]
    rows = db.execute(
        f"SELECT * FROM folders ORDER BY id {_order(query)} LIMIT ? OFFSET ?",
        (query.get("limit", 10), query.get("offset", 0)),
    ).fetchall()
    return {"count": count, "folders": [folder_public(db, row) for row in rows]}


def update_folder(db: sqlite3.Connection, folder_id: int, body: dict[str, Any]) -> None:
    require_folder(db, folder_id)
    if body.get("name"):
        db.execute("UPDATE folders SET name=? WHERE id=?", (body["name"], folder_id))


def delete_folder(db: sqlite3.Connection, folder_id: int) -> None:
    require_folder(db, folder_id)
    for (list_id,) in db.execute("SELECT id FROM lists WHERE folder_id=?", (folder_id,)).fetchall():
        delete_list(db, list_id)
    db.execute("DELETE FROM folders WHERE id=?", (folder_id,))


# ---------------------------------------------------------------- lists


def list_public(db: sqlite3.Connection, row: sqlite3.Row, *, detail: bool = False) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "name": row["name"],
        "folderId": row["folder_id"],
        **_totals(db, "m.list_id=?", (row["id"],)),
    }
    if detail:
        out.update(createdAt=iso(row["created_at"]), dynamicList=False)
    return out


def create_list(db: sqlite3.Connection, body: dict[str, Any]) -> int:
    name = (body.get("name") or "").strip()
    if not name:
        raise BrevoError(400, "missing_parameter", "name is required")
    if db.execute("SELECT 1 FROM folders WHERE id=?", (body["folderId"],)).fetchone() is None:
        raise invalid(FOLDER_NOT_FOUND)
    cur = db.execute(
        "INSERT INTO lists (name, folder_id, created_at) VALUES (?, ?, ?)", (name, body["folderId"], clock.now())
    )
    return int(cur.lastrowid)


def lists(db: sqlite3.Connection, query: dict[str, Any], *, folder_id: int | None = None) -> dict[str, Any]:
    where, args = ("WHERE folder_id=?", (folder_id,)) if folder_id is not None else ("", ())
    count = db.execute(f"SELECT COUNT(*) FROM lists {where}", args).fetchone()[0]
    rows = db.execute(
        f"SELECT * FROM lists {where} ORDER BY id {_order(query)} LIMIT ? OFFSET ?",
        (*args, query.get("limit", 10), query.get("offset", 0)),
    ).fetchall()
    return {"count": count, "lists": [list_public(db, row) for row in rows]}


def update_list(db: sqlite3.Connection, list_id: int, body: dict[str, Any]) -> None:
    require_list(db, list_id)
    if body.get("folderId") is not None:
        if db.execute("SELECT 1 FROM folders WHERE id=?", (body["folderId"],)).fetchone() is None:
            raise invalid(FOLDER_NOT_FOUND)
        db.execute("UPDATE lists SET folder_id=? WHERE id=?", (body["folderId"], list_id))
    if body.get("name"):
        db.execute("UPDATE lists SET name=? WHERE id=?", (body["name"], list_id))


def delete_list(db: sqlite3.Connection, list_id: int) -> None:
    require_list(db, list_id)
    db.execute("DELETE FROM list_members WHERE list_id=?", (list_id,))
    db.execute("DELETE FROM lists WHERE id=?", (list_id,))


# ---------------------------------------------------------------- membership


def _resolve(db: sqlite3.Connection, body: dict[str, Any]) -> list[tuple[Any, int | None]]:
    """(as given, contact id or None) for each entry of emails / ids / extIds."""
    if "emails" in body:
        out = []
        for email in body["emails"]:
            row = db.execute("SELECT id FROM contacts WHERE email=?", (str(email).strip().lower(),)).fetchone()
            out.append((email, row[0] if row else None))
        return out
    if "ids" in body:
        return [
            (cid, cid if db.execute("SELECT 1 FROM contacts WHERE id=?", (cid,)).fetchone() else None)
            for cid in body["ids"]
        ]
    out = []
    for ext_id in body["extIds"]:
        row = db.execute("SELECT id FROM contacts WHERE ext_id=?", (str(ext_id),)).fetchone()
        out.append((ext_id, row[0] if row else None))
    return out


def add_members(db: sqlite3.Connection, list_id: int, body: dict[str, Any]) -> dict[str, Any]:
    require_list(db, list_id)
    now = clock.now()
    success, failure = [], []
    for given, contact_id in _resolve(db, body):
        added = (
            contact_id is not None
            and db.execute(
                "INSERT OR IGNORE INTO list_members (list_id, contact_id, added_at) VALUES (?, ?, ?)",
                (list_id, contact_id, now),
            ).rowcount
        )
        (success if added else failure).append(given)
        if added:
            db.execute("UPDATE contacts SET modified_at=? WHERE id=?", (now, contact_id))
    if not success:
        raise invalid(NOTHING_ADDED)
    return {"contacts": {"success": success, "failure": failure}}


def remove_members(db: sqlite3.Connection, list_id: int, body: dict[str, Any]) -> dict[str, Any]:
    require_list(db, list_id)
    now = clock.now()
    if "all" in body:
        if not body["all"]:
            raise invalid("all must be true, or pass emails, ids or extIds")
        total = db.execute("DELETE FROM list_members WHERE list_id=?", (list_id,)).rowcount
        if not total:
            raise invalid(NOTHING_REMOVED_ALL)
        # Brevo runs this as a background process; the sandbox finishes it at once.
        cur = db.execute(
            "INSERT INTO processes (name, status, created_at, start_at, due_at, completed_at) VALUES (?, 'completed', ?, ?, ?, ?)",
            ("IMPORTUSER", now, now, now, now),
        )
        return {"contacts": {"processId": int(cur.lastrowid), "total": total}}
    success, failure = [], []
    for given, contact_id in _resolve(db, body):
        removed = (
            contact_id is not None
            and db.execute("DELETE FROM list_members WHERE list_id=? AND contact_id=?", (list_id, contact_id)).rowcount
        )
        (success if removed else failure).append(given)
        if removed:
            db.execute("UPDATE contacts SET modified_at=? WHERE id=?", (now, contact_id))
    if not success:
        raise invalid(NOTHING_REMOVED)
    return {"contacts": {"success": success, "failure": failure}}


def members(db: sqlite3.Connection, list_id: int) -> list[dict[str, Any]]:
    """Admin view: every member's id, email and ext_id (no paging limit)."""
    require_list(db, list_id)
    rows = db.execute(
        "SELECT c.id, c.email, c.ext_id, c.sms FROM list_members m JOIN contacts c ON c.id = m.contact_id "
        "WHERE m.list_id=? ORDER BY c.id",
        (list_id,),
    )
    return [{"id": r["id"], "email": r["email"], "ext_id": r["ext_id"], "sms": r["sms"]} for r in rows]
