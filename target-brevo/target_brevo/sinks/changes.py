"""list_changes: cohort membership changes -> Brevo list adds and removes (delta mode)."""

from __future__ import annotations

from typing import Any

from target_brevo.cohorts.deltas import DeltaSync
from target_brevo.mapping.cohorts import MemberRules
from target_brevo.mapping.identity import IdentityRules
from target_brevo.mapping.values import InvalidValue
from target_brevo.sinks.base import BrevoSink


class ListChangesSink(BrevoSink):
    """Hands each change (the cohort, in or out, when, which message, and who) to delta sync."""

    report_as = "list_changes"

    identity: IdentityRules
    rules: MemberRules
    deltas: DeltaSync

    def handle(self, record: dict[str, Any]) -> None:
        change = self.rules.read_change(record)
        member = self.identity.read(record)
        if not member.email and not member.ext_id:
            raise InvalidValue("no identifier: the change has no valid email and no ext_id")
        if change.entered and not self.admitted(record):
            return
        if not change.entered and self.privacy.is_erased_record(record):
            self.report.count(self.report_as, "dropped_erased")  # an exit skips consent (it contacts nobody), not this
            return
        self.deltas.receive(change, member)

    def pending(self) -> int:
        return self.deltas.pending

    def flush(self) -> None:
        self.deltas.flush(stream=self.stream_name)
