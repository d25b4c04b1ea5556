"""A downloaded export zip, read back hour by hour as decoded events, one gzip line at a time, so memory stays flat
whatever the size. Used by the tap's own process and by export workers (export_workers.py), so it needs no HTTP."""

from __future__ import annotations

import codecs
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import IO, Any, Self, TypeVar

import msgspec

from tap_amplitude.errors import AmplitudeError
from tap_amplitude.hours import Window

# ISA-L's inflate (the `isal` package), where installed, gunzips export members about 2.5x faster than zlib: the
# same bytes out, the same CRC and length checks, its own exception type.
try:
    from isal import isal_zlib as inflate_library
except ImportError:
    inflate_library = zlib

# <projectId>/<projectId>_<YYYY-MM-DD>_<H>#<n>.json.gz; the hour is not zero-padded.
ENTRY_NAME = re.compile(r"_(\d{4}-\d{2}-\d{2})_(\d{1,2})#(\d+)\.json(?:\.gz)?$")
VERIFY_CHUNK = 1 << 20
READ_CHUNK = 1 << 16  # compressed bytes per read
INFLATE_LIMIT = 1 << 22  # decompressed bytes per piece: bounds memory even for a pathological member
GZIP_WBITS = 16 + zlib.MAX_WBITS
INFLATE_ERRORS = (zlib.error, inflate_library.error)
T = TypeVar("T")


class CorruptExport(AmplitudeError):
    """An archive member that does not decompress or decode; the run stops instead of skipping data."""


class ExportArchive:
    """A spooled export zip, read back per hour in chronological order."""

    def __init__(self, spool: IO[bytes], window: Window) -> None:
        self.window = window
        self._spool = spool
        self._zip = zipfile.ZipFile(spool)

    def close(self) -> None:
        self._zip.close()
        self._spool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def verify(self) -> None:
        """Check every member's CRC before any event is emitted: a damaged transfer is retried, not half-read."""
        for info in self._zip.infolist():
            try:
                with self._zip.open(info) as member:
                    while member.read(VERIFY_CHUNK):
                        pass
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise zipfile.BadZipFile(f"member {info.filename}: {exc}") from exc

    def hours(self) -> list[tuple[datetime, list[str]]]:
        """Member names grouped by the hour in their name, oldest hour first, partitions in order.

        Names sort as text (hour 10 before hour 2), so the order is rebuilt from the parsed hour.
        A name that does not follow the documented pattern is read with the window's last hour.
        """
        by_hour: dict[datetime, list[tuple[int, str]]] = {}
        for info in self._zip.infolist():
            if info.is_dir():
                continue
            match = ENTRY_NAME.search(info.filename)
            if match:
                day, hour, part = match.groups()
                key = datetime.strptime(day, "%Y-%m-%d").replace(hour=int(hour), tzinfo=UTC)
                partition = int(part)
            else:
                key, partition = self.window.last, 1 << 30
            by_hour.setdefault(key, []).append((partition, info.filename))
        return [(hour, [name for _, name in sorted(members)]) for hour, members in sorted(by_hour.items())]

    def events(self, hour: datetime, name: str, decode: Callable[[bytes], T]) -> Iterator[T]:
        """`decode(line)` for each line of one member; a corrupt member raises `CorruptExport` naming the hour."""
        for batch in self.event_batches(hour, name, decode):
            yield from batch

    def event_batches(self, hour: datetime, name: str, decode: Callable[[bytes], T]) -> Iterator[list[T]]:
        """`events`, a list per decompressed piece (a few hundred lines): the caller's per-event loop then runs
        without a generator step per event. Blank lines are skipped; a corrupt member raises `CorruptExport`."""
        return member_batches(self._zip, hour, name, decode)

    @property
    def path(self) -> str | None:
        """Where the spool is on disk, for another process to read it (None for an anonymous spool)."""
        name = getattr(self._spool, "name", None)
        return name if isinstance(name, str) else None


