"""Sorted runs on disk, for per-window aggregations that outgrow their memory bound (users, group members).

An aggregation keeps at most a bounded number of entries in memory; past the bound it writes them out as one run
(sorted by key, one JSON line per entry, in an anonymous temporary file), forgets them and goes on. At the end,
`merged` reads every run at once in key order (a k-way merge) and folds each key's entries, oldest run first.
Memory then holds one line per run, whatever the number of keys. JSON (msgspec) keeps every value exactly as
decoded from the export, integers of any size included.
"""

from __future__ import annotations

import heapq
import itertools
import tempfile
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from typing import IO, Any

import msgspec

MAX_RUNS = 128  # past it, the runs are merged into one before more are written: open files stay few
WRITE_BYTES = 1 << 20

_encoder = msgspec.json.Encoder()
_key = itemgetter(0)


class SortedRuns:
    """Runs of `(key, entry)` pairs, each written sorted by key; `fold` turns one key's entries (in the order
    their runs were written, the in-memory rest last) into its final state, itself a valid entry."""

    def __init__(self, pair_type: Any, fold: Callable[[list[Any]], Any]) -> None:
        self._decode = msgspec.json.Decoder(pair_type).decode
        self._fold = fold
        self._max_runs = MAX_RUNS
        self._files: list[IO[bytes]] = []
        self.written = 0  # entries written, compactions included

    def __len__(self) -> int:
        return len(self._files)

    def write(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        """One run of `pairs`, which must come sorted by key, each key once."""
        if len(self._files) >= self._max_runs:
            self._files = [self._run(self.merged(()))]
        self._files.append(self._run(pairs))

    def merged(self, rest: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
        """Every key once, in key order, with its folded state; `rest` (sorted by key) counts as the newest run.
        The runs are closed when the iteration ends."""
        files, self._files = self._files, []
        try:
            streams = [self._read(file) for file in files]
            for key, pairs in itertools.groupby(heapq.merge(*streams, rest, key=_key), key=_key):
                yield key, self._fold([entry for _, entry in pairs])
        finally:
            for file in files:
                file.close()

    def _run(self, pairs: Iterable[tuple[Any, Any]]) -> IO[bytes]:
        file = tempfile.TemporaryFile()  # noqa: SIM115  (open until merged)
        buffer = bytearray()
        encode_into = _encoder.encode_into
        count = 0
        for pair in pairs:
            encode_into(pair, buffer, -1)
            buffer += b"\n"  # JSON text never holds a raw newline
            count += 1
            if len(buffer) >= WRITE_BYTES:
                file.write(buffer)
                buffer.clear()
        file.write(buffer)
        file.seek(0)
        self.written += count
        return file

    def _read(self, file: IO[bytes]) -> Iterator[tuple[Any, Any]]:
        decode = self._decode
        for line in file:
            yield decode(line)
