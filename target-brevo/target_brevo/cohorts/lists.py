"""Brevo lists for cohorts: found by name (in the target's folder first) or created when allowed."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from target_brevo.brevo.api import BrevoApi, ContactIdentity
from target_brevo.report import RunReport
from target_brevo.settings import ListTarget

LOGGER = logging.getLogger("target_brevo.lists")


def list_label(list_id: int) -> str:
    """How the summary names a list (a list a dry run would create has a negative placeholder id)."""
    return str(list_id) if list_id >= 0 else f"new{list_id}"


@dataclass
class ListDirectory:
    """Resolves cohorts to Brevo list ids, creating the folder and lists when the settings allow it."""

    api: BrevoApi
    report: RunReport
    folder_name: str
    create_missing: bool
    contacts_list: int | None  # configured; else found (or created) by `contacts_list_name`
    contacts_list_name: str
    dry_run: bool
    _folder_id: int | None = field(default=None, init=False)
    _lists_by_name: dict[str, list[dict[str, Any]]] | None = field(default=None, init=False)
    _placeholder_ids: int = field(default=0, init=False)

    def resolve(self, target: ListTarget | None, fallback_name: str | None) -> int | None:
        """The list of a cohort: the configured id, else the configured or fallback name."""
        if target is not None and target.list_id is not None:
            return target.list_id
        name = (target.list_name if target is not None else None) or fallback_name
        if not name:
            return None
        return self.find_or_create(name, create=self.create_missing)

    def contacts_list_id(self) -> int:
        """The list every imported contact joins (Brevo's import needs one)."""
        if self.contacts_list is None:
            found = self.find_or_create(self.contacts_list_name, create=True)
            assert found is not None
            self.contacts_list = found
        return self.contacts_list

    def members(self, list_id: int) -> Iterable[ContactIdentity]:
        """The list's current members; none for a list a dry run would create."""
        return self.api.list_members(list_id) if list_id >= 0 else ()

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
        folder_id = self._folder()
        if self.dry_run:
            self._placeholder_ids -= 1
            LOGGER.info("Dry run: would create list %r", name)
            self.report.count("lists", "would_create")
            list_id = self._placeholder_ids
        else:
            list_id = self.api.create_list(name, folder_id)
            self.report.count("lists", "created")
            LOGGER.info("Created Brevo list %r (id %s) in folder %r", name, list_id, self.folder_name)
        self._by_name()[name] = [{"id": list_id, "name": name, "folderId": folder_id}]
        return list_id

    def _by_name(self) -> dict[str, list[dict[str, Any]]]:
        if self._lists_by_name is None:
            self._lists_by_name = {}
            for item in self.api.lists():
                self._lists_by_name.setdefault(str(item.get("name")), []).append(item)
        return self._lists_by_name

    def _folder(self) -> int | None:
        if self._folder_id is not None:
            return self._folder_id
        for folder in self.api.folders():
            if folder.get("name") == self.folder_name:
                self._folder_id = int(folder["id"])
                return self._folder_id
        if self.dry_run:
            LOGGER.info("Dry run: would create list folder %r", self.folder_name)
            return None
        self._folder_id = self.api.create_folder(self.folder_name)
        self.report.count("lists", "folders_created")
        LOGGER.info("Created Brevo folder %r (id %s)", self.folder_name, self._folder_id)
        return self._folder_id
