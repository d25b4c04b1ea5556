"""The /v3 endpoints: one small handler per operation over the store.

A handler takes a `Call` (already authenticated, rate-limited and validated against the spec)
and returns (status, JSON body or None). Failures raise `BrevoError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.brevo import attributes as attrs
from sandbox.brevo import contacts, events, imports, lists, orders
from sandbox.brevo.errors import BrevoError, not_found

if TYPE_CHECKING:
    from sandbox.brevo.app import BrevoEmulator

REMOVED_BATCH = "POST /contacts/batch was removed on 2026-10-30; use POST /contacts/import"
Reply = tuple[int, Any]


@dataclass
class Call:
    brevo: BrevoEmulator
    path: dict[str, str]
    query: dict[str, Any]
    body: Any


@dataclass(frozen=True)
class Operation:
    handler: Callable[[Call], Reply]
    max_bytes: int | None = None  # larger bodies get 400 out_of_range before parsing
    too_large: str = ""
    validate: bool = True


# ---------------------------------------------------------------- contacts


def list_contacts(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        return 200, contacts.listing(db, call.query)


def create_contact(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        return contacts.create(db, call.body)


def get_contact(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        return 200, contacts.get(db, contacts.require(db, call.path["identifier"], call.query.get("identifierType")))


def update_contact(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        contacts.update(db, contacts.require(db, call.path["identifier"], call.query.get("identifierType")), call.body)
    return 204, None


def delete_contact(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        contacts.delete(db, contacts.require(db, call.path["identifier"], call.query.get("identifierType")))
    return 204, None


def import_contacts(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        process_id = imports.start(db, call.body, float(call.brevo.config()["import_delay_seconds"]))
    call.brevo.worker.wake.set()
    return 202, {"processId": process_id}


def removed_batch(call: Call) -> Reply:
    raise not_found(REMOVED_BATCH)


# ---------------------------------------------------------------- attributes


def list_attributes(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        return 200, {"attributes": [a.public() for a in attrs.load(db).values()]}


def create_attribute(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        attrs.create(db, call.path["attributeCategory"], call.path["attributeName"], call.body or {})
    return 201, None


def update_attribute(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        attrs.update(db, call.path["attributeCategory"], call.path["attributeName"], call.body or {})
    return 204, None


def delete_attribute(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        attrs.delete(db, call.path["attributeCategory"], call.path["attributeName"])
    return 204, None


# ---------------------------------------------------------------- folders and lists


def list_folders(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        return 200, lists.folders(db, call.query)


def create_folder(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        return 201, {"id": lists.create_folder(db, call.body)}


def get_folder(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        return 200, lists.folder_public(db, lists.require_folder(db, int(call.path["folderId"])))


def update_folder(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        lists.update_folder(db, int(call.path["folderId"]), call.body)
    return 204, None


def delete_folder(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        lists.delete_folder(db, int(call.path["folderId"]))
    return 204, None


def folder_lists(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        folder_id = int(call.path["folderId"])
        lists.require_folder(db, folder_id)
        return 200, lists.lists(db, call.query, folder_id=folder_id)


def list_lists(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        return 200, lists.lists(db, call.query)


def create_list(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        return 201, {"id": lists.create_list(db, call.body)}


def get_list(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        return 200, lists.list_public(db, lists.require_list(db, int(call.path["listId"])), detail=True)


def update_list(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        lists.update_list(db, int(call.path["listId"]), call.body)
    return 204, None


def delete_list(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        lists.delete_list(db, int(call.path["listId"]))
    return 204, None


def list_members(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        list_id = int(call.path["listId"])
        lists.require_list(db, list_id)
        return 200, contacts.listing(db, call.query, list_id=list_id)


def add_members(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        return 201, lists.add_members(db, int(call.path["listId"]), call.body)


def remove_members(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        return 201, lists.remove_members(db, int(call.path["listId"]), call.body)


# ---------------------------------------------------------------- processes


def list_processes(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        return 200, imports.listing(db, call.query)


def get_process(call: Call) -> Reply:
    with call.brevo.store.tx() as db:
        return 200, imports.get(db, int(call.path["processId"]))


# ---------------------------------------------------------------- events


def create_event(call: Call) -> Reply:
    events.create(call.brevo.store, call.body)
    return 204, None


def create_batch_events(call: Call) -> Reply:
    return events.create_batch(call.brevo.store, call.body["events"])


# ---------------------------------------------------------------- eCommerce


def _require_ecommerce(call: Call) -> None:
    if not call.brevo.config()["ecommerce_active"]:
        raise orders.not_activated()


def create_order(call: Call) -> Reply:
    _require_ecommerce(call)
    orders.create(call.brevo.store, call.body)
    return 204, None


def create_batch_orders(call: Call) -> Reply:
    _require_ecommerce(call)
    return 202, orders.create_batch(call.brevo.store, call.body)


def activate_ecommerce(call: Call) -> Reply:
    call.brevo.configure({"ecommerce_active": True})
    return 200, None


def get_currency(call: Call) -> Reply:
    if not call.brevo.config()["ecommerce_active"]:
        raise BrevoError(403, "permission_denied", "eCommerce is not activated")
    return 200, {"code": call.brevo.store.account_value("display_currency", "EUR")}


def set_currency(call: Call) -> Reply:
    if not call.brevo.config()["ecommerce_active"]:
        raise BrevoError(403, "permission_denied", "eCommerce is not activated")
    code = call.body["code"]
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise BrevoError(422, "unprocessable_entity", "Invalid ISO 4217 currency code")
    call.brevo.store.set_account_value("display_currency", code)
    return 200, {"code": code}


# ---------------------------------------------------------------- the table

MB = 1024 * 1024
# Path (relative to /v3, Starlette syntax; specific paths before /contacts/{identifier}) -> method -> operation.
OPERATIONS: dict[str, dict[str, Operation]] = {
    "/contacts": {"GET": Operation(list_contacts), "POST": Operation(create_contact)},
    "/contacts/import": {
        # 10 MB of jsonBody or fileBody, plus room for the other fields and JSON escaping.
        "POST": Operation(import_contacts, max_bytes=12 * MB, too_large="jsonBody/fileBody is larger than the 10 MB limit")
    },
    "/contacts/batch": {"POST": Operation(removed_batch, validate=False)},
    "/contacts/attributes": {"GET": Operation(list_attributes)},
    "/contacts/attributes/{attributeCategory}/{attributeName}": {
        "POST": Operation(create_attribute),
        "PUT": Operation(update_attribute),
        "DELETE": Operation(delete_attribute),
    },
    "/contacts/folders": {"GET": Operation(list_folders), "POST": Operation(create_folder)},
    "/contacts/folders/{folderId}": {
        "GET": Operation(get_folder),
        "PUT": Operation(update_folder),
        "DELETE": Operation(delete_folder),
    },
    "/contacts/folders/{folderId}/lists": {"GET": Operation(folder_lists)},
    "/contacts/lists": {"GET": Operation(list_lists), "POST": Operation(create_list)},
    "/contacts/lists/{listId}": {
        "GET": Operation(get_list),
        "PUT": Operation(update_list),
        "DELETE": Operation(delete_list),
    },
    "/contacts/lists/{listId}/contacts": {"GET": Operation(list_members)},
    "/contacts/lists/{listId}/contacts/add": {"POST": Operation(add_members)},
    "/contacts/lists/{listId}/contacts/remove": {"POST": Operation(remove_members)},
    "/contacts/{identifier}": {
        "GET": Operation(get_contact),
        "PUT": Operation(update_contact),
        "DELETE": Operation(delete_contact),
    },
    "/processes": {"GET": Operation(list_processes)},
    "/processes/{processId}": {"GET": Operation(get_process)},
    "/events": {"POST": Operation(create_event)},
    "/events/batch": {
        "POST": Operation(
            create_batch_events, max_bytes=events.MAX_BATCH_BYTES, too_large="A batch is limited to 512 KB"
        )
    },
    "/orders/status": {"POST": Operation(create_order)},
    "/orders/status/batch": {
        "POST": Operation(create_batch_orders, max_bytes=orders.MAX_BATCH_BYTES, too_large="A batch is limited to 5 MB")
    },
    "/ecommerce/activate": {"POST": Operation(activate_ecommerce)},
    "/ecommerce/config/displayCurrency": {"GET": Operation(get_currency), "POST": Operation(set_currency)},
}
