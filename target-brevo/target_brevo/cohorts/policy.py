"""The sync modes and the mirror's removal cap."""

from __future__ import annotations

from collections.abc import Iterable

from target_brevo.settings import RemovalCap

MIRROR, APPEND, REMOVE = "mirror", "append", "remove"


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
