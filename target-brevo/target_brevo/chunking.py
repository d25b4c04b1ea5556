"""Split payload items into requests that respect a row limit and a byte limit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

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
