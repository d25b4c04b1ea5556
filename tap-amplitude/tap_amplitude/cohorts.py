"""Cohorts: the list, and the asynchronous member download (request, poll, file or 302, CSV stream)."""

from __future__ import annotations

import csv
import io
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import msgspec

from tap_amplitude.client import AmplitudeClient, AmplitudeError, strip_query
from tap_amplitude.hours import epoch_seconds_to_rfc3339

CHUNK = 1 << 20
MAX_LINK_RENEWALS = 3
_decode_json = msgspec.json.Decoder().decode


def cohort_record(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": raw.get("id"),
        "name": raw.get("name"),
        "description": raw.get("description"),
        "size": raw.get("size"),
        "last_computed": epoch_seconds_to_rfc3339(raw.get("lastComputed")),
        "last_modified": epoch_seconds_to_rfc3339(raw.get("lastMod")),
        "created_at": epoch_seconds_to_rfc3339(raw.get("createdAt")),
        "archived": raw.get("archived"),
        "published": raw.get("published"),
        "finished": raw.get("finished"),
        "hidden": raw.get("hidden"),
        "owners": raw.get("owners"),
        "viewers": raw.get("viewers"),
        "type": raw.get("type"),
        "app_id": raw.get("appId"),
        "definition": raw.get("definition"),
    }


def list_cohorts(client: AmplitudeClient) -> list[dict[str, Any]]:
    response = client.get("/api/3/cohorts", what="cohort list")
    body = response.json()
    cohorts = body.get("cohorts") if isinstance(body, dict) else None
    if not isinstance(cohorts, list):
        raise AmplitudeError("cohort list: the response has no 'cohorts' array")
    return cohorts


def select_cohorts(cohorts: list[dict[str, Any]], wanted: Sequence[str] | None) -> list[dict[str, Any]]:
    """Cohorts named in `wanted` (by id or name, archived or not), else every non-archived cohort."""
    if not wanted:
        return [c for c in cohorts if not c.get("archived")]
    chosen = []
    for key in wanted:
        matches = [c for c in cohorts if c.get("id") == key] or [c for c in cohorts if c.get("name") == key]
        if not matches:
            raise AmplitudeError(f"cohort_ids: no cohort has the id or name {key!r}")
        if len(matches) > 1:
            raise AmplitudeError(f"cohort_ids: {len(matches)} cohorts are named {key!r}; use the cohort id instead")
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


@dataclass
class Snapshot:
    """A downloaded cohort file, spooled to disk and checked before any member is emitted."""

    spool: IO[bytes]
    size: int

    def rows(self) -> Iterator[dict[str, str]]:
        self.spool.seek(0)
        text = io.TextIOWrapper(self.spool, encoding="utf-8-sig", newline="")
        try:
            reader = csv.DictReader(text)
            yield from reader
        finally:
            text.detach()

    def close(self) -> None:
        self.spool.close()


class CohortDownloader:
    """Amplitude's asynchronous cohort download: request the member file, poll the job, fetch the file."""

    def __init__(
        self, client: AmplitudeClient, *, poll_timeout: float, poll_interval: float, poll_max_interval: float = 60.0
    ) -> None:
        self.client = client
        self.poll_timeout = poll_timeout
        self.poll_interval = poll_interval
        self.poll_max_interval = poll_max_interval

    def request(self, cohort_id: str, properties: Sequence[str]) -> str:
        params: list[tuple[str, Any]] = [("props", 1 if properties else 0)]
        params += [("propKeys", key) for key in properties]
        response = self.client.get(
            f"/api/5/cohorts/request/{cohort_id}",
            params,
            accept=(200, 202),
            what=f"cohort {cohort_id} download request",
        )
        request_id = response.json().get("request_id")
        if not request_id:
            raise AmplitudeError(f"cohort {cohort_id} download request: the response has no request_id")
        return str(request_id)

    def wait(self, cohort_id: str, request_id: str) -> None:
        """Poll the job with a growing interval until it completes or `poll_timeout` passes."""
        deadline = time.monotonic() + self.poll_timeout
        interval = self.poll_interval
        polls = 0
        while True:
            response = self.client.get(
                f"/api/5/cohorts/request-status/{request_id}", accept=(200, 202), what=f"cohort {cohort_id} status"
            )
            polls += 1
            status = str(response.json().get("async_status", ""))
            if response.status_code == 200 and "COMPLETED" in status.upper():
                self.client.logger.info("Cohort %s: job %s completed after %d polls", cohort_id, request_id, polls)
                return
            if any(word in status.upper() for word in ("FAILED", "ERROR", "CANCEL")):
                raise AmplitudeError(f"cohort {cohort_id}: Amplitude reports the download job {status!r}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AmplitudeError(
                    f"cohort {cohort_id}: the download job was not ready after {self.poll_timeout:g} s "
                    f"({polls} polls, last status {status!r}); raise cohort_poll_timeout"
                )
            time.sleep(min(interval, remaining))
            interval = min(interval * 2, self.poll_max_interval)

    def fetch(self, cohort_id: str, request_id: str) -> Snapshot:
        """The file: in the body, or behind a short-lived 302 link, re-requested when the link has expired."""
        what = f"cohort {cohort_id} file"
        for renewal in range(MAX_LINK_RENEWALS + 1):
            response = self.client.get(
                f"/api/5/cohorts/request/{request_id}/file",
                accept=(200, 302),
                stream=True,
                allow_redirects=False,
                what=what,
            )
            if response.status_code == 200:
                return self._spool(cohort_id, response)
            location = response.headers.get("Location")
            response.close()
            if not location:
                raise AmplitudeError(f"{what}: HTTP 302 without a Location header")
            download = self.client.get_anonymous(location, accept=(200, 403), what=f"{what} download")
            if download.status_code == 200:
                return self._spool(cohort_id, download)
            download.close()
            self.client.logger.warning(
                "%s: the download link %s has expired (HTTP 403); asking for a new one (%d of %d)",
                what,
                strip_query(location),
                renewal + 1,
                MAX_LINK_RENEWALS,
            )
        raise AmplitudeError(
            f"{what}: every download link had expired before it could be used ({MAX_LINK_RENEWALS + 1} links)"
        )

    def _spool(self, cohort_id: str, response: Any) -> Snapshot:
        spool = tempfile.TemporaryFile(prefix="tap-amplitude-cohort-")  # noqa: SIM115  (handed over in the Snapshot)
        with response:
            for chunk in response.iter_content(CHUNK):
                spool.write(chunk)
        try:
            size = _count_members(spool)
        except (csv.Error, UnicodeDecodeError, AmplitudeError) as exc:
            spool.close()
            raise AmplitudeError(f"cohort {cohort_id}: the member file is not a readable CSV ({exc})") from None
        return Snapshot(spool, size)


def _count_members(spool: IO[bytes]) -> int:
    """Count the members and check the header, so the size is known before the first member is emitted."""
    spool.seek(0)
    text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            raise AmplitudeError("the file is empty, without even a header")
        if "user_id" not in header:
            raise AmplitudeError(f"no user_id column in the header {header}")
        width = len(header)
        count = 0
        for line_number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != width:
                raise AmplitudeError(f"line {line_number} has {len(row)} fields, the header {width}")
            count += 1
        return count
    finally:
        text.detach()


def member_value(text: str) -> Any:
    """Property cells hold plain text, or JSON for lists and objects."""
    if text[:1] in ("[", "{"):
        try:
            return _decode_json(text)
        except msgspec.DecodeError:
            return text
    return text
