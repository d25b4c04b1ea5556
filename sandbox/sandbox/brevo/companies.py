"""CRM companies: create, read, update, delete, list, and their links to contacts and deals.

Every function takes an open transaction (`Store.tx()`) and raises `BrevoError` for failures.
Chosen conventions where the spec and docs are silent:
- an unknown company id is a 404 `document_not_found` "Company not found", link-unlink included
  (the spec's prose documents 404 for an object that does not exist);
- linking a contact id that does not exist is a 400 naming the ids, and nothing changes;
  unlinking one that is not linked is a no-op; one id both linked and unlinked is a 400;
- deals are not emulated: deal ids are stored as given;
- `last_updated_at` moves only when an attribute or a link actually changes (deleting a linked
  contact changes the link); `owner_assign_date` is set when `owner` changes;
- GET /companies: `page` is a page number from 1, `limit` defaults to 50 (no maximum), sorted by
  `sortBy` (any company attribute, default created_at; companies without the value last), then
  creation order; attribute filters (`filters={"attributes.X": v}` or `filters[attributes.X]=v`)
  match values exactly (a number numerically, a multi-choice when it holds the value).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from sandbox import clock
from sandbox.brevo import crm_attributes, ids
from sandbox.brevo.errors import invalid, not_found, out_of_range
from sandbox.brevo.store import iso, parse_since

COMPANY_NOT_FOUND = "Company not found"
EMPTY_NAME = "The company name cannot be set to an empty string"
DEFAULT_LIMIT = 50
DEFAULT_SORT_BY = "created_at"
CHUNK = 900  # SQLite's bound-parameter limit, with room


@dataclass(frozen=True)
class Links:
    """A change to a company's links: ids to add and remove, or the whole new list (`replace`)."""

    add: Sequence[Any] = ()
    remove: Sequence[Any] = ()
    replace: Sequence[Any] | None = None


NO_CHANGE = Links()
LINK_TABLES = {"contacts": ("company_contacts", "contact_id"), "deals": ("company_deals", "deal_id")}


# ---------------------------------------------------------------- lookups


def find(db: sqlite3.Connection, company_id: str) -> int | None:
    """The internal sequence number of company `company_id`."""
    row = db.execute("SELECT seq FROM companies WHERE id=?", (company_id,)).fetchone()
    return row[0] if row else None


def require(db: sqlite3.Connection, company_id: str) -> int:
    seq = find(db, company_id)
    if seq is None:
        raise not_found(COMPANY_NOT_FOUND)
    return seq


def missing_contacts(db: sqlite3.Connection, contact_ids: Iterable[int]) -> list[int]:
    wanted = sorted(set(contact_ids))
    found: set[int] = set()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(row[0] for row in db.execute(f"SELECT id FROM contacts WHERE id IN ({marks})", chunk))
    return [contact_id for contact_id in wanted if contact_id not in found]


def _check_contacts(db: sqlite3.Connection, contact_ids: Iterable[int]) -> None:
    unknown = missing_contacts(db, contact_ids)
    if unknown:
        raise invalid(f"Contact ids do not exist: {', '.join(map(str, unknown))}")


# ---------------------------------------------------------------- writing


def write(
    db: sqlite3.Connection,
    seq: int | None,
    *,
    values: dict[str, Any],
    contacts: Links = NO_CHANGE,
    deals: Links = NO_CHANGE,
    now: float | None = None,
) -> int:
    """Insert (seq None) or update a company; `values` maps attribute names to stored values or UNSET.

    Links are not checked here (callers do). Returns the company's seq.
    """
    now = clock.now() if now is None else now
    if seq is None:
        stored: dict[str, Any] = {}
        changed = True
    else:
        stored = orjson.loads(db.execute("SELECT attributes FROM companies WHERE seq=?", (seq,)).fetchone()[0])
        changed = False
    before = dict(stored)
    for name, value in values.items():
        if value is crm_attributes.UNSET:
            stored.pop(name, None)
        else:
            stored[name] = value
    if stored.get("owner") != before.get("owner"):
        if "owner" in stored:
            stored["owner_assign_date"] = iso(now)
        else:
            stored.pop("owner_assign_date", None)
    if seq is None:
        cur = db.execute(
            "INSERT INTO companies (id, attributes, created_at, modified_at) VALUES (?, ?, ?, ?)",
            (ids.object_id(), orjson.dumps(stored).decode(), now, now),
        )
        seq = int(cur.lastrowid)
    elif stored != before:
        db.execute("UPDATE companies SET attributes=? WHERE seq=?", (orjson.dumps(stored).decode(), seq))
        changed = True
    changed |= _relink(db, "contacts", seq, contacts)
    changed |= _relink(db, "deals", seq, deals)
    if changed:
        db.execute("UPDATE companies SET modified_at=? WHERE seq=?", (now, seq))
    return seq


