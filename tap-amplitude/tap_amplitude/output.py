"""Singer output: the SDK's msgspec writer, with a direct path for records the tap builds already typed.

The SDK writes a RECORD by building a `RecordMessage` (with a fresh datetime), turning it into a dict and
flushing stdout, per record. `write_record` encodes the same line straight into a buffer instead, and the buffer
goes out in large writes; `write_records` does the same for many records at once (the events of one
decompressed piece). Every other message (SCHEMA, STATE, ...) flushes the buffer first, so the order of
messages on stdout is exactly the order in which they were written.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None  # type: ignore[assignment]

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter, enc_hook

FLUSH_BYTES = 1 << 20
PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size
STAMP_SECONDS = 0.001  # time_extracted is refreshed at most once per millisecond

# Also encodes the lines of BATCH files (batches.py): a record reads the same in either form.
ENCODER = msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number")


def widen_pipe(stream: Any) -> None:
    """Give a pipe on `stream` a PIPE_BYTES buffer (Linux): each 1 MB write then wakes the reader once, not once
    per 64 KB. Anything else (a file, a terminal, another OS, a limit lower than PIPE_BYTES) is left as it is."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if set_size is None:
        return
    try:
        if stat.S_ISFIFO(os.fstat(stream.fileno()).st_mode):
            fcntl.fcntl(stream.fileno(), set_size, PIPE_BYTES)
    except (OSError, ValueError, AttributeError):
        pass


class SingerOutput(MsgSpecWriter):
    """The SDK's message writer, buffered, with a direct RECORD path (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        self._line = bytearray()
        self._prefixes: dict[str, bytes] = {}
        self._stamp = b""
        self._stamp_until = 0.0
        widen_pipe(sys.stdout)

    def write_message(self, message: Any) -> None:
        self._pending += self.format_message(message)
        self.flush()

    def write_record(self, stream: str, record: Any, version: int | None = None) -> None:
        """One RECORD line, as the SDK would write it: `record` (a dict or a msgspec struct) is encoded as is."""
        self.write_records(stream, (record,), version)

    def write_records(self, stream: str, records: Iterable[Any], version: int | None = None) -> None:
        """`write_record` for each of `records`, in one step."""
        prefix = self._prefixes.get(stream)
        if prefix is None:
            prefix = self._prefixes[stream] = b'{"type":"RECORD","stream":' + ENCODER.encode(stream) + b',"record":'
        version_field = b"" if version is None else b',"version":%d' % version
        # Each line is built aside and joins the pending output in one step: a signal handler that writes a
        # message (the SDK's final STATE on SIGTERM) can then never land inside a half-written line.
        line = self._line
        encode_into, clock = ENCODER.encode_into, time.time
        stamp, stamp_until = self._stamp, self._stamp_until
        for record in records:
            line.clear()
            line += prefix
            encode_into(record, line, -1)
            if version_field:
                line += version_field
            now = clock()
            if now >= stamp_until:
                stamp = b',"time_extracted":' + ENCODER.encode(datetime.fromtimestamp(now, UTC)) + b"}\n"
                stamp_until = now + STAMP_SECONDS
            line += stamp
            self._pending += line
        self._stamp, self._stamp_until = stamp, stamp_until
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
