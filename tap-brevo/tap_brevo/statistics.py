"""The transactional fallback: `GET /smtp/statistics/events`, incrementally.

Windows of `window_days` days (`startDate`/`endDate`, YYYY-MM-DD, at most 90) from the bookmark's day (less a day:
the report's days are Brevo's, Paris days) or `start_date`, up to today in Paris; in each, pages of `limit` rows
(`offset`), oldest first (`sort=asc`). Without `event_names` one listing holds every event; with them, one listing
per name (never `bounces`, which mixes hard and soft). Rows older than the bookmark less `lookback` are skipped
(delivered by an earlier run); the others are emitted (the caller drops what this run emitted already, and the
target's ledger what an earlier run delivered). After each window the bookmark moves to the newest event time seen
and the caller writes a STATE. The bookmark is the newest event time emitted, in UTC.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tap_brevo.client import BrevoClient, Stopped
from tap_brevo.events import BREVO_LOCAL_TIME, STATISTICS_NAMES, UnknownEvent, from_statistics, parse_time

PATH = "/smtp/statistics/events"
MAX_LIMIT = 5000
MAX_WINDOW_DAYS = 90
BOOKMARK = "statistics"  # state["bookmarks"]["statistics"] = {"event_time": "<ISO 8601 UTC>"}


def bookmark_in(state: dict[str, Any] | None) -> datetime | None:
    entry = ((state or {}).get("bookmarks") or {}).get(BOOKMARK) or {}
    return parse_time(entry.get("event_time")) if isinstance(entry, dict) else None


def set_bookmark(state: dict[str, Any], moment: datetime) -> None:
    state.setdefault("bookmarks", {})[BOOKMARK] = {"event_time": moment.astimezone(UTC).isoformat()}


@dataclass(frozen=True)
class PullSettings:
    start: datetime  # the first moment to read when there is no bookmark
    window_days: int
    limit: int
    lookback: timedelta
    event_names: tuple[str, ...]  # empty: every event in one listing

    def __post_init__(self) -> None:
        if not 1 <= self.window_days <= MAX_WINDOW_DAYS:
            raise ValueError(f"statistics_window_days must be 1 to {MAX_WINDOW_DAYS}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"statistics_page_size must be 1 to {MAX_LIMIT}")
        unknown = [name for name in self.event_names if name not in STATISTICS_NAMES]
        if unknown:
            raise ValueError(f"statistics_events: unknown names {unknown} (known: {', '.join(STATISTICS_NAMES)})")


class StatisticsPull:
    """One pull. `emit(record)` writes a record; `save(bookmark)` records the new bookmark and writes a STATE;
    `stopping()` says a stop was requested (checked between pages)."""

    def __init__(
        self,
        client: BrevoClient,
        settings: PullSettings,
        *,
        emit: Callable[[dict[str, Any]], None],
        save: Callable[[datetime], None],
        stopping: Callable[[], bool],
        logger: logging.Logger,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.settings = settings
        self._emit = emit
        self._save = save
        self._stopping = stopping
        self.logger = logger
        self._now = now
        self.rows = 0
        self.emitted = 0
        self.skipped: Counter[str] = Counter()  # why rows were not emitted

    def run(self, bookmark: datetime | None) -> datetime | None:
        """Pull everything after `bookmark` (less the lookback); the new bookmark."""
        settings = self.settings
        since = bookmark - settings.lookback if bookmark is not None else settings.start.astimezone(UTC)
        # The report's days are Brevo's (Paris): today there may already be tomorrow in UTC.
        first_day = since.astimezone(BREVO_LOCAL_TIME).date() - timedelta(days=1 if bookmark is not None else 0)
        today = self._now().astimezone(BREVO_LOCAL_TIME).date()
        self.logger.info(
            "Pulling %s from %s to %s (events after %s), windows of %d days",
            PATH, first_day, today, since.isoformat(), settings.window_days,
        )  # fmt: skip
        day = first_day
        while day <= today and not self._stopping():
            end = min(day + timedelta(days=settings.window_days - 1), today)
            try:
                newest = self._window(day, end, since)
            except Stopped:
                break
            if self._stopping():
                break  # an interrupted window moves no bookmark: it is read again next time
            if newest is not None and (bookmark is None or newest > bookmark):
                bookmark = newest
                self._save(bookmark)
            day = end + timedelta(days=1)
        skipped = ", ".join(f"{why}: {count}" for why, count in sorted(self.skipped.items()))
        self.logger.info(
            "Pulled %d rows from %s: %d records emitted (skipped: %s); %s",
            self.rows, PATH, self.emitted, skipped or "none", self._calls(),
        )  # fmt: skip
        return bookmark

    def _calls(self) -> str:
        counts = self.client.counts
        return f"{counts.calls.get('GET smtp', 0)} calls, {counts.throttled} throttled, waited {counts.waited_seconds:.0f} s"

    def _window(self, first: date, last: date, since: datetime) -> datetime | None:
        newest: datetime | None = None
        for name in self.settings.event_names or (None,):
            offset = 0
            while not self._stopping():
                params: dict[str, Any] = {
                    "startDate": first.isoformat(),
                    "endDate": last.isoformat(),
                    "limit": self.settings.limit,
                    "offset": offset,
                    "sort": "asc",
                }
                if name is not None:
                    params["event"] = name
                answer = self.client.get(PATH, params) or {}
                rows = answer.get("events") or [] if isinstance(answer, dict) else []
                for row in rows:
                    moment = self._row(row, since)
                    if moment is not None and (newest is None or moment > newest):
                        newest = moment
                if len(rows) < self.settings.limit:
                    break
                offset += self.settings.limit
        return newest

    def _row(self, row: Any, since: datetime) -> datetime | None:
        """Emit one row unless it is older than `since` or unreadable; its time when emitted."""
        self.rows += 1
        if not isinstance(row, dict):
            self.skipped["not an object"] += 1
            return None
        try:
            record = from_statistics(row, self._now())
        except UnknownEvent as exc:
            self.skipped[f"event {exc}"] += 1
            return None
        except ValueError as exc:
            self.skipped[str(exc)] += 1
            return None
        moment = parse_time(record["event_time"])
        assert moment is not None
        if moment < since:
            self.skipped["before the bookmark"] += 1
            return None
        self._emit(record)
        self.emitted += 1
        return moment


def pull_settings(config: Any, event_names: Sequence[str] = ()) -> PullSettings:
    start = parse_time(str(config.get("start_date") or "")) or (datetime.now(UTC) - timedelta(days=30))
    return PullSettings(
        start=start,
        window_days=int(config["statistics_window_days"]),
        limit=int(config["statistics_page_size"]),
        lookback=timedelta(minutes=float(config["statistics_lookback_minutes"])),
        event_names=tuple(config.get("statistics_events") or event_names),
    )