def _relink(db: sqlite3.Connection, kind: str, seq: int, change: Links) -> bool:
    table, column = LINK_TABLES[kind]
    current = {row[0] for row in db.execute(f"SELECT {column} FROM {table} WHERE company_seq=?", (seq,))}
    wanted = set(change.replace) if change.replace is not None else (current | set(change.add)) - set(change.remove)
    if wanted == current:
        return False
    db.executemany(f"DELETE FROM {table} WHERE company_seq=? AND {column}=?", [(seq, v) for v in current - wanted])
    db.executemany(f"INSERT INTO {table} (company_seq, {column}) VALUES (?, ?)", [(seq, v) for v in wanted - current])
    return True


def _body_values(db: sqlite3.Connection, body: dict[str, Any]) -> dict[str, Any]:
    values = crm_attributes.values_from_json(crm_attributes.load(db), body.get("attributes") or {})
    if body.get("name") is not None:
        values["name"] = body["name"]
    name = values.get("name")
    if name is crm_attributes.UNSET or (isinstance(name, str) and not name.strip()):
        raise invalid(EMPTY_NAME)
    return values


def create(db: sqlite3.Connection, body: dict[str, Any]) -> str:
    """POST /companies -> the new company's id."""
    values = _body_values(db, body)
    contact_ids = body.get("linkedContactsIds") or []
    _check_contacts(db, contact_ids)
    seq = write(
        db,
        None,
        values=values,
        contacts=Links(add=contact_ids),
        deals=Links(add=body.get("linkedDealsIds") or []),
    )
    return db.execute("SELECT id FROM companies WHERE seq=?", (seq,)).fetchone()[0]


def update(db: sqlite3.Connection, seq: int, body: dict[str, Any]) -> None:
    """PATCH /companies/{id}: given attributes change; given link lists replace the old ones."""
    values = _body_values(db, body)
    contact_ids = body.get("linkedContactsIds")
    if contact_ids is not None:
        _check_contacts(db, contact_ids)
    deal_ids = body.get("linkedDealsIds")
    write(
        db,
        seq,
        values=values,
        contacts=NO_CHANGE if contact_ids is None else Links(replace=contact_ids),
        deals=NO_CHANGE if deal_ids is None else Links(replace=deal_ids),
    )


def link_unlink(db: sqlite3.Connection, seq: int, body: dict[str, Any]) -> None:
    """PATCH /companies/link-unlink/{id}: incremental link changes."""
    changes = {}
    for kind, link_key, unlink_key in (
        ("contacts", "linkContactIds", "unlinkContactIds"),
        ("deals", "linkDealsIds", "unlinkDealsIds"),
    ):
        add, remove = body.get(link_key) or [], body.get(unlink_key) or []
        both = sorted(set(add) & set(remove), key=str)
        if both:
            raise invalid(f"{link_key} and {unlink_key} both name {', '.join(map(str, both))}")
        changes[kind] = Links(add=add, remove=remove)
    _check_contacts(db, changes["contacts"].add)
    write(db, seq, values={}, contacts=changes["contacts"], deals=changes["deals"])


def delete(db: sqlite3.Connection, seq: int) -> None:
    db.execute("DELETE FROM company_contacts WHERE company_seq=?", (seq,))
    db.execute("DELETE FROM company_deals WHERE company_seq=?", (seq,))
    db.execute("DELETE FROM companies WHERE seq=?", (seq,))


def forget_contact(db: sqlite3.Connection, contact_id: int, now: float | None = None) -> None:
    """A contact is deleted: unlink it from its companies."""
    now = clock.now() if now is None else now
    seqs = [row[0] for row in db.execute("SELECT company_seq FROM company_contacts WHERE contact_id=?", (contact_id,))]
    db.execute("DELETE FROM company_contacts WHERE contact_id=?", (contact_id,))
    db.executemany("UPDATE companies SET modified_at=? WHERE seq=?", [(now, seq) for seq in seqs])


def move_links(db: sqlite3.Connection, from_contact: int, to_contact: int) -> None:
    """Contacts are merged (forceMerge): the kept contact takes the other's company links."""
    db.execute(
        "INSERT OR IGNORE INTO company_contacts (company_seq, contact_id) "
        "SELECT company_seq, ? FROM company_contacts WHERE contact_id=?",
        (to_contact, from_contact),
    )


# ---------------------------------------------------------------- reading


