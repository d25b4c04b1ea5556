"""Inspection handlers under /_sandbox/brevo/ (no api-key, no rate limit): what the account holds.

Each handler takes the account and the request and returns the JSON document to answer; the
routes are in `routes.ADMIN_OPERATIONS`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from sandbox.brevo import companies, contacts, events, imports, lists, orders, smtp_logs, webhooks
from sandbox.brevo.account import Account
from sandbox.brevo.errors import BrevoError

AdminHandler = Callable[[Account, Request], Any]

STATS_TABLES = (
    "contacts", "lists", "folders", "list_members", "attributes", "events", "orders", "order_batches", "processes",
    "smtp_log_deletions", "companies", "company_contacts", "crm_attributes",
)  # fmt: skip
EVERYTHING_OLDEST_FIRST = {"limit": -1, "offset": 0, "sort": "asc"}


def endpoint(account: Account, by_method: dict[str, AdminHandler]) -> Callable[[Request], Response]:
    """The Starlette endpoint of one path: the handler's result as JSON, a failure as a 400/404 body."""

    def answer(request: Request) -> Response:
        handler = by_method.get(request.method) or by_method["GET"]  # Starlette routes HEAD to GET
        try:
            return _json(handler(account, request))
        except BrevoError as exc:
            return _json(exc.body(), exc.status)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)

    return answer


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _page(request: Request) -> tuple[int, int]:
    """(limit, offset) from the query: 1000 rows from the first by default."""
    return int(request.query_params.get("limit", 1000)), int(request.query_params.get("offset", 0))


def _contact_filter(request: Request, db: sqlite3.Connection) -> int | None:
    given = request.query_params.get("contact")
    if given is None:
        return None
    return contacts.require(db, given, request.query_params.get("identifierType"))


def stats(account: Account, request: Request) -> dict[str, int]:
    with account.store.tx() as db:
        return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in STATS_TABLES}


def all_contacts(account: Account, request: Request) -> dict[str, Any]:
    limit, offset = _page(request)
    with account.store.tx() as db:
        return contacts.listing(db, {"limit": limit, "offset": offset, "sort": "asc"})


def one_contact(account: Account, request: Request) -> dict[str, Any]:
    with account.store.tx() as db:
        contact_id = contacts.require(db, request.path_params["identifier"], request.query_params.get("identifierType"))
        contact = contacts.get(db, contact_id)
        for table, count in (("events", "eventsCount"), ("orders", "ordersCount")):
            contact[count] = db.execute(f"SELECT COUNT(*) FROM {table} WHERE contact_id=?", (contact_id,)).fetchone()[0]
        return contact


def _stored_rows(listing: Callable[..., dict[str, Any]], filter_name: str) -> AdminHandler:
    """A handler over `listing(db, contact_id, filter, limit, offset)`: stored events or orders."""

    def handler(account: Account, request: Request) -> dict[str, Any]:
        with account.store.tx() as db:
            contact_id = _contact_filter(request, db)
            return listing(db, contact_id, request.query_params.get(filter_name), *_page(request))

    return handler


def _everything(listing: Callable[[sqlite3.Connection, dict[str, Any]], dict[str, Any]]) -> AdminHandler:
    """A handler over a /v3 listing without its paging limit, oldest first."""

    def handler(account: Account, request: Request) -> dict[str, Any]:
        with account.store.tx() as db:
            return listing(db, EVERYTHING_OLDEST_FIRST)

    return handler


stored_events = _stored_rows(events.listing, "event_name")
stored_orders = _stored_rows(orders.listing, "id")
all_lists = _everything(lists.lists)
all_processes = _everything(imports.listing)


def list_members(account: Account, request: Request) -> dict[str, Any]:
    with account.store.tx() as db:
        found = lists.members(db, int(request.path_params["listId"]))
        return {"count": len(found), "members": found}


def all_companies(account: Account, request: Request) -> dict[str, Any]:
    with account.store.tx() as db:
        found = companies.everything(db)
        return {"count": len(found), "companies": found}


def smtp_log_deletions(account: Account, request: Request) -> dict[str, Any]:
    with account.store.tx() as db:
        return smtp_logs.listing(db, *_page(request))


def all_webhooks(account: Account, request: Request) -> dict[str, Any]:
    with account.store.tx() as db:
        found = [webhook.redacted() for webhook in webhooks.listing(db, sort="asc")]
    return {"count": len(found), "webhooks": found}
