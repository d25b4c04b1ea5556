"""One bulk request's worth of items, and sending a request that Brevo may refuse in part."""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from target_brevo.brevo.errors import BrevoError

LOGGER = logging.getLogger("target_brevo.delivery")
T = TypeVar("T")


class KeyedBatch(Generic[T]):
    """The items of the next request, by key, bounded by a row count and by encoded bytes.

    An item's size is its encoded JSON plus a comma; the request is `envelope_bytes` plus the JSON
    array. Putting an existing key again replaces the item (the last version wins).
    """

    def __init__(self, *, max_rows: int, max_bytes: int, envelope_bytes: int) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._empty = envelope_bytes + 2
        self.items: dict[str, T] = {}
        self._sizes: dict[str, int] = {}
        self.bytes = self._empty

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, key: str) -> bool:
        return key in self.items

    @property
    def full(self) -> bool:
        return len(self.items) >= self.max_rows

    def never_fits(self, size: int) -> bool:
        return self._empty + size > self.max_bytes

    def has_room(self, key: str, size: int) -> bool:
        if key in self._sizes:
            return self.bytes - self._sizes[key] + size <= self.max_bytes
        return len(self.items) < self.max_rows and self.bytes + size <= self.max_bytes

    def put(self, key: str, item: T, size: int) -> None:
        self.bytes += size - self._sizes.get(key, 0)
        self.items[key] = item
        self._sizes[key] = size

    def take(self) -> list[T]:
        items = list(self.items.values())
        self.items, self._sizes, self.bytes = {}, {}, self._empty
        return items


def send_splitting(
    items: list[T],
    send: Callable[[list[T]], int],
    refuse: Callable[[T, str], None],
    *,
    what: str,
    on_split: Callable[[], None] = lambda: None,
) -> int:
    """Send `items` in one request; returns how many Brevo accepted.

    When Brevo refuses the request for what it carries, the items it names are refused and the rest
    sent again; when it names none, the request is halved until each refused item stands alone.
    `refuse(item, reason)` reports an item Brevo will not take; any other error propagates.
    """
    if not items:
        return 0
    try:
        return send(items)
    except BrevoError as error:
        if not error.refuses_items:
            raise
        named = {i: reason for i, reason in error.item_errors.items() if 0 <= i < len(items)}
        if named:
            for index, reason in sorted(named.items()):
                refuse(items[index], f"Brevo rejected the {what}: {reason}")
            rest = [item for i, item in enumerate(items) if i not in named]
            return send_splitting(rest, send, refuse, what=what, on_split=on_split)
        if len(items) == 1:
            refuse(items[0], f"Brevo refused the {what} ({error.status} {error.code}): {error.reason}")
            return 0
        LOGGER.warning(
            "Brevo refused a request of %d %ss (%s %s); splitting it to isolate the bad ones",
            len(items),
            what,
            error.status,
            error.reason,
        )
        on_split()
        half = len(items) // 2
        return send_splitting(items[:half], send, refuse, what=what, on_split=on_split) + send_splitting(
            items[half:], send, refuse, what=what, on_split=on_split
        )


class HeldRequest(abc.ABC, Generic[T]):
    """Holds one bulk request's items and sends the request the moment it is full; `flush` sends the rest.

    Subclasses say how a full request is sent (`_send`)."""

    def __init__(self, batch: KeyedBatch[T]) -> None:
        self._batch = batch

    def _hold(self, key: str, item: T, size: int) -> bool:
        """Hold `item`, sending the held request first when it has no room; False if it can never fit."""
        batch = self._batch
        if batch.never_fits(size):
            return False
        if not batch.has_room(key, size):
            self._send(batch.take())
        batch.put(key, item, size)
        if batch.full:
            self._send(batch.take())
        return True

    @property
    def pending(self) -> int:
        """Items held and not sent yet."""
        return len(self._batch)

    def flush(self) -> None:
        if len(self._batch):
            self._send(self._batch.take())

    @abc.abstractmethod
    def _send(self, items: list[T]) -> None:
        """Send one full (or, on flush, partial) request."""
