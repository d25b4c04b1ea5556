"""Split payload items into requests that respect a row limit and a byte limit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

import orjson

T = TypeVar("T")


class ItemTooLarge(ValueError):
    """One item alone is over the byte limit of a request."""


def chunk(
    items: Iterable[T],
    *,
    max_rows: int,
    max_bytes: int,
    envelope_bytes: int = 64,
    encode: Any = orjson.dumps,
    on_too_large: Any = None,
) -> Iterator[list[T]]:
    """Yield lists of items; each list's encoded JSON array plus `envelope_bytes` fits in `max_bytes`.

    `on_too_large(item, size)` receives items that could never fit; without it they raise ItemTooLarge.
    """
    batch: list[T] = []
    size = envelope_bytes + 2  # the array brackets
    for item in items:
        item_size = len(encode(item)) + 1  # plus its comma
        if envelope_bytes + 2 + item_size > max_bytes:
            if on_too_large is None:
                raise ItemTooLarge(f"one item is {item_size} bytes, over the {max_bytes}-byte request limit")
            on_too_large(item, item_size)
            continue
        if batch and (len(batch) >= max_rows or size + item_size > max_bytes):
            yield batch
            batch, size = [], envelope_bytes + 2
        batch.append(item)
        size += item_size
    if batch:
        yield batch


def fixed(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
