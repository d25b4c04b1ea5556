"""Every Brevo endpoint, as tables: path -> method -> what serves it.

`OPERATIONS` are the /v3 endpoints (paths relative to /v3, Starlette syntax, specific paths
before `/contacts/{identifier}`), served through `pipeline`; `ADMIN_OPERATIONS` are the
inspection routes under /_sandbox/brevo/ (no api-key, no rate limit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sandbox.brevo import admin, api, events, orders, simulation_admin

MB = 1024 * 1024


@dataclass(frozen=True)
class Operation:
    """A /v3 handler and what the pipeline checks before calling it."""

    handler: Callable[[api.Call], api.Reply]
    max_bytes: int | None = None  # larger bodies get 400 out_of_range before parsing
    too_large: str = ""
    validate: bool = True
    multipart: bool = False  # the body is multipart/form-data: the handler gets {field: bytes}


OPERATIONS: dict[str, dict[str, Operation]] = {
    "/account": {"GET": Operation(api.get_account)},
    "/contacts": {"GET": Operation(api.list_contacts), "POST": Operation(api.create_contact)},
    "/contacts/import": {
        # 10 MB of jsonBody or fileBody, plus room for the other fields and JSON escaping.
        "POST": Operation(
            api.import_contacts, max_bytes=12 * MB, too_large="jsonBody/fileBody is larger than the 10 MB limit"
        )
    },
    "/contacts/batch": {"POST": Operation(api.removed_batch, validate=False)},
    "/contacts/attributes": {"GET": Operation(api.list_attributes)},
    "/contacts/attributes/{attributeCategory}/{attributeName}": {
        "POST": Operation(api.create_attribute),
        "PUT": Operation(api.update_attribute),
        "DELETE": Operation(api.delete_attribute),
    },
    "/contacts/folders": {"GET": Operation(api.list_folders), "POST": Operation(api.create_folder)},
    "/contacts/folders/{folderId}": {
        "GET": Operation(api.get_folder),
        "PUT": Operation(api.update_folder),
        "DELETE": Operation(api.delete_folder),
    },
    "/contacts/folders/{folderId}/lists": {"GET": Operation(api.folder_lists)},
    "/contacts/lists": {"GET": Operation(api.list_lists), "POST": Operation(api.create_list)},
    "/contacts/lists/{listId}": {
        "GET": Operation(api.get_list),
        "PUT": Operation(api.update_list),
        "DELETE": Operation(api.delete_list),
    },
    "/contacts/lists/{listId}/contacts": {"GET": Operation(api.list_members)},
    "/contacts/lists/{listId}/contacts/add": {"POST": Operation(api.add_members)},
    "/contacts/lists/{listId}/contacts/remove": {"POST": Operation(api.remove_members)},
    "/contacts/{identifier}": {
        "GET": Operation(api.get_contact),
        "PUT": Operation(api.update_contact),
        "DELETE": Operation(api.delete_contact),
    },
    "/companies": {"GET": Operation(api.list_companies), "POST": Operation(api.create_company)},
    "/companies/import": {"POST": Operation(api.import_companies, multipart=True)},
    "/companies/link-unlink/{id}": {"PATCH": Operation(api.link_unlink_company)},
    "/companies/{id}": {
        "GET": Operation(api.get_company),
        "PATCH": Operation(api.update_company),
        "DELETE": Operation(api.delete_company),
    },
    "/crm/attributes": {"POST": Operation(api.create_crm_attribute)},
    "/crm/attributes/companies": {"GET": Operation(api.list_company_attributes)},
    "/processes": {"GET": Operation(api.list_processes)},
    "/processes/{processId}": {"GET": Operation(api.get_process)},
    "/events": {"POST": Operation(api.create_event)},
    "/events/batch": {
        "POST": Operation(
            api.create_batch_events, max_bytes=events.MAX_BATCH_BYTES, too_large="A batch is limited to 512 KB"
        )
    },
    "/orders/status": {"POST": Operation(api.create_order)},
    "/orders/status/batch": {
        "POST": Operation(
            api.create_batch_orders, max_bytes=orders.MAX_BATCH_BYTES, too_large="A batch is limited to 5 MB"
        )
    },
    "/smtp/log/{identifier}": {"DELETE": Operation(api.delete_smtp_log)},
    "/smtp/statistics/events": {"GET": Operation(api.email_event_report)},
    "/webhooks": {"GET": Operation(api.list_webhooks), "POST": Operation(api.create_webhook)},
    "/webhooks/{webhookId}": {
        "GET": Operation(api.get_webhook),
        "PUT": Operation(api.update_webhook),
        "DELETE": Operation(api.delete_webhook),
    },
    "/ecommerce/activate": {"POST": Operation(api.activate_ecommerce)},
    "/ecommerce/config/displayCurrency": {"GET": Operation(api.get_currency), "POST": Operation(api.set_currency)},
}


ADMIN_OPERATIONS: dict[str, dict[str, admin.AdminHandler]] = {
    # counts of contacts, lists, folders, list members, attributes, events, orders, order batches, processes,
    # transactional log deletion requests, companies, company-contact links, CRM attributes (custom)
    "/stats": {"GET": admin.stats},
    # ?limit&offset: contacts as GET /v3/contacts shows them, oldest first
    "/contacts": {"GET": admin.all_contacts},
    # ?identifierType: one contact, with its eventsCount and ordersCount
    "/contacts/{identifier}": {"GET": admin.one_contact},
    # ?contact=ID|EMAIL&identifierType&event_name&limit&offset
    "/events": {"GET": admin.stored_events},
    # ?contact=ID|EMAIL&identifierType&id&limit&offset
    "/orders": {"GET": admin.stored_orders},
    # every list with its counts
    "/lists": {"GET": admin.all_lists},
    # every member: id, email, ext_id, sms
    "/lists/{listId:int}/members": {"GET": admin.list_members},
    # every background process
    "/processes": {"GET": admin.all_processes},
    # every company as GET /v3/companies shows it (attributes, linked contacts and deals), oldest first
    "/companies": {"GET": admin.all_companies},
    # ?limit&offset: DELETE /v3/smtp/log/{identifier} requests, oldest first (identifier, kind, status, requested_at)
    "/smtp-log-deletions": {"GET": admin.smtp_log_deletions},
    # every webhook of every type, oldest first, secrets redacted
    "/webhooks": {"GET": admin.all_webhooks},
}

# Admin routes that send (async handlers, see simulation_admin.py).
SIMULATION_ADMIN_OPERATIONS: dict[str, dict[str, simulation_admin.Handler]] = {
    "/simulate/campaign": {"POST": simulation_admin.simulate_campaign},
    "/simulate/transactional": {"POST": simulation_admin.simulate_transactional},
    "/webhook-deliveries": {"GET": simulation_admin.deliveries, "DELETE": simulation_admin.clear_deliveries},
}
