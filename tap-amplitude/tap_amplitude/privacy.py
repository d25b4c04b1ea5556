"""User Privacy API v1 (deletion jobs): which days to read, day ranges the API accepts, its 1 request/s pace,
and one record per (job day, Amplitude ID)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from tap_amplitude.client import AmplitudeClient, AmplitudeError, CredentialsError, error_details

DELETIONS_PATH = "/api/2/deletions/users"
MAX_DAYS_PER_REQUEST = 180  # Amplitude answers 400 for a range over six months
SECONDS_BETWEEN_REQUESTS = 1.0  # 1 request/s per project, over every privacy route
SCHEDULED_AHEAD_DAYS = 31  # a job's day is set when it is requested, up to about 30 days ahead
DEFAULT_LOOKBACK_DAYS = 40  # staging -> submitted -> done takes up to about 35 days from the request


def utc_day(moment: str) -> date:
    """The UTC day of an ISO 8601 date-time (`start_date`); a time without a zone is UTC."""
    parsed = datetime.fromisoformat(moment)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC).date()


def days_to_read(start: date, bookmark: date | None, lookback_days: int, today: date) -> tuple[date, date]:
    """First and last job day to list (both included): a job's status changes for weeks after it is first seen,
    so every run re-reads `lookback_days` before the bookmark, never before `start`."""
    first = start if bookmark is None else max(start, bookmark - timedelta(days=lookback_days))
    return first, today + timedelta(days=SCHEDULED_AHEAD_DAYS)


def day_chunks(first: date, last: date, max_days: int = MAX_DAYS_PER_REQUEST) -> list[tuple[date, date]]:
    """Consecutive ranges of at most `max_days` days (both ends included) covering first..last."""
    chunks = []
    while first <= last:
        end = min(first + timedelta(days=max_days - 1), last)
        chunks.append((first, end))
        first = end + timedelta(days=1)
    return chunks


class Pacer:
    """Spaces calls: each starts at least `interval` seconds after the previous one was answered, so they reach
    the server at least that far apart whatever the network's delays."""

    def __init__(
        self,
        interval: float = SECONDS_BETWEEN_REQUESTS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._answered: float | None = None

    def wait(self) -> None:
        if self._answered is not None and (left := self._answered + self.interval - self._clock()) > 0:
            self._sleep(left)

    def answered(self) -> None:
        self._answered = self._clock()


class DeletionJobs:
    """Lists a project's deletion jobs over any span of days, one paced request per chunk."""

    def __init__(self, client: AmplitudeClient, pacer: Pacer | None = None) -> None:
        self.client = client
        self.pacer = pacer or Pacer()
        self.requests = 0

    def between(self, first: date, last: date) -> Iterator[dict[str, Any]]:
        """Jobs whose day is in first..last, in day order."""
        for start, end in day_chunks(first, last):
            yield from sorted(self.list(start, end), key=lambda job: str(job.get("day")))

    def list(self, start: date, end: date) -> list[dict[str, Any]]:
        what = f"deletion jobs {start.isoformat()}..{end.isoformat()}"
        self.pacer.wait()
        try:
            response = self.client.get(
                DELETIONS_PATH,
                {"start_day": start.isoformat(), "end_day": end.isoformat()},
                accept=(200, 401, 403),
                what=what,
                min_retry_wait=self.pacer.interval,  # a 429 (another caller used the second) waits it out
            )
        finally:
            self.pacer.answered()
        self.requests += 1
        if response.status_code != 200:
            raise self.refused(response)
        jobs = response.json()
        if not isinstance(jobs, list) or not all(isinstance(job, dict) for job in jobs):
            raise AmplitudeError(f"{what}: the response is not a JSON list of jobs")
        return jobs

    def refused(self, response: requests.Response) -> CredentialsError:
        """The same keys just passed the clock check, so the privacy API itself is what they may not use."""
        details, status = error_details(response), response.status_code
        response.close()
        return CredentialsError(
            self.client.redact(
                f"deletions: Amplitude refused the User Privacy API at {self.client.base_url} (HTTP {status}: "
                f"{details}) although it accepted the same keys for the Dashboard API. Give these keys access to "
                "the User Privacy API, or deselect the deletions stream."
            )
        )


def deletion_records(job: dict[str, Any], skip: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    """One record per Amplitude ID of a job, carrying the job's day, status, app and scrub date; an entry without
    a numeric Amplitude ID is passed to `skip` with the reason, and the job goes on."""
    day = job.get("day")
    if not isinstance(day, str) or not day:
        raise AmplitudeError(f"deletion jobs: a job has no day: {sorted(job)}")
    entries = job.get("amplitude_ids") or []
    if not isinstance(entries, list):
        raise AmplitudeError(f"deletion jobs: the job of {day} has no amplitude_ids list")
    for entry in entries:
        amplitude_id = entry.get("amplitude_id") if isinstance(entry, dict) else None
        if isinstance(amplitude_id, bool) or not str(amplitude_id).isdigit():
            skip(f"the deletion job of {day} holds an entry without a numeric amplitude_id; skipped")
            continue
        yield {
            "amplitude_id": int(amplitude_id),
            "requester": entry.get("requester"),
            "requested_on_day": entry.get("requested_on_day"),
            "day": day,
            "status": job.get("status"),
            "app": job.get("app"),
            "active_scrub_done_date": job.get("active_scrub_done_date"),
        }
