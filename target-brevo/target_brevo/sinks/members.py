"""list_members: cohort member records -> Brevo list membership (mirror, append or remove)."""

from __future__ import annotations

from typing import Any

from target_brevo.cohorts.sync import CohortSync
from target_brevo.mapping.cohorts import MemberRules, snapshot_member_key
from target_brevo.mapping.identity import IdentityRules
from target_brevo.mapping.values import InvalidValue
from target_brevo.sinks.base import BrevoSink


class ListMembersSink(BrevoSink):
    """Counts each member record towards its cohort's snapshot and hands the member to cohort sync."""

    report_as = "list_members"

    identity: IdentityRules
    rules: MemberRules
    cohorts: CohortSync

    def setup(self) -> None:
        super().setup()
        self._marker_expected = self.rules.marker_in(self.schema)

    def handle(self, record: dict[str, Any]) -> None:
        member_record = self.rules.read(record)
        cohort = self.cohorts.observe(member_record, marker_expected=self._marker_expected)
        if member_record.closes_snapshot:
            return  # the closing record of a snapshot, not a member
        self.cohorts.count_towards_snapshot(cohort, snapshot_member_key(record, self.key_properties))
        member = self.identity.read(record)
        if not member.email and not member.ext_id:
            raise InvalidValue("no identifier: the member has no valid email and no ext_id")
        if not self.admitted(record):
            return  # counted towards the snapshot above: a mirror stays complete without them
        self.cohorts.receive(cohort, member)

    def pending(self) -> int:
        return self.cohorts.pending_members

    def flush(self) -> None:
        self.cohorts.flush(stream=self.stream_name)
