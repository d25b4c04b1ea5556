"""Produce the next item of an iterator in a background thread while the caller works on the current one.

Used for export downloads: window N+1 downloads while window N is read, so a multi-window run costs about
max(download, read) per window instead of their sum. At most two items exist at once (the caller's and the
next), so at most two export spools are on disk.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_END = object()


class _Failure:
    """An exception of the producer thread, carried to the consumer in item order."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(
    items: Iterator[T],
    discard: Callable[[T], None],
    *,
    name: str = "read-ahead",
    ready: threading.Event | None = None,
) -> Iterator[T]:
    """`items` in order, each produced one step ahead. An exception raised while producing an item is raised
    here, in order, after the items before it. Items produced but never handed over are passed to `discard`.
    `ready`, if given, is set while the next item (or the end) is waiting: taking it would not block."""
    handoff: queue.Queue[Any] = queue.Queue()
    ready = ready or threading.Event()
    done_with_one = threading.Semaphore(1)  # the producer may run one item ahead of the consumer
    stop = threading.Event()
    lock = threading.Lock()

    def produce() -> None:
        try:
            for item in items:
                with lock:
                    accepted = not stop.is_set()
                    if accepted:
                        handoff.put(item)
                        ready.set()
                if not accepted:
                    discard(item)
                    return
                done_with_one.acquire()
                if stop.is_set():
                    return
        except BaseException as error:  # noqa: BLE001  (re-raised in the consumer's thread)
            hand_over(_Failure(error))
            return
        hand_over(_END)

    def hand_over(item: Any) -> None:
        with lock:
            handoff.put(item)
            ready.set()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    first = True
    try:
        while True:
            if not first:
                done_with_one.release()
            first = False
            item = handoff.get()
            with lock:
                if handoff.empty():
                    ready.clear()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        with lock:
            stop.set()
            leftovers = []
            while not handoff.empty():
                leftovers.append(handoff.get_nowait())
        done_with_one.release()  # wake the producer so that it sees `stop`
        for leftover in leftovers:
            if leftover is not _END and not isinstance(leftover, _Failure):
                discard(leftover)
