"""Brevo folders, lists and list membership calls (reads paged, writes 150 contacts per call)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from target_brevo.client import BrevoError

if TYPE_CHECKING:
    from target_brevo.runtime import Runtime
    from target_brevo.settings import ListTarget

LOGGER = logging.getLogger("target_brevo.lists")
LIST_PAGE = 50
MEMBER_PAGE = 1000  # GET /contacts pages hold 1000 (the list's own contacts endpoint only 500)
_NOTHING_TO_DO = ("already in list", "already removed", "does not exist")


class ListRegistry:
    """Resolves cohorts to Brevo list ids, creating folders and lists when the settings allow it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._folder_id: int | None = None
        self._lists_by_name: dict[str, list[dict[str, Any]]] | None = None
        self._contacts_list: int | None = None
        self._dry_ids = 0

    def _paged(self, template: str, key: str, limit: int, params: dict[str, Any] | None = None,
               **path_params: Any) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            response = self.runtime.client.call("GET", template, path_params=path_params or None,
                                                params={**(params or {}), "limit": limit, "offset": offset})
            if not response.ok:
                raise BrevoError(f"GET {template}: {response.status} {response.error_message}",
                                 status=response.status, code=response.error_code)
            items = (response.body or {}).get(key) or []
            yield from items
            offset += len(items)
            count = (response.body or {}).get("count")
            if len(items) < limit or (isinstance(count, int) and offset >= count):
                return

    def folder_id(self) -> int | None:
        if self._folder_id is not None:
            return self._folder_id
        name = self.runtime.settings.lists_folder
        for folder in self._paged("/contacts/folders", "folders", LIST_PAGE):
            if folder.get("name") == name:
                self._folder_id = int(folder["id"])
                return self._folder_id
        if self.runtime.settings.dry_run:
            LOGGER.info("Dry run: would create list folder %r", name)
            return None
        response = self.runtime.client.call("POST", "/contacts/folders", json={"name": name})
        if not response.ok:
            raise BrevoError(f"creating folder {name!r}: {response.status} {response.error_message}", status=response.status)
        self._folder_id = int(response.body["id"])
        self.runtime.report.count("lists", "folders_created")
        LOGGER.info("Created Brevo folder %r (id %s)", name, self._folder_id)
        return self._folder_id

    def _by_name(self) -> dict[str, list[dict[str, Any]]]:
        if self._lists_by_name is None:
            self._lists_by_name = {}
            for item in self._paged("/contacts/lists", "lists", LIST_PAGE):
                self._lists_by_name.setdefault(str(item.get("name")), []).append(item)
        return self._lists_by_name

    def find_or_create(self, name: str, *, create: bool) -> int | None:
        """Id of the list called `name` (preferring one in the target's folder); None when absent and not created.

        In a dry run a list that would be created gets a negative placeholder id.
        """
        candidates = self._by_name().get(name) or []
        if candidates:
            folder = self._folder_id
            preferred = [c for c in candidates if folder is not None and c.get("folderId") == folder]
            return int((preferred or candidates)[0]["id"])
        if not create:
            return None
        folder_id = self.folder_id()
        if self.runtime.settings.dry_run:
            self._dry_ids -= 1
            LOGGER.info("Dry run: would create list %r", name)
            self.runtime.report.count("lists", "would_create")
            self._by_name()[name] = [{"id": self._dry_ids, "name": name, "folderId": folder_id}]
            return self._dry_ids
        response = self.runtime.client.call("POST", "/contacts/lists", json={"name": name, "folderId": folder_id})
        if not response.ok:
            raise BrevoError(f"creating list {name!r}: {response.status} {response.error_message}", status=response.status)
        list_id = int(response.body["id"])
        self._by_name()[name] = [{"id": list_id, "name": name, "folderId": folder_id}]
        self.runtime.report.count("lists", "created")
        LOGGER.info("Created Brevo list %r (id %s) in folder %r", name, list_id, self.runtime.settings.lists_folder)
        return list_id

    def resolve(self, target: ListTarget | None, fallback_name: str | None) -> int | None:
        settings = self.runtime.settings
        if target is not None and target.list_id is not None:
            return target.list_id
        name = (target.list_name if target is not None else None) or fallback_name
        if not name:
            return None
        return self.find_or_create(name, create=settings.create_missing_lists)

    def contacts_list_id(self) -> int:
        """The list every imported contact joins (Brevo's import needs one)."""
        if self._contacts_list is None:
            settings = self.runtime.settings
            if settings.contacts_list_id is not None:
                self._contacts_list = settings.contacts_list_id
            else:
                found = self.find_or_create(settings.contacts_list_name, create=True)
                assert found is not None
                self._contacts_list = found
        return self._contacts_list

    def members(self, list_id: int) -> Iterator[tuple[str | None, str | None]]:
        """(email, ext_id) of every contact currently in the list."""
        if list_id < 0:  # a list a dry run would create: empty
            return
        # oldest first, so contacts created meanwhile land on later pages instead of shifting earlier ones
        for contact in self._paged("/contacts", "contacts", MEMBER_PAGE, {"listIds": [list_id], "sort": "asc"}):
            email = contact.get("email")
            attributes = contact.get("attributes") or {}
            ext_id = contact.get("ext_id") or attributes.get("EXT_ID")
            yield (email.lower() if isinstance(email, str) else None, str(ext_id) if ext_id not in (None, "") else None)

    def change(self, action: str, list_id: int, kind: str, values: list[str]) -> tuple[list[Any], list[Any]]:
        """Add or remove up to 150 contacts; returns (success, failure). 'Nothing to do' 400s count as failure."""
        response = self.runtime.client.call(
            "POST", f"/contacts/lists/{{listId}}/contacts/{action}", path_params={"listId": list_id}, json={kind: values}
        )
        if response.ok:
            body = response.body or {}
            result = body.get("contacts") if isinstance(body.get("contacts"), dict) else body
            return list(result.get("success") or []), list(result.get("failure") or [])
        message = response.error_message.lower()
        if response.status == 400 and any(text in message for text in _NOTHING_TO_DO):
            return [], list(values)
        raise BrevoError(f"POST /contacts/lists/{list_id}/contacts/{action}: {response.status} {response.error_message}",
                         status=response.status, code=response.error_code)
