"""The /v3 endpoints: one small handler per operation over the store.

A handler takes a `Call` (already authenticated, rate-limited and validated against the spec)
and returns (status, JSON body or None). Failures raise `BrevoError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.brevo import attributes as attrs
from sandbox.brevo import (
    companies,
    company_imports,
    contacts,
    crm_attributes,
    events,
    imports,
    lists,
    orders,
    smtp_events,
    smtp_logs,
    webhooks,
)
from sandbox.brevo.account import Account
from sandbox.brevo.errors import BrevoError, not_found

REMOVED_BATCH = "POST /contacts/batch was removed on 2026-10-30; use POST /contacts/import"
Reply = tuple[int, Any]


@dataclass
class Call:
    """One /v3 request as a handler sees it: the account, path parameters, query (typed by the spec)
    and body (JSON, or {field: bytes} for multipart operations)."""

    account: Account
    path: dict[str, str]
    query: dict[str, Any]
    body: Any
    # Every query parameter as sent, for those the spec cannot declare (GET /companies' filters[...]).
    raw_query: list[tuple[str, str]] = field(default_factory=list)


# ---------------------------------------------------------------- contacts


def list_contacts(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, contacts.listing(db, call.query)


def create_contact(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return contacts.create(db, call.body)


def get_contact(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, contacts.get(db, contacts.require(db, call.path["identifier"], call.query.get("identifierType")))


def update_contact(call: Call) -> Reply:
    with call.account.store.tx() as db:
        contacts.update(db, contacts.require(db, call.path["identifier"], call.query.get("identifierType")), call.body)
    return 204, None


def delete_contact(call: Call) -> Reply:
    with call.account.store.tx() as db:
        contacts.delete(db, contacts.require(db, call.path["identifier"], call.query.get("identifierType")))
    return 204, None


def import_contacts(call: Call) -> Reply:
    with call.account.store.tx() as db:
        process_id = imports.start(db, call.body, float(call.account.config()["import_delay_seconds"]))
    call.account.worker.wake.set()
    return 202, {"processId": process_id}


def removed_batch(call: Call) -> Reply:
    raise not_found(REMOVED_BATCH)


# ---------------------------------------------------------------- attributes


def list_attributes(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, {"attributes": [a.public() for a in attrs.load(db).values()]}


def create_attribute(call: Call) -> Reply:
    with call.account.store.tx() as db:
        attrs.create(db, call.path["attributeCategory"], call.path["attributeName"], call.body or {})
    return 201, None


def update_attribute(call: Call) -> Reply:
    with call.account.store.tx() as db:
        attrs.update(db, call.path["attributeCategory"], call.path["attributeName"], call.body or {})
    return 204, None


def delete_attribute(call: Call) -> Reply:
    with call.account.store.tx() as db:
        attrs.delete(db, call.path["attributeCategory"], call.path["attributeName"])
    return 204, None


# ---------------------------------------------------------------- folders and lists


def list_folders(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, lists.folders(db, call.query)


def create_folder(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 201, {"id": lists.create_folder(db, call.body)}


def get_folder(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, lists.folder_public(db, lists.require_folder(db, int(call.path["folderId"])))


def update_folder(call: Call) -> Reply:
    with call.account.store.tx() as db:
        lists.update_folder(db, int(call.path["folderId"]), call.body)
    return 204, None


def delete_folder(call: Call) -> Reply:
    with call.account.store.tx() as db:
        lists.delete_folder(db, int(call.path["folderId"]))
    return 204, None


def folder_lists(call: Call) -> Reply:
    with call.account.store.tx() as db:
        folder_id = int(call.path["folderId"])
        lists.require_folder(db, folder_id)
        return 200, lists.lists(db, call.query, folder_id=folder_id)


def list_lists(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, lists.lists(db, call.query)


def create_list(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 201, {"id": lists.create_list(db, call.body)}


def get_list(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, lists.list_public(db, lists.require_list(db, int(call.path["listId"])), detail=True)


def update_list(call: Call) -> Reply:
    with call.account.store.tx() as db:
        lists.update_list(db, int(call.path["listId"]), call.body)
    return 204, None


def delete_list(call: Call) -> Reply:
    with call.account.store.tx() as db:
        lists.delete_list(db, int(call.path["listId"]))
    return 204, None


def list_members(call: Call) -> Reply:
    with call.account.store.tx() as db:
        list_id = int(call.path["listId"])
        lists.require_list(db, list_id)
        return 200, contacts.listing(db, call.query, list_id=list_id)


def add_members(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 201, lists.add_members(db, int(call.path["listId"]), call.body)


def remove_members(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 201, lists.remove_members(db, int(call.path["listId"]), call.body)


# ---------------------------------------------------------------- companies (CRM)


def list_companies(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, companies.listing(db, call.query, companies.attribute_filters(call.query, call.raw_query))


def create_company(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, {"id": companies.create(db, call.body)}


def get_company(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, companies.get(db, companies.require(db, call.path["id"]))


def update_company(call: Call) -> Reply:
    with call.account.store.tx() as db:
        seq = companies.require(db, call.path["id"])
        companies.update(db, seq, call.body)
        return 200, companies.get(db, seq)


def delete_company(call: Call) -> Reply:
    with call.account.store.tx() as db:
        companies.delete(db, companies.require(db, call.path["id"]))
    return 204, None


def link_unlink_company(call: Call) -> Reply:
    with call.account.store.tx() as db:
        companies.link_unlink(db, companies.require(db, call.path["id"]), call.body)
    return 204, None


def import_companies(call: Call) -> Reply:
    with call.account.store.tx() as db:
        process_id = company_imports.start(db, call.body, float(call.account.config()["import_delay_seconds"]))
    call.account.worker.wake.set()
    return 200, {"processId": process_id}


def list_company_attributes(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, [attribute.public() for attribute in crm_attributes.load(db, "companies").values()]


def create_crm_attribute(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, {"id": crm_attributes.create(db, call.body)}


# ---------------------------------------------------------------- processes


def list_processes(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, imports.listing(db, call.query)


def get_process(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, imports.get(db, int(call.path["processId"]))


# ---------------------------------------------------------------- events


def create_event(call: Call) -> Reply:
    events.create(call.account.store, call.body)
    return 204, None


def create_batch_events(call: Call) -> Reply:
    return events.create_batch(call.account.store, call.body["events"])


# ---------------------------------------------------------------- transactional logs


def delete_smtp_log(call: Call) -> Reply:
    """`DELETE /smtp/log/{identifier}`: recorded either way; only an email is accepted (see smtp_logs)."""
    with call.account.store.tx() as db:
        accepted = smtp_logs.request_deletion(db, call.path["identifier"])
    if not accepted:
        raise not_found(smtp_logs.MESSAGE_ID_NOT_FOUND)
    return 204, None


def email_event_report(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, smtp_events.report(db, call.query)


# ---------------------------------------------------------------- webhooks


def list_webhooks(call: Call) -> Reply:
    with call.account.store.tx() as db:
        found = webhooks.listing(db, call.query.get("type", "transactional"), call.query.get("sort", "desc"))
    return 200, {"webhooks": [webhook.public() for webhook in found]}


def create_webhook(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 201, {"id": webhooks.create(db, call.body)}


def get_webhook(call: Call) -> Reply:
    with call.account.store.tx() as db:
        return 200, webhooks.require(db, int(call.path["webhookId"])).public()


def update_webhook(call: Call) -> Reply:
    with call.account.store.tx() as db:
        webhooks.update(db, int(call.path["webhookId"]), call.body)
    return 204, None


def delete_webhook(call: Call) -> Reply:
    with call.account.store.tx() as db:
        webhooks.delete(db, int(call.path["webhookId"]))
    return 204, None


# ---------------------------------------------------------------- eCommerce


def get_account(call: Call) -> Reply:
    """`GET /account`: who the key belongs to (a client's cheapest way to check its key)."""
    plan = call.account.config()["plan"]
    return 200, {
        "organization_id": "5a1b2c3d4e5f60718293a4b5",
        "user_id": 1,
        "enterprise": plan == "enterprise",
        "companyName": "Sandbox Account",
        "email": "owner@sandbox.example",
        "firstName": "Sandbox",
        "lastName": "Owner",
        "address": {"city": "Paris", "country": "France", "street": "1 rue du Bac", "zipCode": "75007"},
        "dateTimePreferences": {"timezone": "UTC", "timeFormat": "24", "dateFormat": "dd-mm-yyyy"},
        "marketingAutomation": {"enabled": True},
        "plan": [{"type": "free" if plan == "free" else "subscription", "creditsType": "sendLimit", "credits": 300}],
        "relay": {
            "enabled": True,
            "data": {"userName": "owner@sandbox.example", "relay": "smtp-relay.brevo.com", "port": 587},
        },
    }


def _require_ecommerce(call: Call) -> None:
    if not call.account.config()["ecommerce_active"]:
        raise orders.not_activated()


def create_order(call: Call) -> Reply:
    _require_ecommerce(call)
    orders.create(call.account.store, call.body)
    return 204, None


def create_batch_orders(call: Call) -> Reply:
    _require_ecommerce(call)
    return 202, orders.create_batch(call.account.store, call.body)


def activate_ecommerce(call: Call) -> Reply:
    call.account.configure({"ecommerce_active": True})
    return 200, None


def _require_ecommerce_for_currency(call: Call) -> None:
    """The display-currency calls answer 403 (not the order calls' 400) while eCommerce is off."""
    if not call.account.config()["ecommerce_active"]:
        raise BrevoError(403, "permission_denied", "eCommerce is not activated")


def get_currency(call: Call) -> Reply:
    _require_ecommerce_for_currency(call)
    return 200, {"code": call.account.store.account_value("display_currency", "EUR")}


def set_currency(call: Call) -> Reply:
    _require_ecommerce_for_currency(call)
    code = call.body["code"]
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise BrevoError(422, "unprocessable_entity", "Invalid ISO 4217 currency code")
    call.account.store.set_account_value("display_currency", code)
    return 200, {"code": code}
