"""The Export API: download a window of hours (halving it on 400/504), spool the zip to disk, and read it
back hour by hour as decoded events, one gzip line at a time, so memory stays flat whatever the size."""

from __future__ import annotations

import codecs
import re
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Self, TypeVar

import msgspec
import requests

from tap_amplitude.client import AmplitudeClient, AmplitudeError, error_details
from tap_amplitude.hours import Window, export_param
from tap_amplitude.readahead import read_ahead

# ISA-L's inflate (the `isal` package), where installed, gunzips export members about 2.5x faster than zlib: the
# same bytes out, the same CRC and length checks, its own exception type.
try:
    from isal import isal_zlib as inflate_library
except ImportError:
    inflate_library = zlib

EXPORT_PATH = "/api/2/export"
NO_DATA_PHRASE = "Raw data files were not found"
ZIP_MAGIC = b"PK\x03\x04"
CHUNK = 1 << 20
S3_HINT = (
    "Amplitude cannot export this hour through the Export API (it is over 4 GB or times out); "
    "use Amplitude's Amazon S3 export for it (https://amplitude.com/docs/data/destination-catalog/amazon-s3)"
)
# <projectId>/<projectId>_<YYYY-MM-DD>_<H>#<n>.json.gz; the hour is not zero-padded.
ENTRY_NAME = re.compile(r"_(\d{4}-\d{2}-\d{2})_(\d{1,2})#(\d+)\.json(?:\.gz)?$")

READ_CHUNK = 1 << 16  # compressed bytes per read
INFLATE_LIMIT = 1 << 22  # decompressed bytes per piece: bounds memory even for a pathological member
GZIP_WBITS = 16 + zlib.MAX_WBITS
INFLATE_ERRORS = (zlib.error, inflate_library.error)
T = TypeVar("T")


class ExportTooLarge(AmplitudeError):
    """A single hour that Amplitude will not export (400 or 504)."""


class CorruptExport(AmplitudeError):
    """An archive member that does not decompress or decode; the run stops instead of skipping data."""


@dataclass
class Download:
    """One downloaded window: its spooled archive, or None when Amplitude has no data for it."""

    window: Window
    archive: ExportArchive | None  # None: HTTP 404 with Amplitude's "no data" phrase
    size_bytes: int = 0
    seconds: float = 0.0

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


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
                    while member.read(CHUNK):
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
        line_number = 0  # lines before the current piece
        try:
            with self._zip.open(name) as member:
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


class Exporter:
    """Downloads windows, splitting on 400/504 and retrying bodies that are not a sound zip."""

    def __init__(self, client: AmplitudeClient) -> None:
        self.client = client
        self.splits = 0
        self.downloads = 0

    def download_all(self, windows: Iterable[Window]) -> Iterator[Download]:
        """Every window's downloads in hour order; the next one downloads while the caller reads the current one."""
        return read_ahead(
            (download for window in windows for download in self.download(window)),
            Download.close,
            name="export-download",
        )

    def download(self, window: Window) -> Iterator[Download]:
        """The window's downloads in hour order: one, or several after splitting."""
        pending = [window]
        while pending:
            current = pending.pop(0)
            outcome = self._download_once(current)
            if isinstance(outcome, Download):
                yield outcome
                continue
            left, right = current.halves()
            self.splits += 1
            self.client.logger.warning(
                "Export of %s (%d h) refused (%s); retrying as %s and %s", current, current.hours, outcome, left, right
            )
            pending[:0] = [left, right]

    def _download_once(self, window: Window) -> Download | str:
        """A Download, or the reason the window must be split."""
        params = {"start": export_param(window.first), "end": export_param(window.last)}
        what = f"export {window}"
        attempt = 0
        while True:
            started = time.monotonic()
            response = self.client.get(EXPORT_PATH, params, accept=(200, 400, 404, 504), stream=True, what=what)
            status = response.status_code
            if status == 404:
                body = response.text
                response.close()
                if NO_DATA_PHRASE in body:
                    return Download(window, None, 0, time.monotonic() - started)
                raise AmplitudeError(
                    f"{what}: HTTP 404 without {NO_DATA_PHRASE!r}: the export URL {self.client.base_url}{EXPORT_PATH} "
                    "looks wrong (check api_url)"
                )
            if status in (400, 504):
                details = _details(response)
                if window.hours > 1:
                    return f"HTTP {status}: {details}"
                if status == 504 and attempt < self.client.max_retries:
                    self.client.logger.warning("%s: HTTP 504, retrying (attempt %d)", what, attempt + 1)
                    self.client.wait_before_retry(attempt)
                    attempt += 1
                    continue
                raise ExportTooLarge(
                    f"export of hour {window.first:%Y-%m-%dT%H}:00Z failed with HTTP {status} ({details}) even as a "
                    f"single hour. {S3_HINT}"
                )
            spool, size, problem = self._spool(response)
            if problem is None:
                try:
                    archive = ExportArchive(spool, window)
                    archive.verify()
                except zipfile.BadZipFile as exc:
                    spool.close()
                    problem = f"damaged zip ({exc})"
                else:
                    self.downloads += 1
                    return Download(window, archive, size, time.monotonic() - started)
            else:
                spool.close()
            if attempt >= self.client.max_retries:
                raise AmplitudeError(f"{what}: HTTP 200 but {problem}, after {attempt + 1} attempts")
            self.client.logger.warning(
                "%s: HTTP 200 but %s; retrying (attempt %d of %d)", what, problem, attempt + 1, self.client.max_retries
            )
            self.client.wait_before_retry(attempt)
            attempt += 1

    def _spool(self, response: Any) -> tuple[IO[bytes], int, str | None]:
        """Copy the body to an anonymous temp file; report a body that is not a zip or was cut short."""
        spool = tempfile.TemporaryFile(prefix="tap-amplitude-export-")  # noqa: SIM115  (returned to the caller)
        size = 0
        try:
            with response:
                for chunk in response.iter_content(CHUNK):
                    spool.write(chunk)
                    size += len(chunk)
        except (requests.RequestException, OSError) as exc:
            return spool, size, f"the transfer broke off after {size} bytes ({type(exc).__name__})"
        spool.seek(0)
        head = spool.read(4)
        spool.seek(0)
        if head != ZIP_MAGIC:
            return spool, size, f"the body is not a zip archive ({size} bytes, starts with {head!r})"
        return spool, size, None


def _details(response: Any) -> str:
    try:
        return error_details(response)
    finally:
        response.close()


__all__ = ["CorruptExport", "Download", "ExportArchive", "ExportTooLarge", "Exporter"]
