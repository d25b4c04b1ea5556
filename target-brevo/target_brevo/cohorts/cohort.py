"""One cohort as seen in this run: its snapshot's completeness and the list it syncs to."""

from __future__ import annotations

from dataclasses import dataclass

from target_brevo.mapping.cohorts import MemberRecord
from target_brevo.settings import RemovalCap


@dataclass
class Cohort:
    """A cohort's current snapshot (id, announced size, closing marker) and, once resolved, its list."""

    key: str
    name: str | None
    marker_expected: bool
    snapshot_id: str = ""
    snapshot_size: int | None = None
    marked_complete: bool = False
    resolved: bool = False
    list_id: int | None = None
    mode: str | None = None
    removal_cap: RemovalCap | None = None

    @property
    def snapshot_key(self) -> str:
        return f"{self.key}\x00{self.snapshot_id}"

    def observe(self, record: MemberRecord) -> None:
        """Take what a member record says about the snapshot (a new snapshot id starts over)."""
        if record.cohort_name and not self.name:
            self.name = record.cohort_name
        if record.snapshot_id != self.snapshot_id:
            self.snapshot_id, self.marked_complete = record.snapshot_id, False
        if record.snapshot_size is not None:
            self.snapshot_size = record.snapshot_size
        if record.closes_snapshot:
            self.marked_complete = True

    def complete(self, members_seen: int) -> bool:
        """The snapshot contract: the closing marker arrived (when the stream has one) and the distinct
        member records received equal `snapshot_size` (when given); at least one of the two must exist."""
        if self.marker_expected and not self.marked_complete:
            return False
        if self.snapshot_size is None:
            return self.marked_complete
        return members_seen == self.snapshot_size

    def resolve(self, list_id: int | None, mode: str, removal_cap: RemovalCap) -> None:
        self.list_id, self.mode, self.removal_cap, self.resolved = list_id, mode, removal_cap, True