def member_batches(
    archive: zipfile.ZipFile, hour: datetime, name: str, decode: Callable[[bytes], T]
) -> Iterator[list[T]]:
    """`ExportArchive.event_batches` for an open zip."""
    line_number = 0  # lines before the current piece
    try:
        with archive.open(name) as member:
            chunks = _gunzip(member) if _is_gzip_name(name) else iter(lambda: member.read(READ_CHUNK), b"")
            for lines in _line_lists(_utf8_checked(chunks)):
                try:
                    batch = [decode(line) for line in lines if line and not line.isspace()]
                except msgspec.DecodeError:
                    line_number += _first_undecodable(lines, decode)
                    raise
                line_number += len(lines)
                yield batch
    except (OSError, EOFError, *INFLATE_ERRORS, zipfile.BadZipFile) as exc:
        raise CorruptExport(
            f"export of hour {hour:%Y-%m-%dT%H}:00Z is corrupt: member {name} does not decompress "
            f"after line {line_number} ({type(exc).__name__}: {exc}); stopping rather than skipping data. "
            "Re-run to download it again; if it persists, report it to Amplitude."
        ) from None
    except UnicodeDecodeError as exc:
        raise CorruptExport(
            f"export of hour {hour:%Y-%m-%dT%H}:00Z is corrupt: member {name} is not UTF-8 text after line "
            f"{line_number} ({exc.reason}); stopping rather than skipping data."
        ) from None
    except msgspec.DecodeError as exc:
        raise CorruptExport(
            f"export of hour {hour:%Y-%m-%dT%H}:00Z is corrupt: member {name} line {line_number} "
            f"is not a JSON object ({exc}); stopping rather than skipping data."
        ) from None


def _first_undecodable(lines: list[bytes], decode: Callable[[bytes], Any]) -> int:
    """The 1-based number, within `lines`, of the first line that does not decode."""
    for number, line in enumerate(lines, start=1):
        if line and not line.isspace():
            try:
                decode(line)
            except msgspec.DecodeError:
                return number
    return len(lines)


def _gunzip(member: IO[bytes]) -> Iterator[bytes]:
    """The decompressed bytes of a gzip file, in pieces of at most INFLATE_LIMIT: faster than `GzipFile` line
    reads. Checks each gzip member's CRC and length; concatenated members are read in turn, zero padding after
    the last is ignored; a stream cut short raises `EOFError`."""
    inflate = inflate_library.decompressobj(GZIP_WBITS)
    started = False
    while chunk := member.read(READ_CHUNK):
        pending = chunk
        while pending:
            if inflate.eof:  # data after a complete gzip member: another member, or zero padding
                if not pending.strip(b"\0"):
                    break
                inflate = inflate_library.decompressobj(GZIP_WBITS)
            started = True
            piece = inflate.decompress(pending, INFLATE_LIMIT)
            if piece:
                yield piece
            pending = inflate.unused_data if inflate.eof else inflate.unconsumed_tail
    while started and not inflate.eof and (piece := inflate.decompress(b"", INFLATE_LIMIT)):
        yield piece
    if started and not inflate.eof:
        raise EOFError("compressed data ended before the end-of-stream marker was reached")


def _utf8_checked(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """`chunks`, checked to be UTF-8 (raises `UnicodeDecodeError`): the decoder passes object fields through as
    they are (`ForwardedEvent`), so it no longer sees every byte. An ASCII chunk, the usual case, costs next to
    nothing; a character cut by a chunk boundary is checked with the next chunk."""
    check = codecs.getincrementaldecoder("utf-8")().decode
    for chunk in chunks:
        if not chunk.isascii():
            check(chunk)
        yield chunk
    check(b"", True)


def _line_lists(chunks: Iterator[bytes]) -> Iterator[list[bytes]]:
    """The lines (without their newline) of each chunk, a line cut by a chunk boundary joined to the next chunk."""
    rest = b""
    for chunk in chunks:
        lines = (rest + chunk if rest else chunk).split(b"\n")
        rest = lines.pop()
        if lines:
            yield lines
    if rest:
        yield [rest]


def _is_gzip_name(name: str) -> bool:
    return name.endswith(".gz")
