"""Cohort members into Brevo lists: received members applied per cohort at each flush, then mirrors.

Snapshot contract: every member record names its cohort (`cohort_id` and/or `cohort_name`) and may
carry `snapshot_size` and a closing marker. Mirror removes contacts from a list only when the
snapshot of every cohort mapped to the list is complete (see `Cohort.complete`), and never more than
the removal cap allows.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from target_brevo.brevo.api import ContactIdentity
from target_brevo.cohorts import policy
from target_brevo.cohorts.cohort import Cohort
from target_brevo.cohorts.lists import ListDirectory, list_label
from target_brevo.cohorts.store import MemberStore
from target_brevo.cohorts.writes import REPORT_AS, ListWriter
from target_brevo.mapping.cohorts import CohortDefinition, MemberRecord
from target_brevo.report import RunReport
from target_brevo.settings import ListTarget, RemovalCap

LOGGER = logging.getLogger("target_brevo.cohorts")


@dataclass
class CohortSync:
    """Every cohort of the run, the lists they sync to, and the mirror decision."""

    directory: ListDirectory
    writer: ListWriter
    store: MemberStore
    report: RunReport
    list_target: Callable[[str, str | None], ListTarget | None]
    default_mode: str
    default_cap: RemovalCap
    cohorts: dict[str, Cohort] = field(default_factory=dict, init=False)
    names: dict[str, str] = field(default_factory=dict, init=False)  # cohort id -> name, from a lists stream
    definitions: dict[str, str | None] = field(default_factory=dict, init=False)  # not resolved yet
    mirrored: set[int] = field(default_factory=set, init=False)
    _touched: set[str] = field(default_factory=set, init=False)
    _received: int = field(default=0, init=False)

    # -- cohort definitions (a lists stream) --------------------------------------------------
    def define(self, definition: CohortDefinition) -> None:
        if definition.name and definition.key != definition.name:
            self.names[definition.key] = definition.name
        self.definitions[definition.key] = definition.name

    def resolve_definitions(self) -> None:
        """Find (or create, when allowed) the list of every cohort defined since the last flush."""
        definitions, self.definitions = self.definitions, {}
        for key, name in definitions.items():
            target = self.list_target(key, name)
            if target is None and not self.directory.create_missing:
                self.report.count("lists", "unmapped")
                continue
            list_id = self.directory.resolve(target, name or key)
            self.report.count("lists", "resolved" if list_id is not None else "unresolved")

    # -- member records -----------------------------------------------------------------------
    def observe(self, record: MemberRecord, *, marker_expected: bool) -> Cohort:
        """The record's cohort, updated with what the record says about its snapshot."""
        cohort = self.cohorts.get(record.cohort_key)
        if cohort is None:
            name = record.cohort_name or self.names.get(record.cohort_key)
            cohort = self.cohorts[record.cohort_key] = Cohort(record.cohort_key, name, marker_expected)
        cohort.observe(record)
        self._touched.add(cohort.key)
        return cohort

    def count_towards_snapshot(self, cohort: Cohort, member_key: str) -> None:
        """Every member record counts towards its snapshot, even one rejected for lack of identity."""
        self.store.see(cohort.snapshot_key, member_key)

    def receive(self, cohort: Cohort, member: ContactIdentity) -> None:
        """Remember a member on disk; list changes are sent at the next flush, for the whole cohort."""
        self._resolve(cohort)
        if cohort.list_id is None:
            self.report.count(REPORT_AS, "skipped_unmapped_cohort")
            return
        if cohort.mode == policy.DELTA:  # the list follows the cohort's change stream: a snapshot may be older
            self.report.count(REPORT_AS, "skipped_delta_list")
            return
        self.report.list_count(list_label(cohort.list_id), "received")
        if self.store.receive(cohort.key, cohort.list_id, member.email, member.ext_id):
            self._received += 1

    @property
    def pending_members(self) -> int:
        """Members received and cohorts touched since the last flush."""
        return self._received + len(self._touched)

    # -- applying -----------------------------------------------------------------------------
    def flush(self, *, stream: str) -> None:
        """Apply every member received since the last flush, then mirror the lists whose snapshots are complete."""
        touched, self._touched = self._touched, set()
        for key in sorted(touched):
            self._resolve(self.cohorts[key])
        self.store.commit()
        for key, list_id in self.store.pending_groups():
            self._apply(self.cohorts[key], list_id, stream)
        self._received = 0
        for list_id, cohorts in self._mirror_groups().items():
            if list_id not in self.mirrored and all(self._complete(c) for c in cohorts):
                self._mirror(list_id, cohorts)

    def _resolve(self, cohort: Cohort) -> None:
        if cohort.resolved:
            return
        target = self.list_target(cohort.key, cohort.name)
        cohort.resolve(
            self.directory.resolve(target, cohort.name or cohort.key),
            target.sync_mode if target else self.default_mode,
            target.removal_cap if target else self.default_cap,
        )
        if cohort.list_id is None:
            LOGGER.warning(
                "Cohort %r (%s) has no Brevo list: add it to `lists` or turn on create_missing_lists; "
                "its members are skipped",
                cohort.key,
                cohort.name or "no name",
            )
            self.report.count(REPORT_AS, "unmapped_cohorts")
        else:
            self.report.list_note(list_label(cohort.list_id), "mode", cohort.mode)

    def _load(self, list_id: int) -> None:
        if list_id not in self.store.loaded:
            self.store.load_current(list_id, self.directory.members(list_id))
            self.report.list_note(list_label(list_id), "members_before", self.store.original_size[list_id])

    def _apply(self, cohort: Cohort, list_id: int, stream: str) -> None:
        """Send the list changes for the members of `cohort` received since the last flush."""
        self._load(list_id)
        if not policy.adds_members(cohort.mode):
            present = list(self.store.iter_pending(cohort.key, list_id, in_list=True))
            self.writer.remove(list_id, present)
            self.store.apply_pending(cohort.key, list_id, added=False)
            return
        count = self.store.count_pending(cohort.key, list_id, in_list=False)
        if count:
            self.writer.add(list_id, count, self.store.iter_pending(cohort.key, list_id, in_list=False), stream=stream)
        self.store.apply_pending(cohort.key, list_id, added=True)

    # -- mirror -------------------------------------------------------------------------------
    def _mirror_groups(self) -> dict[int, list[Cohort]]:
        groups: dict[int, list[Cohort]] = defaultdict(list)
        for cohort in self.cohorts.values():
            if cohort.resolved and cohort.list_id is not None and cohort.mode == policy.MIRROR:
                groups[cohort.list_id].append(cohort)
        return groups

    def _complete(self, cohort: Cohort) -> bool:
        return cohort.complete(self.store.seen_count(cohort.snapshot_key))

    def _mirror(self, list_id: int, cohorts: list[Cohort]) -> None:
        self.mirrored.add(list_id)
        label = list_label(list_id)
        self._load(list_id)
        removals = self.store.not_received(list_id)
        before = self.store.original_size.get(list_id, 0)
        cap = policy.combined_cap(c.removal_cap or self.default_cap for c in cohorts)
        if not policy.removal_allowed(len(removals), before, cap):
            LOGGER.warning(
                "Mirror of list %s blocked: it would remove %d of %d members (%.0f%% > %.0f%%). "
                "Raise mirror_max_removal_fraction or set mirror_allow_large_removals to apply it.",
                list_id,
                len(removals),
                before,
                len(removals) / before * 100,
                cap.max_fraction * 100,
            )
            self.report.list_note(label, "mirror", "blocked_removal_fraction")
            self.report.list_count(label, "removals_blocked", len(removals))
            return
        self.writer.remove(list_id, removals)
        self.report.list_note(label, "mirror", "applied")

    def finish(self) -> None:
        """At end of input: report mirrors that never saw a complete snapshot (nothing was removed)."""
        for list_id, cohorts in self._mirror_groups().items():
            if list_id in self.mirrored:
                continue
            detail = ", ".join(
                f"{c.key}: {self.store.seen_count(c.snapshot_key)} of "
                f"{c.snapshot_size if c.snapshot_size is not None else 'unknown'}"
                f"{'' if c.marked_complete or not c.marker_expected else ', no end marker'}"
                for c in cohorts
            )
            LOGGER.warning(
                "Mirror of list %s skipped: the cohort snapshot is incomplete (%s); no member removed", list_id, detail
            )
            self.report.list_note(list_label(list_id), "mirror", "skipped_incomplete_snapshot")
            self.report.list_note(list_label(list_id), "snapshot", detail)
