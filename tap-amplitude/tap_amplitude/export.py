"""The Export API: download a window of hours (halving it on 400/504) and spool the zip to disk, where
archive.py reads it back hour by hour."""

from __future__ import annotations

import tempfile
import threading
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import requests

from tap_amplitude.archive import ExportArchive
from tap_amplitude.client import AmplitudeClient, AmplitudeError, error_details
from tap_amplitude.hours import Window, export_param
from tap_amplitude.readahead import read_ahead

EXPORT_PATH = "/api/2/export"
NO_DATA_PHRASE = "Raw data files were not found"
ZIP_MAGIC = b"PK\x03\x04"
CHUNK = 1 << 20
S3_HINT = (
    "Amplitude cannot export this hour through the Export API (it is over 4 GB or times out); "
    "use Amplitude's Amazon S3 export for it (https://amplitude.com/docs/data/destination-catalog/amazon-s3)"
)


class ExportTooLarge(AmplitudeError):
    """A single hour that Amplitude will not export (400 or 504)."""


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


class Exporter:
    """Downloads windows, splitting on 400/504 and retrying bodies that are not a sound zip."""

    def __init__(self, client: AmplitudeClient) -> None:
        self.client = client
        self.splits = 0
        self.downloads = 0

    def download_all(self, windows: Iterable[Window], ready: threading.Event | None = None) -> Iterator[Download]:
        """Every window's downloads in hour order; the next one downloads while the caller reads the current one
        (`ready` is set while it is there to take)."""
        return read_ahead(
            (download for window in windows for download in self.download(window)),
            Download.close,
            name="export-download",
            ready=ready,
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
        # Named, so that export workers can open it; removed when closed.
        spool = tempfile.NamedTemporaryFile(prefix="tap-amplitude-export-", suffix=".zip")  # noqa: SIM115
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


__all__ = ["Download", "ExportTooLarge", "Exporter"]
