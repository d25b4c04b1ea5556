"""eCommerce orders: POST /orders/status (204) and /orders/status/batch (202 {"batchId", "count"}).

Chosen conventions (reference §8): orders are upserted by `id` (a re-sent id updates, never
duplicates); a batch is applied before the 202; when eCommerce is not activated, order calls get
400 permission_denied "eCommerce is not activated". A batch is all-or-nothing: one invalid order
fails the request with its index in the message.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from sandbox import clock
from sandbox.brevo import contacts
from sandbox.brevo.errors import BrevoError, invalid, missing, out_of_range
from sandbox.brevo.store import Store, iso

MAX_BATCH_ORDERS = 1000
MAX_BATCH_BYTES = 5 * 1024 * 1024
IDENTIFIERS = {"email_id": "email", "ext_id": "ext_id", "phone_id": "sms", "loyalty_subscription_id": None}


def not_activated() -> BrevoError:
    return BrevoError(400, "permission_denied", "eCommerce is not activated")


def check(order: dict[str, Any], where: str = "") -> None:
    for index, product in enumerate(order["products"]):
        if ("quantity" in product) == ("quantityFloat" in product):
            raise invalid(f"{where}products[{index}]: pass exactly one of quantity or quantityFloat")
    identifiers = order.get("identifiers") or {}
    if not any(identifiers.get(key) not in (None, "") for key in IDENTIFIERS):
        raise missing(f"{where}identifiers needs one of " + ", ".join(IDENTIFIERS))
    for field in ("createdAt", "updatedAt"):
        try:
            clock.parse_iso(str(order[field]))
        except ValueError:
            raise invalid(f"{where}{field} must be a UTC date-time like YYYY-MM-DDTHH:mm:ssZ") from None


def _contact(db: sqlite3.Connection, identifiers: dict[str, Any]) -> int | None:
    for key, column in IDENTIFIERS.items():
        if column and identifiers.get(key) not in (None, ""):
            found = contacts.lookup(db, column, identifiers[key])
            if found is not None:
                return found
    return None


def upsert(db: sqlite3.Connection, order: dict[str, Any], *, historical: bool | None, batch_id: int | None) -> None:
    db.execute(
        "INSERT INTO orders (id, contact_id, status, amount, historical, batch_id, received_at, body)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET contact_id=excluded.contact_id, status=excluded.status,"
        " amount=excluded.amount, historical=excluded.historical, batch_id=excluded.batch_id,"
        " received_at=excluded.received_at, body=excluded.body, revisions=orders.revisions + 1",
        (
            order["id"],
            _contact(db, order.get("identifiers") or {}),
            order["status"],
            order["amount"],
            None if historical is None else int(historical),
            batch_id,
            clock.now(),
            orjson.dumps(order).decode(),
        ),
    )


def create(store: Store, order: dict[str, Any]) -> None:
    check(order)
    with store.tx() as db:
        upsert(db, order, historical=False, batch_id=None)


def create_batch(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    orders = body["orders"]
    if not orders:
        raise missing("orders must hold at least one order")
    if len(orders) > MAX_BATCH_ORDERS:
        raise out_of_range(f"A batch holds at most {MAX_BATCH_ORDERS} orders ({len(orders)} sent)")
    for index, order in enumerate(orders):
        check(order, f"orders[{index}].")
    historical = bool(body.get("historical", True))
    with store.tx() as db:
        cur = db.execute(
            "INSERT INTO order_batches (count, historical, received_at) VALUES (?, ?, ?)",
            (len(orders), int(historical), clock.now()),
        )
        batch_id = int(cur.lastrowid)
        for order in orders:
            upsert(db, order, historical=historical, batch_id=batch_id)
    # `batchId` per the spec and the reference; brevo-python 5.1 reads `batch_id`, so send both.
    return {"batchId": batch_id, "batch_id": batch_id, "count": len(orders)}


def listing(
    db: sqlite3.Connection, contact_id: int | None, order_id: str | None, limit: int, offset: int
) -> dict[str, Any]:
    """Admin view of stored orders, by id."""
    where, args = [], []
    if contact_id is not None:
        where.append("contact_id=?")
        args.append(contact_id)
    if order_id is not None:
        where.append("id=?")
        args.append(order_id)
    condition = " WHERE " + " AND ".join(where) if where else ""
    count = db.execute(f"SELECT COUNT(*) FROM orders{condition}", args).fetchone()[0]
    rows = db.execute(
        f"SELECT * FROM orders{condition} ORDER BY received_at, id LIMIT ? OFFSET ?", [*args, limit, offset]
    )
    out = [
        {
            "order": orjson.loads(row["body"]),
            "contact_id": row["contact_id"],
            "historical": None if row["historical"] is None else bool(row["historical"]),
            "batch_id": row["batch_id"],
            "revisions": row["revisions"],
            "received_at": iso(row["received_at"]),
        }
        for row in rows
    ]
    return {"count": count, "orders": out}
