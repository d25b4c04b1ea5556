"""Contacts: create (with updateEnabled / forceMerge), read, update, delete, list.

Every function takes an open transaction (`Store.tx()`) and raises `BrevoError` for Brevo's
documented failures.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

from sandbox import clock
from sandbox.brevo import attributes as attrs
from sandbox.brevo import companies
from sandbox.brevo.errors import CONTACT_NOT_FOUND, LIST_NOT_FOUND, BrevoError, invalid, missing
from sandbox.brevo.store import iso, parse_since

IDENTIFIER_ORDER = ("email", "ext_id", "sms", "whatsapp", "landline")
# How each identifier column is named in duplicate_parameter errors.
DUPLICATE_NAMES = {
    "email": "email",
    "ext_id": "ext_id",
    "sms": "SMS",
    "whatsapp": "WHATSAPP",
    "landline": "LANDLINE_NUMBER",
}
IDENTIFIER_TYPES = {
    "email_id": "email",
    "contact_id": "id",
    "ext_id": "ext_id",
    "phone_id": "sms",
    "whatsapp_id": "whatsapp",
    "landline_number_id": "landline",
}
COLUMN_ATTRIBUTES = {"sms": "SMS", "whatsapp": "WHATSAPP", "landline": "LANDLINE_NUMBER", "ext_id": "EXT_ID"}
NEED_IDENTIFIER = "Please provide Email or SMS attribute value to create user"
FILTER_RE = re.compile(r"^\s*equals\(\s*([A-Za-z0-9_]+)\s*,\s*(.*?)\s*\)\s*$")


# ---------------------------------------------------------------- lookups


def lookup(db: sqlite3.Connection, column: str, value: Any) -> int | None:
    """The id of the contact whose identifier `column` is `value` (normalised first)."""
    if column == "id":
        try:
            contact_id = int(value)
        except (TypeError, ValueError):
            return None
        row = db.execute("SELECT id FROM contacts WHERE id=?", (contact_id,)).fetchone()
        return row[0] if row else None
    try:
        value = attrs.normalize_identifier(column, value)
    except BrevoError:
        return None
    row = db.execute(f"SELECT id FROM contacts WHERE {column}=?", (value,)).fetchone()
    return row[0] if row else None


def find(db: sqlite3.Connection, identifier: str, identifier_type: str | None) -> int | None:
    """Resolve `/contacts/{identifier}[?identifierType=...]` to a contact id."""
    if identifier_type:
        return lookup(db, IDENTIFIER_TYPES[identifier_type], identifier)
    if "@" in identifier:
        return lookup(db, "email", identifier)
    if re.fullmatch(r"\+?\d+", identifier):
        if not identifier.startswith("+"):
            found = lookup(db, "id", identifier)
            if found is not None:
                return found
        return lookup(db, "sms", identifier)
    return None


def require(db: sqlite3.Connection, identifier: str, identifier_type: str | None) -> int:
    contact_id = find(db, identifier, identifier_type)
    if contact_id is None:
        raise BrevoError(404, "document_not_found", CONTACT_NOT_FOUND)
    return contact_id


def check_lists(db: sqlite3.Connection, list_ids: Iterable[int]) -> None:
    for list_id in list_ids:
        if db.execute("SELECT 1 FROM lists WHERE id=?", (list_id,)).fetchone() is None:
            raise invalid(f"{LIST_NOT_FOUND}: {list_id}")


# ---------------------------------------------------------------- writing


def _conflicts(db: sqlite3.Connection, identifiers: dict[str, str], contact_id: int | None) -> dict[str, int]:
    """Identifier columns whose value belongs to another contact -> that contact's id."""
    found = {}
    for column in IDENTIFIER_ORDER:
        if column in identifiers:
            row = db.execute(f"SELECT id FROM contacts WHERE {column}=?", (identifiers[column],)).fetchone()
            if row is not None and row[0] != contact_id:
                found[column] = row[0]
    return found


def _duplicate(column: str, verb: str) -> BrevoError:
    name = DUPLICATE_NAMES[column]
    return BrevoError(
        400,
        "duplicate_parameter",
        f"Unable to {verb} contact, {name} is already associated with another Contact",
        {"duplicate_identifiers": [name]},
    )


def _merge_away(db: sqlite3.Connection, keep: int, others: Iterable[int]) -> None:
    """forceMerge: fold other contacts' list memberships into `keep` and delete them."""
    for other in set(others) - {keep}:
        db.execute(
            "INSERT OR IGNORE INTO list_members (list_id, contact_id, added_at) "
            "SELECT list_id, ?, added_at FROM list_members WHERE contact_id=?",
            (keep, other),
        )
        companies.move_links(db, other, keep)
        delete(db, other)


