"""Every Brevo endpoint the target calls, one method each, with typed results.

A call that fails for good raises `BrevoError`; no other module builds a Brevo URL or reads a Brevo
error body. Bulk calls that Brevo refuses for what they carry raise with `refuses_items` true (and
`item_errors` where Brevo names the refused items), so the caller can split the request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from target_brevo.brevo import limits
from target_brevo.brevo.errors import BrevoError, describe, duplicate_identifiers, error_code, error_message
from target_brevo.brevo.http import BrevoHttp, Response

IMPORT_ENVELOPE_BYTES = 256  # bytes of an import body around its jsonBody array
EVENTS_ENVELOPE_BYTES = len(b'{"events":}')
ORDERS_ENVELOPE_BYTES = len(b'{"orders":,"historical":false}')
_NOTHING_TO_DO = ("already in list", "already removed", "does not exist")
#: Contact attributes holding a phone number (identifiers, like EMAIL and EXT_ID).
PHONE_ATTRIBUTES = frozenset({"SMS", "WHATSAPP", "LANDLINE_NUMBER"})


class ContactIdentity(NamedTuple):
    """How Brevo knows a contact: its email (lower case) and/or its ext_id."""

    email: str | None
    ext_id: str | None


class UpsertedContact(NamedTuple):
    """What `POST /contacts` with `updateEnabled` did: created a contact (201, its id) or updated one (204)."""

    created: bool
    contact_id: int | None


#: `identifierType` of `/contacts/{identifier}` for each kind of contact identity.
IDENTIFIER_TYPES = {"email": "email_id", "ext_id": "ext_id", "contact_id": "contact_id"}


class ListChange(NamedTuple):
    """The identifiers a list add/remove applied, and those it did not (unknown, or nothing to do)."""

    success: list[Any]
    failure: list[Any]


@dataclass(frozen=True)
class ImportProcess:
    """A `/processes` entry: an import Brevo applies asynchronously."""

    id: int
    status: str | None
    error: str | None
    counters: dict[str, int]
    created_at: float | None
    completed_at: float | None

    @classmethod
    def parse(cls, body: dict[str, Any]) -> ImportProcess:
        counters = ((body.get("info") or {}).get("import")) or {}
        return cls(
            id=int(body["id"]),
            status=body.get("status"),
            error=body.get("error"),
            counters={str(k): int(v) for k, v in counters.items() if isinstance(v, int | float)},
            created_at=_moment(body.get("created_at")),
            completed_at=_moment(body.get("completed_at")),
        )


class BrevoApi:
    """The Brevo endpoints of target-brevo over one `BrevoHttp` client."""

    def __init__(self, http: BrevoHttp) -> None:
        self.http = http

    def account_name(self) -> str:
        """The company the api_key belongs to: one call that proves the key (raises `BrevoAuthError` on
        401/403), once per run (it counts in Brevo's 100-requests-per-hour bucket). Its `Date` header also
        sets the clock."""
        body = self._ok(self.http.call("GET", "/account"), "GET /account")
        return str(body.get("companyName") or body.get("email") or "?")

    def now(self) -> float:
        """Brevo's clock (epoch seconds): what is "live" is measured against it, so a sandbox with a moved
        clock and the real service behave alike. Read from the `Date` of Brevo's answers (the start-up
        key check is the first)."""
        if not self.http.clock_known:
            self.account_name()
        return self.http.now()

    # -- contact attributes -------------------------------------------------------------------
    def attribute_types(self) -> dict[str, str]:
        """Brevo type of every contact attribute, by upper-case name."""
        body = self._ok(self.http.call("GET", "/contacts/attributes"), "GET /contacts/attributes")
        return {
            str(a.get("name", "")).upper(): str(a.get("type") or "text") for a in (body or {}).get("attributes", [])
        }

    def create_attribute(self, name: str, attribute_type: str) -> None:
        """Create a `normal` contact attribute; one that exists already is fine."""
        response = self.http.call(
            "POST",
            "/contacts/attributes/{attributeCategory}/{attributeName}",
            path_params={"attributeCategory": "normal", "attributeName": name},
            json={"type": attribute_type},
        )
        if error_code(response.body) != "duplicate_parameter":
            self._ok(response, f"creating contact attribute {name} ({attribute_type})")

    # -- folders and lists --------------------------------------------------------------------
    def folders(self) -> Iterator[dict[str, Any]]:
        return self._pages("/contacts/folders", "folders", limits.FOLDERS_PAGE)

    def create_folder(self, name: str) -> int:
        body = self._ok(self.http.call("POST", "/contacts/folders", json={"name": name}), f"creating folder {name!r}")
        return int(body["id"])

    def lists(self) -> Iterator[dict[str, Any]]:
        return self._pages("/contacts/lists", "lists", limits.LISTS_PAGE)

    def create_list(self, name: str, folder_id: int | None) -> int:
        response = self.http.call("POST", "/contacts/lists", json={"name": name, "folderId": folder_id})
        return int(self._ok(response, f"creating list {name!r}")["id"])

    def list_members(self, list_id: int) -> Iterator[ContactIdentity]:
        """Every contact currently in the list, oldest first (contacts created meanwhile land on later
        pages instead of shifting earlier ones)."""
        params = {"listIds": [list_id], "sort": "asc"}
        for contact in self._pages("/contacts", "contacts", limits.CONTACTS_PAGE, params):
            yield _identity_of(contact)

    def add_to_list(self, list_id: int, id_type: str, values: list[str]) -> ListChange:
        """Add up to 150 contacts by `emails` or `extIds`."""
        return self._change_list("add", list_id, id_type, values)

    def remove_from_list(self, list_id: int, id_type: str, values: list[str]) -> ListChange:
        """Remove up to 150 contacts by `emails` or `extIds`."""
        return self._change_list("remove", list_id, id_type, values)

    def _change_list(self, action: str, list_id: int, id_type: str, values: list[str]) -> ListChange:
        template = f"/contacts/lists/{{listId}}/contacts/{action}"
        response = self.http.call("POST", template, path_params={"listId": list_id}, json={id_type: values})
        if response.ok:
            body = response.body or {}
            result = body.get("contacts") if isinstance(body.get("contacts"), dict) else body
            return ListChange(list(result.get("success") or []), list(result.get("failure") or []))
        if response.status == 400 and any(text in error_message(response.body).lower() for text in _NOTHING_TO_DO):
            return ListChange([], list(values))
        raise self._error(response, f"POST /contacts/lists/{list_id}/contacts/{action}")

    # -- one contact ---------------------------------------------------------------------------
    @staticmethod
    def contact_body(row: dict[str, Any], list_ids: list[int]) -> dict[str, Any]:
        """The `POST /contacts` body that upserts an import row (`{email?, attributes}`, the ext_id as the
        `EXT_ID` attribute) into `list_ids`, as the import would."""
        attributes = dict(row.get("attributes") or {})
        ext_id = attributes.pop("EXT_ID", None)
        body: dict[str, Any] = {}
        if row.get("email"):
            body["email"] = row["email"]
        if ext_id not in (None, ""):
            body["ext_id"] = str(ext_id)
        if attributes:
            body["attributes"] = attributes
        return {**body, "listIds": list_ids}

    def upsert_contact(
        self, row: dict[str, Any], list_ids: list[int], *, update: bool = True
    ) -> UpsertedContact | None:
        """Create or update one contact (matched by email, else ext_id, else phone), synchronously; with
        `update` false an existing contact is left untouched and None returned (Brevo's 400 "Contact already
        exist").

        A refusal raises with `refused_values`: the identifiers Brevo says belong to another contact
        (`EMAIL`, `EXT_ID`, `SMS`, ...), or the phone attributes sent when it calls a phone number invalid."""
        body = {**self.contact_body(row, list_ids), "updateEnabled": update}
        response = self.http.call("POST", "/contacts", json=body)
        if not response.ok:
            refused = duplicate_identifiers(response.body)
            if not update and _already_exists(response, row, refused):
                return None
            if not refused and "phone" in error_message(response.body).lower():
                refused = tuple(sorted(PHONE_ATTRIBUTES & set(body.get("attributes") or {})))
            raise self._error(response, "POST /contacts", refused_values=refused)
        contact_id = (response.body or {}).get("id")
        return UpsertedContact(response.status == 201, int(contact_id) if contact_id is not None else None)

    def update_contact(self, identity: ContactIdentity, changes: dict[str, Any]) -> bool:
        """`PUT /contacts/{identifier}` (by email, else ext_id): True when Brevo updated it, False when it
        has no such contact (404: a PUT never creates one). `changes` is a PUT body (`attributes`, `ext_id`,
        `listIds`, `emailBlacklisted`, ...). Errors name the call, never the contact."""
        kind, value = _identifier(identity)
        response = self.http.call(
            "PUT",
            "/contacts/{identifier}",
            path_params={"identifier": value},
            params={"identifierType": IDENTIFIER_TYPES[kind]},
            json=changes,
        )
        if response.status == 404:
            return False
        if not response.ok:
            raise self._private_error(response, f"PUT /contacts/{{{kind}}}")
        return True

    def delete_contact(self, kind: str, value: str) -> bool:
        """`DELETE /contacts/{identifier}` by `kind` (email, ext_id, contact_id): True when deleted, False when
        Brevo has no such contact. Errors name the call, never the contact."""
        response = self.http.call(
            "DELETE",
            "/contacts/{identifier}",
            path_params={"identifier": value},
            params={"identifierType": IDENTIFIER_TYPES[kind]},
        )
        if response.status == 404:
            return False
        if not response.ok:
            raise self._private_error(response, f"DELETE /contacts/{{{kind}}}")
        return True

    def delete_transactional_logs(self, email: str) -> None:
        """`DELETE /smtp/log/{email}`: Brevo erases the address's transactional logs asynchronously (24-48 h)."""
        response = self.http.call("DELETE", "/smtp/log/{identifier}", path_params={"identifier": email})
        if not response.ok and response.status != 404:
            raise self._private_error(response, "DELETE /smtp/log/{email}")

    def contacts_with(self, attribute: str, value: str) -> list[ContactIdentity]:
        """Contacts whose `attribute` equals `value` (`filter=equals(...)`), at most one page."""
        params = {"filter": f'equals({attribute},"{value}")', "limit": limits.CONTACTS_PAGE}
        body = self._ok(self.http.call("GET", "/contacts", params=params), f"GET /contacts?filter={attribute}")
        return [_identity_of(contact) for contact in body.get("contacts") or []]

    def contact_count(self) -> int:
        """How many contacts the account has (one call)."""
        body = self._ok(self.http.call("GET", "/contacts", params={"limit": 1}), "GET /contacts?limit=1")
        return int(body.get("count") or 0)

    def all_contacts(self) -> Iterator[ContactIdentity]:
        """Every contact of the account (1,000 per call), oldest first."""
        for contact in self._pages("/contacts", "contacts", limits.CONTACTS_PAGE, {"sort": "asc"}):
            yield _identity_of(contact)

    # -- contact import and its processes -----------------------------------------------------
    @staticmethod
    def import_body(rows: list[bytes], list_ids: list[int], *, update: bool = True) -> bytes:
        """The `/contacts/import` body for rows already encoded as JSON."""
        return (
            b'{"jsonBody":['
            + b",".join(rows)
            + b'],"listIds":'
            + orjson.dumps(list_ids)
            + b',"updateExistingContacts":'
            + (b"true" if update else b"false")
            + b',"emptyContactsAttributes":false}'
        )

    def import_contacts(self, rows: list[bytes], list_ids: list[int], *, update: bool = True) -> int | None:
        """Upsert contacts (and put them in `list_ids`); with `update` false, existing contacts keep their
        attributes. Returns the import's process id."""
        response = self.http.call("POST", "/contacts/import", body=self.import_body(rows, list_ids, update=update))
        process_id = self._ok(response, "POST /contacts/import").get("processId")
        return int(process_id) if process_id is not None else None

    def recent_processes(self, offset: int) -> list[ImportProcess]:
        """One page of processes, newest first; an unreadable page is empty."""
        params = {"limit": limits.PROCESSES_PAGE, "offset": offset, "sort": "desc"}
        response = self.http.call("GET", "/processes", params=params)
        if not response.ok:
            return []
        page = (response.body or {}).get("processes") or []
        return [ImportProcess.parse(p) for p in page if isinstance(p, dict) and isinstance(p.get("id"), int)]

    def process(self, process_id: int) -> ImportProcess:
        response = self.http.call("GET", "/processes/{processId}", path_params={"processId": process_id})
        return ImportProcess.parse({"id": process_id, **self._ok(response, f"GET /processes/{process_id}")})

    # -- companies (CRM; every call in Brevo's 100-requests-per-hour bucket) --------------------
    def company_attributes(self) -> dict[str, str]:
        """Company attributes: internal name -> type."""
        body = self._ok(self.http.call("GET", "/crm/attributes/companies"), "GET /crm/attributes/companies")
        items = body if isinstance(body, list) else []
        return {str(a.get("internalName")): str(a.get("attributeTypeName") or "text") for a in items}

    def create_company_attribute(self, label: str, attribute_type: str) -> None:
        """Create a company attribute (Brevo derives its internal name from the label); an existing one is fine."""
        response = self.http.call(
            "POST", "/crm/attributes", json={"label": label, "attributeType": attribute_type, "objectType": "companies"}
        )
        if error_code(response.body) != "duplicate_parameter":
            self._ok(response, f"creating company attribute {label!r}")

    def import_companies(self, csv_text: str, *, link: bool) -> int:
        """Create and update companies from CSV (`company_id` updates, `associated_contact` links contacts by
        email or id, never unlinking); returns the import's process id."""
        mapping = {"link_entities": link, "unlink_entities": False, "update_existing_records": True,
                   "unset_empty_attributes": False}  # fmt: skip
        files = {
            "file": ("companies.csv", csv_text.encode(), "text/csv"),
            "mapping": (None, orjson.dumps(mapping).decode(), "application/json"),
        }
        response = self.http.call("POST", "/companies/import", files=files)
        return int(self._ok(response, "POST /companies/import")["processId"])

    def companies_created_since(self, moment: float) -> Iterator[dict[str, Any]]:
        """Companies created at or after `moment` (epoch seconds, Brevo's clock), oldest first."""
        since = dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        page = 1
        while True:
            params = {"createdSince": since, "sort": "asc", "page": page, "limit": limits.COMPANIES_PAGE}
            items = self._ok(self.http.call("GET", "/companies", params=params), "GET /companies").get("items") or []
            yield from items
            if len(items) < limits.COMPANIES_PAGE:
                return
            page += 1

    def contact_id(self, kind: str, value: str) -> int | None:
        """A contact's Brevo id by `kind` (email, ext_id); None when Brevo has no such contact."""
        params = {"identifierType": IDENTIFIER_TYPES[kind]}
        response = self.http.call("GET", "/contacts/{identifier}", path_params={"identifier": value}, params=params)
        if response.status == 404:
            return None
        if not response.ok:
            raise self._private_error(response, f"GET /contacts/{{{kind}}}")
        return int((response.body or {})["id"])

    # -- events and orders --------------------------------------------------------------------
    def send_events(self, events: list[dict[str, Any]]) -> dict[int, str]:
        """Send up to 200 events; returns the 0-based indexes Brevo refused (a 207) with its reasons.

        A 400 raises with the refused indexes in `item_errors` (empty when Brevo named none)."""
        response = self.http.call("POST", "/events/batch", json={"events": events})
        failed = {i: m for i, m in _failed_indexes(response.body).items() if 0 <= i < len(events)}
        if not response.ok:
            raise self._error(response, "POST /events/batch", item_errors=failed)
        return failed

    def send_orders(self, orders: list[dict[str, Any]], *, historical: bool) -> None:
        """Upsert up to 1000 orders by id; `historical` ones fire no order automation."""
        response = self.http.call("POST", "/orders/status/batch", json={"orders": orders, "historical": historical})
        self._order_sent(response, "POST /orders/status/batch")

    def send_live_order(self, order: dict[str, Any]) -> None:
        """Upsert one order by id, live: the single-order endpoint has no `historical` flag, and Brevo's order
        automations fire on what it receives (a historical order goes by `send_orders`)."""
        self._order_sent(self.http.call("POST", "/orders/status", json=order), "POST /orders/status")

    def _order_sent(self, response: Response, label: str) -> None:
        if response.ok:
            return
        if error_code(response.body) == "permission_denied":
            label += " (activate eCommerce in Brevo)"
        raise self._error(response, label)

    # -- plumbing -----------------------------------------------------------------------------
    def _pages(
        self, template: str, key: str, limit: int, params: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            response = self.http.call("GET", template, params={**(params or {}), "limit": limit, "offset": offset})
            body = self._ok(response, f"GET {template}")
            items = body.get(key) or []
            yield from items
            offset += len(items)
            count = body.get("count")
            if len(items) < limit or (isinstance(count, int) and offset >= count):
                return

    def _ok(self, response: Response, label: str) -> Any:
        """The body of a 2xx answer (an object, `{}` when empty); otherwise raise."""
        if not response.ok:
            raise self._error(response, label)
        return response.body if response.body is not None else {}

    def _private_error(self, response: Response, label: str) -> BrevoError:
        """An error about one person's contact: Brevo's code and status only, since its message may quote the
        email or ext_id."""
        code = error_code(response.body) or "error"
        return BrevoError(f"{label}: {response.status} {code}", status=response.status, code=code, reason=code)

    def _error(
        self,
        response: Response,
        label: str,
        item_errors: dict[int, str] | None = None,
        refused_values: tuple[str, ...] = (),
    ) -> BrevoError:
        return BrevoError(
            self.http.redact(describe(label, response.status, response.body)),
            status=response.status,
            code=error_code(response.body),
            reason=self.http.redact(error_message(response.body)),
            item_errors=item_errors,
            refused_values=refused_values,
        )


def _identity_of(contact: dict[str, Any]) -> ContactIdentity:
    """A `GET /contacts` entry's email and ext_id (a phone-only contact's made-up email is no identity)."""
    email = contact.get("email")
    if not isinstance(email, str) or email.endswith("@mailin-sms.com"):
        email = None
    ext_id = contact.get("ext_id") or (contact.get("attributes") or {}).get("EXT_ID")
    return ContactIdentity(email.lower() if email else None, str(ext_id) if ext_id not in (None, "") else None)


def _identifier(identity: ContactIdentity) -> tuple[str, str]:
    if identity.email:
        return "email", identity.email
    if identity.ext_id:
        return "ext_id", identity.ext_id
    raise ValueError("a contact identity without email or ext_id")


def _already_exists(response: Response, row: dict[str, Any], refused: tuple[str, ...]) -> bool:
    """Whether a create was refused because the contact exists: Brevo names the row's own identifier (its
    email, else its ext_id) as a duplicate, or says so ("Contact already exist", "... is already associated
    with another Contact"), as `duplicate_parameter` or, in newer answers, `invalid_parameter`."""
    if error_code(response.body) not in ("duplicate_parameter", "invalid_parameter"):  # the newer spelling
        return False
    if not refused:
        message = error_message(response.body).lower()
        return "exist" in message or "already associated" in message
    return ("EMAIL" if row.get("email") else "EXT_ID") in refused


def _failed_indexes(body: Any) -> dict[int, str]:
    """0-based index -> Brevo's message, from a 207/400 `errors: [{eventIndex: [...], message}]` body."""
    failed: dict[int, str] = {}
    if not isinstance(body, dict):
        return failed
    for error in body.get("errors") or []:
        if not isinstance(error, dict):
            continue
        indexes = error.get("eventIndex")
        if isinstance(indexes, int):
            indexes = [indexes]
        for index in indexes or []:
            if isinstance(index, int):
                failed[index] = str(error.get("message") or "rejected")
    return failed


def _moment(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None
