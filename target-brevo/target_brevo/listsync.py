"""List sync across cohorts: removals, and the mirror decision (complete snapshot + removal cap)."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import TYPE_CHECKING

from target_brevo.chunking import fixed

if TYPE_CHECKING:
    from target_brevo.runtime import Runtime
    from target_brevo.settings import ListTarget

LOGGER = logging.getLogger("target_brevo.listsync")


class Cohort:
    def __init__(self, key: str, name: str | None) -> None:
        self.key = key
        self.name = name
        self.snapshot_size: int | None = None
        self.marked_complete = False
        self.marker_expected = False
        self.snapshot = ""
        self.list_id: int | None = None
        self.mode: str | None = None
        self.target: ListTarget | None = None
        self.resolved = False


    @property
    def snapshot_key(self) -> str:
        return f"{self.key}\x00{self.snapshot}"


class ListSync:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.cohorts: dict[str, Cohort] = {}
        self.mirrored: set[int] = set()

    @staticmethod
    def label(list_id: int) -> str:
        return str(list_id) if list_id >= 0 else f"new{list_id}"

    def remove(self, list_id: int, members: list[tuple[str | None, str | None]]) -> int:
        if not members:
            return 0
        label = self.label(list_id)
        report = self.runtime.report
        if self.runtime.settings.dry_run:
            report.list_count(label, "would_remove", len(members))
            self.runtime.membership.mark_removed(list_id, members)
            return len(members)
        size = self.runtime.settings.list_call_max_contacts
        removed = 0
        for kind, group, pick in (("emails", [m for m in members if m[0]], 0), ("extIds", [m for m in members if not m[0]], 1)):
            for part in fixed(group, size):
                success, _ = self.runtime.lists.change("remove", list_id, kind, [m[pick] for m in part])  # type: ignore[misc]
                removed += len(success)
                self.runtime.membership.mark_removed(list_id, part)
        report.list_count(label, "removed", removed)
        return removed

    def complete(self, cohort: Cohort) -> bool:
        """The snapshot contract: the closing marker arrived (when the stream has one) and the distinct
        member records received equal `snapshot_size` (when given); at least one of the two must exist."""
        if cohort.marker_expected and not cohort.marked_complete:
            return False
        if cohort.snapshot_size is None:
            return cohort.marked_complete
        return self.runtime.membership.seen_count(cohort.snapshot_key) == cohort.snapshot_size

    def _mirror_groups(self) -> dict[int, list[Cohort]]:
        groups: dict[int, list[Cohort]] = defaultdict(list)
        for cohort in self.cohorts.values():
            if cohort.resolved and cohort.list_id is not None and cohort.mode == "mirror":
                groups[cohort.list_id].append(cohort)
        return groups

    def mirror_ready_lists(self) -> None:
        for list_id, cohorts in self._mirror_groups().items():
            if list_id not in self.mirrored and all(self.complete(c) for c in cohorts):
                self._mirror(list_id)

    def _mirror(self, list_id: int) -> None:
        self.mirrored.add(list_id)
        store = self.runtime.membership
        label = self.label(list_id)
        report = self.runtime.report
        if list_id not in store.loaded:
            store.load_current(list_id, self.runtime.lists.members(list_id))
        removals = store.not_received(list_id)
        before = store.original_size.get(list_id, 0)
        fraction = len(removals) / before if before else 0.0
        cohorts = self._mirror_groups()[list_id]
        limit = min((c.target.max_removal_fraction if c.target else self.runtime.settings.mirror_max_removal_fraction)
                    for c in cohorts)
        allow = all((c.target.allow_large_removals if c.target else self.runtime.settings.mirror_allow_large_removals)
                    for c in cohorts)
        if removals and fraction > limit and not allow:
            LOGGER.warning(
                "Mirror of list %s blocked: it would remove %d of %d members (%.0f%% > %.0f%%). "
                "Raise mirror_max_removal_fraction or set mirror_allow_large_removals to apply it.",
                list_id, len(removals), before, fraction * 100, limit * 100,
            )
            report.list_note(label, "mirror", "blocked_removal_fraction")
            report.list_count(label, "removals_blocked", len(removals))
            return
        self.remove(list_id, removals)
        report.list_note(label, "mirror", "applied")

    def finish(self) -> None:
        """At end of input: report mirrors that never saw a complete snapshot (nothing was removed)."""
        store = self.runtime.membership if "membership" in self.runtime.__dict__ else None
        for list_id, cohorts in self._mirror_groups().items():
            if list_id in self.mirrored:
                continue
            label = self.label(list_id)
            detail = ", ".join(
                f"{c.key}: {store.seen_count(c.snapshot_key) if store else 0} of "
                f"{c.snapshot_size if c.snapshot_size is not None else 'unknown'}"
                f"{'' if c.marked_complete or not c.marker_expected else ', no end marker'}"
                for c in cohorts
            )
            LOGGER.warning("Mirror of list %s skipped: the cohort snapshot is incomplete (%s); no member removed",
                           list_id, detail)
            self.runtime.report.list_note(label, "mirror", "skipped_incomplete_snapshot")
            self.runtime.report.list_note(label, "snapshot", detail)