def write(
    db: sqlite3.Connection,
    contact_id: int | None,
    *,
    values: dict[str, Any],
    identifiers: dict[str, str],
    erase: Iterable[str] = (),
    email_blacklisted: bool | None = None,
    sms_blacklisted: bool | None = None,
    list_ids: Iterable[int] = (),
    unlink_list_ids: Iterable[int] = (),
    now: float | None = None,
) -> int:
    """Insert (contact_id None) or update a contact. Identifier conflicts must be checked first."""
    now = clock.now() if now is None else now
    if contact_id is None:
        columns = dict(identifiers)
        cur = db.execute(
            "INSERT INTO contacts (email, ext_id, sms, whatsapp, landline, attributes, email_blacklisted,"
            " sms_blacklisted, created_at, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                columns.get("email"),
                columns.get("ext_id"),
                columns.get("sms"),
                columns.get("whatsapp"),
                columns.get("landline"),
                orjson.dumps(values).decode(),
                int(bool(email_blacklisted)),
                int(bool(sms_blacklisted)),
                now,
                now,
            ),
        )
        contact_id = int(cur.lastrowid)
    else:
        row = db.execute("SELECT attributes FROM contacts WHERE id=?", (contact_id,)).fetchone()
        stored = orjson.loads(row[0])
        stored.update(values)
        sets: dict[str, Any] = {}
        for name in erase:
            stored.pop(name, None)
            column = attrs.IDENTIFIERS.get(name)
            if column and column != "email":
                sets[column] = None
        sets.update(identifiers)
        sets["attributes"] = orjson.dumps(stored).decode()
        if email_blacklisted is not None:
            sets["email_blacklisted"] = int(email_blacklisted)
        if sms_blacklisted is not None:
            sets["sms_blacklisted"] = int(sms_blacklisted)
        sets["modified_at"] = now
        assignments = ", ".join(f"{k}=?" for k in sets)
        db.execute(f"UPDATE contacts SET {assignments} WHERE id=?", (*sets.values(), contact_id))
    db.executemany(
        "INSERT OR IGNORE INTO list_members (list_id, contact_id, added_at) VALUES (?, ?, ?)",
        [(list_id, contact_id, now) for list_id in list_ids],
    )
    db.executemany(
        "DELETE FROM list_members WHERE list_id=? AND contact_id=?",
        [(list_id, contact_id) for list_id in unlink_list_ids],
    )
    return contact_id


