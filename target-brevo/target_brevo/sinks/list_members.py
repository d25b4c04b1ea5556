"""list_members: cohort members -> Brevo list membership, in mirror, append or remove mode.

Snapshot contract: every record names its cohort (`cohort_id` and/or `cohort_name`) and may carry
`snapshot_size`, the number of members in the complete snapshot of that cohort. Mirror removes
contacts from a list only when the distinct members received for each cohort mapped to the list in
this run equal its `snapshot_size` (or a record carries the optional `snapshot_complete` marker set
true), and never more than `max_removal_fraction` of the list unless large removals are allowed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson

from target_brevo.chunking import fixed
from target_brevo.jsonsafe import json_safe
from target_brevo.mapping import InvalidValue, content_key, get_path, to_boolean, to_identifier, to_number
from target_brevo.listsync import Cohort
from target_brevo.sinks.base import BrevoSink

LOGGER = logging.getLogger("target_brevo.list_members")


class Member(NamedTuple):
    cohort: str
    cohort_name: str | None
    email: str | None
    ext_id: str | None


class ListMembersSink(BrevoSink):
    kind = "list_members"
    priority = 30

    def setup(self) -> None:
        super().setup()
        self.cohorts: dict[str, Cohort] = self.runtime.list_sync.cohorts
        self._touched: set[str] = set()
        self._pending = 0

    # -- per record ---------------------------------------------------------------------------
    def prepare(self, record: dict[str, Any]) -> Member | None:
        settings = self.runtime.settings
        fields = settings.cohort_fields

        def field(name: str) -> Any:
            path = fields.get(name)
            return get_path(record, path) if path else None

        cohort_id = to_identifier(field("cohort_id"))
        name = to_identifier(field("cohort_name"))
        cohort_key = cohort_id or name
        if not cohort_key:
            raise InvalidValue(f"no cohort: neither {fields.get('cohort_id')!r} nor {fields.get('cohort_name')!r} is set")
        name = name or self.runtime.cohort_names.get(cohort_key)
        self._touched.add(cohort_key)
        cohort = self.cohorts.get(cohort_key)
        if cohort is None:
            cohort = self.cohorts[cohort_key] = Cohort(cohort_key, name)
            cohort.marker_expected = bool(fields.get("snapshot_complete")) and fields["snapshot_complete"] in (
                self.schema.get("properties") or {})
        elif name and not cohort.name:
            cohort.name = name
        snapshot = to_identifier(field("snapshot_id")) or ""
        if snapshot != cohort.snapshot:
            cohort.snapshot, cohort.marked_complete = snapshot, False
        size = field("snapshot_size")
        if size not in (None, ""):
            cohort.snapshot_size = int(to_number(size))
        marker = field("snapshot_complete")
        if marker not in (None, "") and to_boolean(marker):
            cohort.marked_complete = True  # the closing record of a snapshot, not a member
            return None
        # Every member record counts towards the snapshot, even one rejected below for lack of identity.
        self.runtime.membership.see(cohort.snapshot_key, self._seen_key(record))
        email, ext_id = self.identity(record)
        if not email and not ext_id:
            raise InvalidValue("no identifier: the member has no valid email and no ext_id")
        return Member(cohort_key, name, email, ext_id)

    def _seen_key(self, record: dict[str, Any]) -> str:
        if self.key_properties:
            return orjson.dumps([json_safe(record.get(k)) for k in self.key_properties]).decode()
        return content_key(record)

    # -- holding and sending ------------------------------------------------------------------
    def buffer(self, member: Member) -> None:
        """Remember the member on disk; list changes are sent at the next flush, for the whole cohort."""
        cohort = self._resolve(member.cohort)
        if cohort.list_id is None:
            self.runtime.report.count(self.kind, "skipped_unmapped_cohort")
            return
        self.runtime.report.list_count(self.runtime.list_sync.label(cohort.list_id), "received")
        if self.runtime.membership.receive(cohort.key, cohort.list_id, member.email, member.ext_id):
            self._pending += 1

    def pending(self) -> int:
        return self._pending + len(self._touched)

    def flush(self) -> None:
        touched, self._touched = self._touched, set()
        for cohort_key in sorted(touched):
            self._resolve(cohort_key)
        store = self.runtime.membership
        store.commit()
        for cohort_key, list_id in store.pending_groups():
            self._apply(self.cohorts[cohort_key], list_id)
        self._pending = 0
        self.runtime.list_sync.mirror_ready_lists()

    def _resolve(self, cohort_key: str) -> Cohort:
        cohort = self.cohorts[cohort_key]
        if cohort.resolved:
            return cohort
        settings = self.runtime.settings
        target = settings.lists.get(cohort_key) or (settings.lists.get(cohort.name) if cohort.name else None)
        cohort.target = target
        cohort.mode = target.sync_mode if target else settings.cohort_sync_mode
        cohort.list_id = self.runtime.lists.resolve(target, cohort.name or cohort_key)
        cohort.resolved = True
        if cohort.list_id is None:
            LOGGER.warning("Cohort %r (%s) has no Brevo list: add it to `lists` or turn on create_missing_lists; "
                           "its members are skipped", cohort_key, cohort.name or "no name")
            self.runtime.report.count(self.kind, "unmapped_cohorts")
        else:
            self.runtime.report.list_note(self.runtime.list_sync.label(cohort.list_id), "mode", cohort.mode)
        return cohort

    def _apply(self, cohort: Cohort, list_id: int) -> None:
        """Send the list changes for the members of `cohort` received since the last flush."""
        store = self.runtime.membership
        label = self.runtime.list_sync.label(list_id)
        if list_id not in store.loaded:
            store.load_current(list_id, self.runtime.lists.members(list_id))
            self.runtime.report.list_note(label, "members_before", store.original_size[list_id])
        if cohort.mode == "remove":
            present = list(store.iter_pending(cohort.key, list_id, in_list=True))
            self.runtime.list_sync.remove(list_id, present)
            store.apply_pending(cohort.key, list_id, added=False)
            return
        count = store.count_pending(cohort.key, list_id, in_list=False)
        if count:
            self._add(list_id, label, count, store.iter_pending(cohort.key, list_id, in_list=False))
        store.apply_pending(cohort.key, list_id, added=True)

    def _add(self, list_id: int, label: str, count: int, members: Iterator[tuple[str | None, str | None]]) -> None:
        """Add members to a list: many (or while contacts are being imported anyway) through one import
        per 8 MB with the list id, which also creates contacts Brevo does not know; few through
        contacts/add (150 per call, no process to poll), importing those Brevo does not know."""
        report = self.runtime.report
        runtime = self.runtime
        if runtime.settings.dry_run:
            report.list_count(label, "would_add", count)
            return
        if count > runtime.settings.list_import_threshold or runtime.imports.outstanding:
            added = runtime.imports.send_rows((_import_row(*m) for m in members), [list_id], obj=self.kind,
                                              stream=self.stream_name)
            report.list_count(label, "added_by_import", added)
            return
        runtime.imports.settle()  # contacts/add needs the contacts imported before to exist
        size = runtime.settings.list_call_max_contacts
        pending = list(members)
        unknown: list[tuple[str | None, str | None]] = []
        by_email = [m for m in pending if m[0]]
        by_ext = [m for m in pending if not m[0]]
        for kind, group, pick in (("emails", by_email, 0), ("extIds", by_ext, 1)):
            for part in fixed(group, size):
                values = [m[pick] for m in part]
                success, failure = runtime.lists.change("add", list_id, kind, values)  # type: ignore[arg-type]
                report.list_count(label, "added", len(success))
                failed = {str(v).lower() if pick == 0 else str(v) for v in failure}
                unknown.extend(m for m in part if (m[pick].lower() if pick == 0 else m[pick]) in failed)  # type: ignore[union-attr]
        if unknown:
            # Not in Brevo yet: the import creates them and puts them in the list in one go.
            created = runtime.imports.send_rows((_import_row(*m) for m in unknown), [list_id], obj=self.kind,
                                                stream=self.stream_name)
            report.list_count(label, "added_by_import", created)


def _import_row(email: str | None, ext_id: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"attributes": {"EXT_ID": ext_id} if ext_id else {}}
    if email:
        row["email"] = email
    return row
