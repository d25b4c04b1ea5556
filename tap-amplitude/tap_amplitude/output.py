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

_encoder = msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number")


class SingerOutput(MsgSpecWriter):
    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
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
            prefix = self._prefixes[stream] = b'{"type":"RECORD","stream":' + _encoder.encode(stream) + b',"record":'
        pending = self._pending
        pending += prefix
        _encoder.encode_into(record, pending, -1)
        if version is not None:
            pending += b',"version":%d' % version
        now = time.time()
        if now >= self._stamp_until:
            self._stamp = b',"time_extracted":' + _encoder.encode(datetime.fromtimestamp(now, UTC)) + b"}\n"
            self._stamp_until = now + STAMP_SECONDS
        pending += self._stamp
        if len(pending) >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        stdout = sys.stdout
        if self._pending:
            stdout.buffer.write(self._pending)
            self._pending.clear()
        stdout.flush()
