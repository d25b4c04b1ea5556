"""Singer output: the SDK's msgspec writer, with a direct path for records the tap builds already typed.

The SDK writes a RECORD by building a `RecordMessage` (with a fresh datetime), turning it into a dict and
flushing stdout, per record. `write_record` encodes the same line straight into a buffer instead, and the buffer
goes out in large writes. Every other message (SCHEMA, STATE, ...) flushes the buffer first, so the order of
messages on stdout is exactly the order in which they were written.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter, enc_hook

FLUSH_BYTES = 1 << 20
STAMP_SECONDS = 0.001  # time_extracted is refreshed at most once per millisecond

# Also encodes the lines of BATCH files (batches.py): a record reads the same in either form.
ENCODER = msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number")


class SingerOutput(MsgSpecWriter):
    """The SDK's message writer, buffered, with a direct RECORD path (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        self._line = bytearray()
        self._prefixes: dict[str, bytes] = {}
        self._stamp = b""
        self._stamp_until = 0.0

    def write_message(self, message: Any) -> None:
        self._pending += self.format_message(message)
        self.flush()

    def write_record(self, stream: str, record: Any, version: int | None = None) -> None:
        """One RECORD line, as the SDK would write it: `record` (a dict or a msgspec struct) is encoded as is."""
        prefix = self._prefixes.get(stream)
        if prefix is None:
            prefix = self._prefixes[stream] = b'{"type":"RECORD","stream":' + ENCODER.encode(stream) + b',"record":'
        # The line is built aside and joins the pending output in one step: a signal handler that writes a
        # message (the SDK's final STATE on SIGTERM) can then never land inside a half-written line.
        line = self._line
        line.clear()
        line += prefix
        ENCODER.encode_into(record, line, -1)
        if version is not None:
            line += b',"version":%d' % version
        now = time.time()
        if now >= self._stamp_until:
            self._stamp = b',"time_extracted":' + ENCODER.encode(datetime.fromtimestamp(now, UTC)) + b"}\n"
            self._stamp_until = now + STAMP_SECONDS
        line += self._stamp
        self._pending += line
        if len(self._pending) >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        # Swapped out before writing and emptied after, so that whatever a signal handler writes meanwhile
        # (the SDK's final STATE on SIGTERM) goes out exactly once.
        pending, self._pending = self._pending, bytearray()
        stdout = sys.stdout
        if pending:
            stdout.buffer.write(pending)
            pending.clear()
        stdout.flush()