def _links(db: sqlite3.Connection, kind: str, seqs: list[int]) -> dict[int, list[Any]]:
    table, column = LINK_TABLES[kind]
    found: dict[int, list[Any]] = {seq: [] for seq in seqs}
    for start in range(0, len(seqs), CHUNK):
        chunk = seqs[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        for seq, value in db.execute(
            f"SELECT company_seq, {column} FROM {table} WHERE company_seq IN ({marks}) ORDER BY {column}", chunk
        ):
            found[seq].append(value)
    return found


def public(db: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
    """Companies as the API shows them (links fetched in one query per kind)."""
    seqs = [row["seq"] for row in rows]
    contacts, deals = _links(db, "contacts", seqs), _links(db, "deals", seqs)
    out = []
    for row in rows:
        attributes = orjson.loads(row["attributes"])
        attributes.update(
            created_at=iso(row["created_at"]),
            last_updated_at=iso(row["modified_at"]),
            number_of_contacts=len(contacts[row["seq"]]),
        )
        out.append(
            {
                "id": row["id"],
                "attributes": attributes,
                "linkedContactsIds": contacts[row["seq"]],
                "linkedDealsIds": deals[row["seq"]],
            }
        )
    return out


def get(db: sqlite3.Connection, seq: int) -> dict[str, Any]:
    return public(db, [db.execute("SELECT * FROM companies WHERE seq=?", (seq,)).fetchone()])[0]


def everything(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every company, oldest first (the admin view)."""
    return public(db, db.execute("SELECT * FROM companies ORDER BY seq").fetchall())


def attribute_filters(query: dict[str, Any], raw_query: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """{"attributes.X": value} from `filters` (JSON) and `filters[attributes.X]=value` parameters."""
    found: dict[str, Any] = {}
    if query.get("filters"):
        try:
            parsed = orjson.loads(query["filters"])
        except orjson.JSONDecodeError:
            raise invalid('filters must be a JSON object like {"attributes.name":"Acme"}') from None
        if not isinstance(parsed, dict):
            raise invalid('filters must be a JSON object like {"attributes.name":"Acme"}')
        found.update(parsed)
    for key, value in raw_query:
        if key.startswith("filters[") and key.endswith("]"):
            found[key[len("filters[") : -1]] = value
    return found


def _matches(value: Any, wanted: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, list):
        return any(_matches(item, wanted) for item in value)
    if isinstance(value, bool):
        return str(wanted).lower() == str(value).lower()
    if isinstance(value, (int, float)):
        try:
            return float(wanted) == float(value)
        except (TypeError, ValueError):
            return False
    return str(value) == str(wanted)


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return 1, int(value)
    if isinstance(value, (int, float)):
        return 0, float(value)
    if isinstance(value, list):
        return 3, ",".join(map(str, value))
    return 2, str(value)


def listing(db: sqlite3.Connection, query: dict[str, Any], filters: dict[str, Any]) -> dict[str, Any]:
    """GET /companies -> {"items": [...]} (no total, as Brevo)."""
    defs = crm_attributes.load(db)
    wanted = {}
    for key, value in filters.items():
        name = key[len("attributes.") :] if key.startswith("attributes.") else None
        if name not in defs:
            raise invalid(f"Unknown filter {key!r}: filter on attributes.<attribute internal name>")
        wanted[name] = value
    sort_by = query.get("sortBy") or DEFAULT_SORT_BY
    if sort_by not in defs:
        raise invalid(f"sortBy must be a company attribute, not {sort_by!r}")
    page, limit = query.get("page", 1), query.get("limit", DEFAULT_LIMIT)
    if page < 1 or limit < 1:
        raise out_of_range("page and limit start at 1")
    where, args = [], []
    for name, column in (("modifiedSince", "modified_at"), ("createdSince", "created_at")):
        since = parse_since(name, query.get(name))
        if since is not None:
            where.append(f"{column} >= ?")
            args.append(since)
    if query.get("linkedContactsIds") is not None:
        where.append("seq IN (SELECT company_seq FROM company_contacts WHERE contact_id=?)")
        args.append(query["linkedContactsIds"])
    if query.get("linkedDealsIds") is not None:
        where.append("seq IN (SELECT company_seq FROM company_deals WHERE deal_id=?)")
        args.append(query["linkedDealsIds"])
    condition = " WHERE " + " AND ".join(where) if where else ""
    descending = query.get("sort") != "asc"
    rows = db.execute(f"SELECT * FROM companies{condition} ORDER BY seq {'DESC' if descending else 'ASC'}", args)
    items = [
        item
        for item in public(db, rows.fetchall())
        if all(_matches(item["attributes"].get(name), value) for name, value in wanted.items())
    ]
    present = [item for item in items if item["attributes"].get(sort_by) is not None]
    absent = [item for item in items if item["attributes"].get(sort_by) is None]
    present.sort(key=lambda item: _sort_key(item["attributes"][sort_by]), reverse=descending)
    ordered = present + absent
    return {"items": ordered[(page - 1) * limit : page * limit]}
