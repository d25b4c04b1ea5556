"""Singer output: the SDK's msgspec writer, with a direct path for records the tap builds already typed.

The SDK writes a RECORD by building a `RecordMessage` (with a fresh datetime), turning it into a dict and
flushing stdout, per record. `write_record` encodes the same line straight into a buffer instead
(record_lines.py), and the buffer goes out in large writes; `write_records` does the same for many records at
once (the events of one decompressed piece); `write_lines` takes lines that export workers encoded. Every other
message (SCHEMA, STATE, ...) flushes the buffer first, so the order of messages on stdout is exactly the order in
which they were written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter, enc_hook

from tap_amplitude.record_lines import RecordLines, widen_pipe, write_all

FLUSH_BYTES = 1 << 20

# Also encodes the lines of BATCH files (batches.py): a record reads the same in either form.
ENCODER = msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number")


class SingerOutput(MsgSpecWriter):
    """The SDK's message writer, buffered, with a direct RECORD path (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        self._lines = RecordLines(ENCODER)
        self._writing = False
        self._deferred: Callable[[], None] | None = None
        widen_pipe(sys.stdout)

    def write_message(self, message: Any) -> None:
        self._pending += self.format_message(message)
        self.flush()

    def write_record(self, stream: str, record: Any, version: int | None = None) -> None:
        """One RECORD line, as the SDK would write it: `record` (a dict or a msgspec struct) is encoded as is."""
        self.write_records(stream, (record,), version)

    def write_records(self, stream: str, records: Iterable[Any], version: int | None = None) -> None:
        """`write_record` for each of `records`, in one step."""
        self._lines.append(self._pending, stream, records, version)
        if len(self._pending) >= FLUSH_BYTES:
            self.flush()

    def write_lines(self, lines: bytes | bytearray | memoryview) -> None:
        """RECORD lines encoded elsewhere (by export workers), written as they are."""
        if len(self._pending) + len(lines) < FLUSH_BYTES:
            self._pending += lines
            return
        self.flush()
        self._write_out(lines)
        sys.stdout.flush()

    def flush(self) -> None:
        # Swapped out before writing and emptied after, so that whatever a signal handler writes meanwhile
        # (the SDK's final STATE on SIGTERM) goes out exactly once.
        pending, self._pending = self._pending, bytearray()
        if pending:
            self._write_out(pending)
            pending.clear()
        sys.stdout.flush()

    def defer_while_writing(self, handler: Callable[[], None]) -> bool:
        """Whether a write is under way; if so, `handler` runs right after it instead of now. For the SIGTERM
        handler, whose STATE message would otherwise land inside a line of which only a part was written."""
        if not self._writing:
            return False
        self._deferred = handler
        return True

    def _write_out(self, data: bytes | bytearray | memoryview) -> None:
        self._writing = True
        try:
            write_all(sys.stdout.buffer, data)
        finally:
            self._writing = False
        if self._deferred is not None:
            handler, self._deferred = self._deferred, None
            handler()
