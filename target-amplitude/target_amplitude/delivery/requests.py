"""Cutting a queue of encoded events into requests under Amplitude's event-count and byte limits."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Item:
    """One event on its way: its encoded form, and what the rejects file and the summary need of its record."""

    event: dict[str, Any]
    encoded: bytes
    stream: str
    key: Any
    record: dict[str, Any]
    throttle_rounds: int = field(default=0)

    @property
    def insert_id(self) -> str:
        return self.event["insert_id"]


def take_request(queue: deque[Item], max_events: int, max_bytes: int, envelope_bytes: int) -> list[Item]:
    """Pop the longest head of `queue` whose request body stays under `max_bytes` with at most `max_events`.

    An event too large for any request is popped alone (Amplitude's 413 then rejects it)."""
    taken: list[Item] = []
    size = envelope_bytes
    while queue and len(taken) < max_events:
        extra = len(queue[0].encoded) + (1 if taken else 0)
        if taken and size + extra >= max_bytes:
            break
        size += extra
        taken.append(queue.popleft())
    return taken
