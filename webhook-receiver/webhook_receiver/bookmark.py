"""A spool consumer's bookmark: `{"bookmarks": {"spool": {"seq": N}}}`, meaning every spooled item through seq N
has been emitted.

It travels three ways: in the STATE messages a streaming tap writes; back from Meltano as the tap's input state
(the last STATE the target emitted, i.e. what the target has delivered), from which a run resumes; and through a
delivered-state file that the target writes (atomically, after each STATE it emits) and the tap polls, through
which the spool is pruned while the pipeline runs. Other keys of the state (a tap's own bookmarks) are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

BOOKMARK = "spool"


def seq_in(state: Mapping[str, Any] | None) -> int:
    """The seq a state covers (0 when it holds none); ValueError for a bookmark that is not a whole number."""
    bookmark = ((state or {}).get("bookmarks") or {}).get(BOOKMARK) or {}
    seq = bookmark.get("seq", 0) if isinstance(bookmark, Mapping) else None
    if type(seq) is not int or seq < 0:
        raise ValueError(f"state bookmark {BOOKMARK}.seq must be a whole number, got {seq!r}")
    return seq


def read_delivered_seq(path: Path) -> int | None:
    """The seq in the delivered-state file, or None while there is none (no file yet, or not a state)."""
    try:
        return seq_in(orjson.loads(path.read_bytes()))
    except (OSError, orjson.JSONDecodeError, ValueError, AttributeError):
        return None


def set_seq(state: dict[str, Any], seq: int) -> None:
    """Record in the tap's state that everything through `seq` has been emitted."""
    state.setdefault("bookmarks", {})[BOOKMARK] = {"seq": seq}
