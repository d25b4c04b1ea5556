"""Inspection routes under /_sandbox/brevo/ (no api-key, no rate limit): what the account holds.

    GET /_sandbox/brevo/stats                       counts of contacts, lists, events, orders, processes
    GET /_sandbox/brevo/contacts[?limit&offset]     contacts as GET /v3/contacts shows them (oldest first)
    GET /_sandbox/brevo/contacts/{identifier}[?identifierType=]   one contact, with its events and orders counts
    GET /_sandbox/brevo/events[?contact=ID|EMAIL&identifierType&event_name&limit&offset]
    GET /_sandbox/brevo/orders[?contact=ID|EMAIL&identifierType&id&limit&offset]
    GET /_sandbox/brevo/lists                       every list with its member count
    GET /_sandbox/brevo/lists/{listId}/members      every member (id, email, ext_id, sms)
    GET /_sandbox/brevo/processes                   every background process
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.brevo import contacts, events, imports, lists, orders
from sandbox.brevo.errors import BrevoError

if TYPE_CHECKING:
    from sandbox.brevo.app import BrevoEmulator


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _int(request: Request, name: str, default: int) -> int:
    return int(request.query_params.get(name, default))


def admin_routes(brevo: BrevoEmulator) -> list[BaseRoute]:
    store = brevo.store

    def guarded(handler):  # type: ignore[no-untyped-def]
        def endpoint(request: Request) -> Response:
            try:
                return _json(handler(request))
            except BrevoError as exc:
                return _json(exc.body(), exc.status)
            except ValueError as exc:
                return _json({"error": str(exc)}, 400)

        return endpoint

    def contact_filter(request: Request, db: Any) -> int | None:
        given = request.query_params.get("contact")
        if given is None:
            return None
        return contacts.require(db, given, request.query_params.get("identifierType"))

    def stats(request: Request) -> dict[str, Any]:
        with store.tx() as db:
            tables = ("contacts", "lists", "folders", "list_members", "attributes", "events", "orders", "order_batches", "processes")
            return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in tables}  # noqa: S608

    def all_contacts(request: Request) -> dict[str, Any]:
        with store.tx() as db:
            query = {"limit": _int(request, "limit", 1000), "offset": _int(request, "offset", 0), "sort": "asc"}
            return contacts.listing(db, query)

    def one_contact(request: Request) -> dict[str, Any]:
        with store.tx() as db:
            contact_id = contacts.require(db, request.path_params["identifier"], request.query_params.get("identifierType"))
            contact = contacts.get(db, contact_id)
            contact["eventsCount"] = db.execute("SELECT COUNT(*) FROM events WHERE contact_id=?", (contact_id,)).fetchone()[0]
            contact["ordersCount"] = db.execute("SELECT COUNT(*) FROM orders WHERE contact_id=?", (contact_id,)).fetchone()[0]
            return contact

    def stored_events(request: Request) -> dict[str, Any]:
        with store.tx() as db:
            return events.listing(
                db,
                contact_filter(request, db),
                request.query_params.get("event_name"),
                _int(request, "limit", 1000),
                _int(request, "offset", 0),
            )

    def stored_orders(request: Request) -> dict[str, Any]:
        with store.tx() as db:
            return orders.listing(
                db,
                contact_filter(request, db),
                request.query_params.get("id"),
                _int(request, "limit", 1000),
                _int(request, "offset", 0),
            )

    def all_lists(request: Request) -> dict[str, Any]:
        with store.tx() as db:
            return lists.lists(db, {"limit": -1, "offset": 0, "sort": "asc"})

    def list_members(request: Request) -> dict[str, Any]:
        with store.tx() as db:
            found = lists.members(db, int(request.path_params["listId"]))
            return {"count": len(found), "members": found}

    def all_processes(request: Request) -> dict[str, Any]:
        with store.tx() as db:
            return imports.listing(db, {"limit": -1, "offset": 0, "sort": "asc"})

    return [
        Route("/stats", guarded(stats)),
        Route("/contacts", guarded(all_contacts)),
        Route("/contacts/{identifier}", guarded(one_contact)),
        Route("/events", guarded(stored_events)),
        Route("/orders", guarded(stored_orders)),
        Route("/lists", guarded(all_lists)),
        Route("/lists/{listId:int}/members", guarded(list_members)),
        Route("/processes", guarded(all_processes)),
    ]
