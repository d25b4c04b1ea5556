"""The sync modes, the mirror's removal cap, and what delta mode does with one membership change."""

from __future__ import annotations

from collections.abc import Iterable

from target_brevo.delivery.ledger import ContactChange
from target_brevo.settings import RemovalCap

MIRROR, APPEND, REMOVE, DELTA = "mirror", "append", "remove", "delta"
# Delta mode's verdicts on a membership change
TO_ADD, TO_REMOVE, DUPLICATE, LATE = "add", "remove", "duplicate_message", "late"


def adds_members(mode: str | None) -> bool:
    """`mirror` and `append` add received members to the list; `remove` takes them out."""
    return mode != REMOVE


def combined_cap(caps: Iterable[RemovalCap]) -> RemovalCap:
    """Several cohorts mirrored into one list: the strictest fraction, large removals only if all allow them."""
    caps = list(caps)
    return RemovalCap(min(c.max_fraction for c in caps), all(c.allow_large for c in caps))


def removal_allowed(removals: int, members_before: int, cap: RemovalCap) -> bool:
    """Whether one mirror may remove `removals` of a list's `members_before` members."""
    fraction = removals / members_before if members_before else 0.0
    return not removals or fraction <= cap.max_fraction or cap.allow_large


def delta_verdict(change: ContactChange, last: ContactChange | None) -> str:
    """What delta mode does with a contact's membership change, given the last one applied to (or
    staged for) the same contact and list: skip it when it comes from the same message (a retry), or
    when it was computed before the last one (it arrived late: a retried enter after the exit must not
    add the contact again); else add or remove the contact."""
    if last is not None:
        if change.message_id and change.message_id == last.message_id:
            return DUPLICATE
        if change.computed_at < last.computed_at:
            return LATE
    return TO_ADD if change.in_list else TO_REMOVE
