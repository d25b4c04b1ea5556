"""List membership changes in Brevo: adds (by list call or by import) and removals, 150 per call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from target_brevo.brevo.api import BrevoApi, ContactIdentity
from target_brevo.cohorts.lists import list_label
from target_brevo.cohorts.store import MemberStore
from target_brevo.delivery.imports import ContactImports
from target_brevo.delivery.upserts import ContactUpserts
from target_brevo.mapping.contacts import member_row
from target_brevo.privacy.gate import PrivacyGate
from target_brevo.report import RunReport

REPORT_AS = "list_members"
T = TypeVar("T")


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _by_id_type(
    members: list[ContactIdentity],
) -> list[tuple[str, list[ContactIdentity], Callable[[ContactIdentity], str]]]:
    """Brevo's list calls take emails or ext_ids: members with an email go by email, the others by ext_id."""
    return [
        ("emails", [m for m in members if m.email], lambda m: m.email.lower()),  # type: ignore[union-attr]
        ("extIds", [m for m in members if not m.email], lambda m: str(m.ext_id)),
    ]


@dataclass
class ListWriter:
    """Applies membership changes to Brevo lists and keeps the member store in step."""

    api: BrevoApi
    imports: ContactImports
    upserts: ContactUpserts
    store: MemberStore
    report: RunReport
    call_size: int
    import_threshold: int
    contact_mode: str  # `update_only`: a member Brevo does not know is not created
    privacy: PrivacyGate  # members erased since they were received are not added
    dry_run: bool

    def remove(self, list_id: int, members: list[ContactIdentity]) -> int:
        if not members:
            return 0
        label = list_label(list_id)
        if self.dry_run:
            self.report.list_count(label, "would_remove", len(members))
            self.store.mark_removed(list_id, members)
            return len(members)
        removed = 0
        for id_type, group, value in _by_id_type(members):
            for part in _chunks(group, self.call_size):
                change = self.api.remove_from_list(list_id, id_type, [value(m) for m in part])
                removed += len(change.success)
                self.store.mark_removed(list_id, part)
        self.report.list_count(label, "removed", removed)
        return removed

    def add(
        self, list_id: int, count: int, members: Iterator[ContactIdentity], *, stream: str, report_as: str = REPORT_AS
    ) -> None:
        """Add members to a list: many (or while contacts are being imported anyway) through one import
        per body with the list id, which also creates contacts Brevo does not know; few through
        contacts/add (150 per call, no process to poll), then those Brevo does not know are created in the
        list, by one call each when few (`ContactUpserts`: nothing to poll either), else by import. The
        summary counts the imports and calls under `report_as`."""
        label = list_label(list_id)
        members = (m for m in members if not self.privacy.is_erased_identity(m))
        if self.dry_run:
            self.report.list_count(label, "would_add", count)
            return
        creates = self.contact_mode != "update_only"
        if creates and (count > self.import_threshold or self.imports.outstanding):
            self._import(list_id, members, stream, report_as)
            return
        self.imports.settle()  # contacts/add needs the contacts imported before to exist
        unknown: list[ContactIdentity] = []
        for id_type, group, value in _by_id_type(list(members)):
            for part in _chunks(group, self.call_size):
                change = self.api.add_to_list(list_id, id_type, [value(m) for m in part])
                self.report.list_count(label, "added", len(change.success))
                failed = {str(v).lower() if id_type == "emails" else str(v) for v in change.failure}
                unknown.extend(m for m in part if value(m) in failed)
        if unknown and not creates:
            self.report.list_count(label, "not_in_brevo", len(unknown))
        elif unknown and self.upserts.takes(len(unknown)):  # not in Brevo yet: created in the list
            rows = [member_row(m) for m in unknown]
            added = self.upserts.send(rows, [list_id], report_as=report_as, stream=stream, mode=self.contact_mode)
            self.report.list_count(label, "added_by_upsert", added)
        elif unknown:
            self._import(list_id, iter(unknown), stream, report_as)

    def _import(self, list_id: int, members: Iterator[ContactIdentity], stream: str, report_as: str) -> None:
        rows = (member_row(m) for m in members)
        update = self.contact_mode != "insert_only"  # insert_only: an existing member keeps its ext_id
        added = self.imports.send_rows(rows, [list_id], report_as=report_as, stream=stream, update=update)
        self.report.list_count(list_label(list_id), "added_by_import", added)