def create(db: sqlite3.Connection, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    """POST /contacts -> (201, {"id"}) or (204, None) when updateEnabled updated a contact."""
    defs = attrs.load(db)
    values, identifiers, erase = attrs.split(defs, body.get("attributes") or {})
    if body.get("email") is not None:
        identifiers["email"] = attrs.normalize_email(body["email"])
    if body.get("ext_id") is not None:
        identifiers["ext_id"] = attrs.normalize_identifier("ext_id", body["ext_id"])
    if not identifiers:
        raise missing(NEED_IDENTIFIER)
    list_ids = body.get("listIds") or []
    check_lists(db, list_ids)
    matches = _conflicts(db, identifiers, None)
    force = bool(body.get("forceMerge"))
    flags = {"email_blacklisted": body.get("emailBlacklisted"), "sms_blacklisted": body.get("smsBlacklisted")}
    if not matches:
        contact_id = write(db, None, values=values, identifiers=identifiers, list_ids=list_ids, **flags)
        return 201, {"id": contact_id}
    if not (body.get("updateEnabled") or force):
        raise _duplicate(next(iter(matches)), "create")
    target = next(iter(matches.values()))  # matched by the first identifier in IDENTIFIER_ORDER
    others = {column: cid for column, cid in matches.items() if cid != target}
    if others and not force:
        raise _duplicate(next(iter(others)), "update")
    _merge_away(db, target, others.values())
    write(db, target, values=values, identifiers=identifiers, erase=erase, list_ids=list_ids, **flags)
    if body.get("getId"):
        return 201, {"id": target}
    return 204, None


def update(db: sqlite3.Connection, contact_id: int, body: dict[str, Any]) -> None:
    """PUT /contacts/{identifier}."""
    defs = attrs.load(db)
    values, identifiers, erase = attrs.split(defs, body.get("attributes") or {})
    if body.get("ext_id") is not None:
        identifiers["ext_id"] = attrs.normalize_identifier("ext_id", body["ext_id"])
    list_ids = body.get("listIds") or []
    unlink = body.get("unlinkListIds") or []
    check_lists(db, [*list_ids, *unlink])
    others = _conflicts(db, identifiers, contact_id)
    if others and not body.get("forceMerge"):
        raise _duplicate(next(iter(others)), "update")
    _merge_away(db, contact_id, others.values())
    write(
        db,
        contact_id,
        values=values,
        identifiers=identifiers,
        erase=erase,
        email_blacklisted=body.get("emailBlacklisted"),
        sms_blacklisted=body.get("smsBlacklisted"),
        list_ids=list_ids,
        unlink_list_ids=unlink,
    )


def delete(db: sqlite3.Connection, contact_id: int) -> None:
    db.execute("DELETE FROM list_members WHERE contact_id=?", (contact_id,))
    companies.forget_contact(db, contact_id)
    db.execute("DELETE FROM contacts WHERE id=?", (contact_id,))


# ---------------------------------------------------------------- reading


def public(db: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
    """Contacts as GET /contacts shows them (listIds fetched in one query)."""
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    memberships: dict[int, list[int]] = {cid: [] for cid in ids}
    for chunk_start in range(0, len(ids), 900):
        chunk = ids[chunk_start : chunk_start + 900]
        marks = ",".join("?" * len(chunk))
        for contact_id, list_id in db.execute(
            f"SELECT contact_id, list_id FROM list_members WHERE contact_id IN ({marks}) ORDER BY list_id", chunk
        ):
            memberships[contact_id].append(list_id)
    out = []
    for row in rows:
        attributes = orjson.loads(row["attributes"])
        for column, name in COLUMN_ATTRIBUTES.items():
            if row[column] is not None:
                attributes[name] = row[column]
        contact: dict[str, Any] = {"id": row["id"]}
        if row["email"]:
            contact["email"] = row["email"]
        elif row["sms"]:
            contact["email"] = f"{row['sms']}@mailin-sms.com"
        contact.update(
            emailBlacklisted=bool(row["email_blacklisted"]),
            smsBlacklisted=bool(row["sms_blacklisted"]),
            # Not in the Feb 2026 spec, but brevo-python 5.1 requires it (newer API): never blacklisted here.
            whatsappBlacklisted=False,
            createdAt=iso(row["created_at"]),
            modifiedAt=iso(row["modified_at"]),
            attributes=attributes,
            listIds=memberships[row["id"]],
            listUnsubscribed=[],
        )
        out.append(contact)
    return out


def get(db: sqlite3.Connection, contact_id: int) -> dict[str, Any]:
    row = db.execute("SELECT * FROM contacts WHERE id=?", (contact_id,)).fetchone()
    contact = public(db, [row])[0]
    contact["statistics"] = {}
    return contact


def _as_number(text: str) -> int | float | None:
    try:
        return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
    except ValueError:
        return None


def _filter_clause(db: sqlite3.Connection, expression: str) -> tuple[str, list[Any]]:
    match = FILTER_RE.match(expression)
    if not match:
        raise invalid('filter must look like equals(ATTRIBUTE,"value")')
    name, raw = match.group(1).upper(), match.group(2)
    value: Any = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    if name in attrs.IDENTIFIERS:
        column = attrs.IDENTIFIERS[name]
        return f"{column} = ?", [str(value).lower() if column == "email" else str(value)]
    attribute = attrs.load(db).get(name)
    number = _as_number(value) if attribute is not None and attribute.type == "float" else None
    if number is not None:
        # Numerically, so "123" finds a value stored as 123 or as 123.0.
        return "json_extract(attributes, ?) = ?", [f"$.{name}", number]
    if value in ("true", "false"):
        return "json_extract(attributes, ?) = ?", [f"$.{name}", value == "true"]
    return "CAST(json_extract(attributes, ?) AS TEXT) = ?", [f"$.{name}", str(value)]


def listing(db: sqlite3.Connection, query: dict[str, Any], *, list_id: int | None = None) -> dict[str, Any]:
    """GET /contacts and GET /contacts/lists/{id}/contacts: {"contacts": [...], "count": total}."""
    where, args = [], []
    modified = parse_since("modifiedSince", query.get("modifiedSince"))
    if modified is not None:
        where.append("modified_at >= ?")
        args.append(modified)
    created = parse_since("createdSince", query.get("createdSince"))
    if created is not None:
        where.append("created_at >= ?")
        args.append(created)
    list_ids = [list_id] if list_id is not None else list(query.get("listIds") or [])
    if query.get("segmentId") is not None:
        raise invalid("Segment ID does not exist")
    if list_ids:
        marks = ",".join("?" * len(list_ids))
        where.append(f"id IN (SELECT contact_id FROM list_members WHERE list_id IN ({marks}))")
        args.extend(list_ids)
    if query.get("filter"):
        clause, values = _filter_clause(db, query["filter"])
        where.append(clause)
        args.extend(values)
    condition = " WHERE " + " AND ".join(where) if where else ""
    order = "ASC" if query.get("sort") == "asc" else "DESC"
    count = db.execute(f"SELECT COUNT(*) FROM contacts{condition}", args).fetchone()[0]
    rows = db.execute(
        f"SELECT * FROM contacts{condition} ORDER BY id {order} LIMIT ? OFFSET ?",
        [*args, query.get("limit", 50), query.get("offset", 0)],
    ).fetchall()
    return {"contacts": public(db, rows), "count": count}
