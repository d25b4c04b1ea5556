"""Group commit: concurrent requests' appends share transactions, so one fsync acknowledges many requests.

A webhook sender typically posts one small item per request. An fsync per request would cap the receiver at the
disk's sync rate and block the event loop meanwhile; instead, requests queue their items, one thread commits
whatever has queued while the previous commit was being synced, and each request resumes once its rows are
durable.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from queue import Empty, SimpleQueue

from webhook_receiver.spool import Item, Spool, SpoolError

MAX_GROUP = 512  # requests per transaction at most

_STOP = object()


class GroupCommitter:
    """Appends to `spool` from any thread or event loop, in shared transactions made by one background thread."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.commits = 0  # transactions made
        self._queue: SimpleQueue[tuple[Sequence[Item], Future[int]] | object] = SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="spool-committer", daemon=True)
        self._thread.start()

    def submit(self, items: Sequence[Item]) -> Future[int]:
        """A future for the seq of the last of `items`, set once they are durable (or SpoolError)."""
        future: Future[int] = Future()
        self._queue.put((items, future))
        return future

    async def append(self, items: Sequence[Item]) -> int:
        return await asyncio.wrap_future(self.submit(items))

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            entry = self._queue.get()
            if entry is _STOP:
                break
            group = [entry]
            while len(group) < MAX_GROUP:
                try:
                    entry = self._queue.get_nowait()
                except Empty:
                    break
                if entry is _STOP:
                    stopping = True
                    break
                group.append(entry)
            self._commit(group)  # type: ignore[arg-type]

    def _commit(self, group: list[tuple[Sequence[Item], Future[int]]]) -> None:
        # A request whose caller gave up (its future was cancelled) is not written: nobody will acknowledge it.
        live = [(items, future) for items, future in group if future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            lasts = self.spool.append_groups([items for items, _ in live])
        except SpoolError as exc:
            for _, future in live:
                future.set_exception(exc)
            return
        except Exception as exc:  # noqa: BLE001  (an unexpected failure still answers every request; the thread goes on)
            for _, future in live:
                future.set_exception(SpoolError(f"spool {self.spool.path}: {exc!r}"))
            return
        self.commits += 1
        for (_, future), last in zip(live, lasts, strict=True):
            future.set_result(last)
