"""Singer lines to a pipe: RECORD lines exactly as the SDK writes them, encoded straight from records the tap builds
already typed, and the writing of them.

Shared by the tap's output (output.py) and by export workers (export_workers.py), which must start without
importing the SDK.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None  # type: ignore[assignment]

import msgspec

STAMP_SECONDS = 0.001  # time_extracted is read from the clock at most once per millisecond
PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size


class RecordLines:
    """Appends RECORD lines (`record` a dict or a msgspec struct, encoded as is) to a buffer."""

    def __init__(self, encoder: msgspec.json.Encoder) -> None:
        self._encoder = encoder
        self._line = bytearray()
        self._prefixes: dict[str, bytes] = {}
        self._stamp = b""
        self._stamp_until = 0.0

    def append(self, out: bytearray, stream: str, records: Iterable[Any], version: int | None = None) -> None:
        prefix = self._prefixes.get(stream)
        if prefix is None:
            prefix = self._prefixes[stream] = (
                b'{"type":"RECORD","stream":' + self._encoder.encode(stream) + b',"record":'
            )
        version_field = b"" if version is None else b',"version":%d' % version
        # Each line is built aside and joins `out` in one step: a signal handler that writes a message (the SDK's
        # final STATE on SIGTERM) can then never land inside a half-written line.
        line = self._line
        encoder, encode_into, clock = self._encoder, self._encoder.encode_into, time.time
        stamp, stamp_until = self._stamp, self._stamp_until
        for record in records:
            line.clear()
            line += prefix
            encode_into(record, line, -1)
            if version_field:
                line += version_field
            now = clock()
            if now >= stamp_until:
                stamp = b',"time_extracted":' + encoder.encode(datetime.fromtimestamp(now, UTC)) + b"}\n"
                stamp_until = now + STAMP_SECONDS
            line += stamp
            out += line
        self._stamp, self._stamp_until = stamp, stamp_until


def write_all(stream: IO[bytes], data: bytes | bytearray | memoryview) -> None:
    """Write every byte of `data`: with PYTHONUNBUFFERED set, `sys.stdout.buffer` is the raw file, whose `write`
    may take only part of a large buffer (when a signal interrupts it, say)."""
    view = memoryview(data)
    while view:
        written = stream.write(view)
        view = view[written if written is not None else 0 :]


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
