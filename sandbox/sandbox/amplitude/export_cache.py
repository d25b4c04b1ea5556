"""Finished export zips kept on disk and served again, as Amplitude serves prepared files.

An entry is keyed by everything its bytes depend on: the project ID (folder and entry names), the events per
partition, and each exported hour with its event count and byte total. Events are only ever appended (ingestion,
seeding), and appending to an hour changes its count, so while the key matches, nothing was ingested into the
window since the zip was built. Only a reset (the store wiped) can put different events under the same counts:
`clear()` drops every entry then, and a zip still being built from the old data is not kept.

Files, not memory: the sandbox's memory stays flat whatever the export size. The folder lives next to the
project's store and is emptied when the project is created (a file left by an earlier process may describe
other data).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import IO

READ_CHUNK = 1 << 20

Key = tuple[int, int, tuple[tuple[int, int, int], ...]]  # (project ID, events per partition, (hour, events, bytes)...)


class ExportCache:
    """At most `budget()` bytes of zips in `folder`, least recently served dropped first."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, tuple[Path, int]] = OrderedDict()  # least recently used first
        self._generation = 0
        shutil.rmtree(folder, ignore_errors=True)

    def clear(self) -> None:
        """Forget every entry; zips being built now are not kept either (they may hold the old data)."""
        with self._lock:
            self._generation += 1
            entries, self._entries = list(self._entries.values()), OrderedDict()
        for path, _size in entries:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def open(self, key: Key) -> tuple[IO[bytes], int] | None:
        """The cached zip of `key`, opened (an eviction meanwhile cannot cut it short), and its size; or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            try:
                handle = entry[0].open("rb")
            except FileNotFoundError:
                del self._entries[key]
                return None
            return handle, entry[1]

    def recorder(self, key: Key, budget: int) -> Recorder | None:
        """Something to write a zip into while it is served; it becomes the entry of `key` if it completes."""
        if budget <= 0:
            return None
        with self._lock:
            generation = self._generation
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = tempfile.NamedTemporaryFile(dir=self.folder, prefix="building-", delete=False)  # noqa: SIM115
        except OSError:  # no room or no folder: the export is served all the same, just not kept
            return None
        return Recorder(self, key, handle, generation, budget)

    def keep(self, key: Key, built: Path, size: int, generation: int, budget: int) -> None:
        name = self.folder / (hashlib.sha256(repr(key).encode()).hexdigest()[:32] + ".zip")
        evicted: list[Path] = []
        with self._lock:
            try:
                if generation != self._generation:  # cleared while it was built: it may hold the old data
                    built.unlink()
                    return
                os.replace(built, name)
            except OSError:
                return
            self._entries.pop(key, None)
            self._entries[key] = (name, size)
            total = sum(s for _p, s in self._entries.values())
            while total > budget and len(self._entries) > 1:
                _old_key, (path, old_size) = self._entries.popitem(last=False)
                evicted.append(path)
                total -= old_size
        for path in evicted:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


class Recorder:
    """A zip being built while it is served: `write` each piece, then `finish()` (kept) or `abandon()`."""

    def __init__(self, cache: ExportCache, key: Key, handle: IO[bytes], generation: int, budget: int) -> None:
        self._cache, self._key, self._handle = cache, key, handle
        self._generation, self._budget = generation, budget
        self._size = 0
        self._open = True

    def write(self, data: bytes) -> None:
        if not self._open:
            return
        self._size += len(data)
        if self._size > self._budget:  # too large to keep: serve it, do not store it
            self.abandon()
            return
        try:
            self._handle.write(data)
        except OSError:  # disk full, say: the export goes on, uncached
            self.abandon()

    def finish(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            self._handle.close()
        except OSError:
            self._open = True
            self.abandon()
            return
        self._cache.keep(self._key, Path(self._handle.name), self._size, self._generation, self._budget)

    def abandon(self) -> None:
        if not self._open:
            return
        self._open = False
        with contextlib.suppress(OSError):
            self._handle.close()
        with contextlib.suppress(FileNotFoundError):
            Path(self._handle.name).unlink()


def file_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    """A cached zip's bytes, in large pieces; the file is closed at the end or when the client goes away."""
    with handle:
        while chunk := handle.read(READ_CHUNK):
            yield chunk
