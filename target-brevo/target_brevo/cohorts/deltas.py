"""Delta mode: cohort membership changes (entered / left) applied to Brevo lists as adds and removes.

Records are changes, not snapshots (Amplitude's Cohort Webhooks: a first sync with the whole
population as entries, then the users who entered or left at each computation). Each flush, per list:

1. the staged changes (the latest per contact) are judged against the last change applied to the
   contact (kept in the ledger across runs): one from a message already applied is a duplicate, one
   computed before it arrived late; both are skipped (`policy.delta_verdict`);
2. the adds (contacts/add, 150 per call, or one import with the list id when many, which also
   creates contacts Brevo does not know) and the removes (150 per call) are sent, and the imports
   waited for;
3. the changes are recorded in the ledger as applied.

Nothing is recorded before Brevo has applied it; a crash between 2 and 3 makes the replayed records
apply the same changes again, which adds and removes allow.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from target_brevo.brevo.api import ContactIdentity
from target_brevo.cohorts import policy
from target_brevo.cohorts.lists import ListDirectory, list_label
from target_brevo.cohorts.staged import STAGED, StagedChanges
from target_brevo.cohorts.writes import ListWriter
from target_brevo.delivery.ledger import ContactChange, Ledger
from target_brevo.mapping.cohorts import MembershipChange
from target_brevo.report import RunReport
from target_brevo.settings import ListTarget

LOGGER = logging.getLogger("target_brevo.cohorts")
REPORT_AS = "list_changes"


def contact_key(member: ContactIdentity) -> str:
    """One key per contact across its changes: its ext_id (Amplitude's user_id, on every change), else
    its email (which a change may lack)."""
    return f"x:{member.ext_id}" if member.ext_id else f"e:{member.email}"


@dataclass
class DeltaSync:
    """Membership changes of every cohort, staged until the next flush, then applied to their lists."""

    directory: ListDirectory
    writer: ListWriter
    ledger: Ledger
    report: RunReport
    list_target: Callable[[str, str | None], ListTarget | None]
    dry_run: bool
    staged: StagedChanges = field(default_factory=StagedChanges)
    pending: int = field(default=0, init=False)  # changes staged since the last flush
    _lists: dict[str, int | None] = field(default_factory=dict, init=False)  # cohort key -> list id

    def receive(self, change: MembershipChange, member: ContactIdentity) -> None:
        """Stage a change of the cohort's list (skipped when the cohort has no list, or when it repeats
        or predates one staged for the same contact)."""
        list_id = self._list_of(change)
        if list_id is None:
            self.report.count(REPORT_AS, "skipped_unmapped_cohort")
            return
        self.report.count(REPORT_AS, "received")
        state = ContactChange(change.entered, change.computed_at, change.message_id)
        outcome = self.staged.stage(list_id, contact_key(member), member, state)
        if outcome == STAGED:
            self.pending += 1
        else:
            self.report.count(REPORT_AS, f"skipped_{outcome}")

    def flush(self, *, stream: str) -> None:
        for list_id in self.staged.lists():
            self._apply(list_id, stream)
        self.pending = 0

    def _list_of(self, change: MembershipChange) -> int | None:
        key = change.cohort_key
        if key not in self._lists:
            target = self.list_target(key, change.cohort_name)
            list_id = self._lists[key] = self.directory.resolve(target, change.cohort_name or key)
            if list_id is None:
                LOGGER.warning(
                    "Cohort %r (%s) has no Brevo list: add it to `lists` or turn on create_missing_lists; "
                    "its membership changes are skipped",
                    key,
                    change.cohort_name or "no name",
                )
            else:
                self.report.list_note(list_label(list_id), "mode", policy.DELTA)
        return self._lists[key]

    def _apply(self, list_id: int, stream: str) -> None:
        verdicts: Counter[str] = Counter()
        for page in self.staged.pages(list_id):
            applied = self.ledger.applied_changes(list_id, [staged.contact for staged in page])
            decided = [(policy.delta_verdict(s.change, applied.get(s.contact)), s.contact) for s in page]
            self.staged.decide(list_id, decided)
            verdicts.update(verdict for verdict, _ in decided)
        for skipped in (policy.DUPLICATE, policy.LATE):
            self.report.count(REPORT_AS, f"skipped_{skipped}", verdicts[skipped])
        self.report.count(REPORT_AS, "adds", verdicts[policy.TO_ADD])
        self.report.count(REPORT_AS, "removes", verdicts[policy.TO_REMOVE])
        if verdicts[policy.TO_ADD]:
            adds = (staged.member for staged in self.staged.with_verdict(list_id, policy.TO_ADD))
            self.writer.add(list_id, verdicts[policy.TO_ADD], adds, stream=stream, report_as=REPORT_AS)
        if verdicts[policy.TO_REMOVE]:
            self.writer.remove(list_id, [s.member for s in self.staged.with_verdict(list_id, policy.TO_REMOVE)])
        if not self.dry_run:
            self.writer.imports.settle()  # an add by import is applied when its process completes
            for verdict in (policy.TO_ADD, policy.TO_REMOVE):
                changes = self.staged.with_verdict(list_id, verdict)
                self.ledger.record_changes(list_id, ((s.contact, s.change) for s in changes))
        self.staged.clear(list_id)

    def close(self) -> None:
        self.staged.close()
