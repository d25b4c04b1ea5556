"""The statistics pull against a local fake of `GET /smtp/statistics/events`: windows, paging, sort, the bookmark
and its STATE, the lookback, pacing on x-sib-ratelimit-* and 429, and the per-name listings."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from brevo_fake import API_KEY, FakeBrevo
from tap_brevo.client import BrevoClient, BrevoError
from tap_brevo.statistics import PullSettings, StatisticsPull

NOW = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)
LOGGER = logging.getLogger("test-brevo-statistics")


def rows(count: int, first: datetime, step: timedelta, event: str = "delivered") -> list[dict[str, Any]]:
    return [
        {"date": (first + n * step).isoformat().replace("+00:00", "Z"), "email": f"u{n}@example.com",
         "event": event, "messageId": f"<{event}.{n}@relay>", "templateId": 3}
        for n in range(count)
    ]  # fmt: skip


class Run:
    def __init__(self, fake: FakeBrevo, *, reserve: int = 0, **settings: Any) -> None:
        self.sleeps: list[float] = []
        self.records: list[dict[str, Any]] = []
        self.saved: list[datetime] = []
        self.now = 0.0  # the client's clock: moves only when it sleeps
        self.client = BrevoClient(
            fake.url, API_KEY, LOGGER, reserves={"smtp": reserve}, sleep=self._sleep, clock=lambda: self.now
        )
        options = {"start": datetime(2024, 3, 1, tzinfo=UTC), "window_days": 2, "limit": 5,
                   "lookback": timedelta(minutes=0), "event_names": ()} | settings  # fmt: skip
        self.pull = StatisticsPull(
            self.client,
            PullSettings(**options),
            emit=self.records.append,
            save=self.saved.append,
            stopping=lambda: False,
            logger=LOGGER,
            now=lambda: NOW,
        )

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def run(self, bookmark: datetime | None = None) -> datetime | None:
        return self.pull.run(bookmark)


def test_windows_pages_sort_and_bookmark(fake_brevo: FakeBrevo) -> None:
    fake_brevo.statistics = rows(24, datetime(2024, 3, 1, 1, tzinfo=UTC), timedelta(hours=5))  # Mar 1 to Mar 5
    run = Run(fake_brevo)
    bookmark = run.run()
    assert [r["message_id"] for r in run.records] == [f"<delivered.{n}@relay>" for n in range(24)]
    calls = [(c.query["startDate"], c.query["endDate"], c.query["offset"]) for c in fake_brevo.calls]
    assert calls == [
        ("2024-03-01", "2024-03-02", "0"), ("2024-03-01", "2024-03-02", "5"), ("2024-03-01", "2024-03-02", "10"),
        ("2024-03-03", "2024-03-04", "0"), ("2024-03-03", "2024-03-04", "5"),
        ("2024-03-05", "2024-03-06", "0"), ("2024-03-05", "2024-03-06", "5"),  # a full page asks for one more
    ]  # fmt: skip
    assert {(c.query["sort"], c.query["limit"], "event" in c.query) for c in fake_brevo.calls} == {("asc", "5", False)}
    assert all(c.headers.get("api-key") == API_KEY for c in fake_brevo.calls)
    # One STATE per window that brought something, at its newest event time.
    assert run.saved == [datetime(2024, 3, 2, 22, tzinfo=UTC), datetime(2024, 3, 4, 19, tzinfo=UTC), bookmark]
    assert bookmark == datetime(2024, 3, 5, 20, tzinfo=UTC)

    # The next run starts a day before the bookmark's day and emits only what is newer than the bookmark
    # (less the lookback).
    fake_brevo.calls.clear()
    fake_brevo.statistics += rows(2, datetime(2024, 3, 6, 9, tzinfo=UTC), timedelta(hours=1), "opened")
    again = Run(fake_brevo, lookback=timedelta(hours=5))
    assert again.run(bookmark) == datetime(2024, 3, 6, 10, tzinfo=UTC)
    assert fake_brevo.calls[0].query["startDate"] == "2024-03-04"
    assert [r["event"] for r in again.records] == ["delivered", "delivered", "opened", "opened"]  # 15:00, 20:00 again
    assert again.pull.skipped["before the bookmark"] == 7  # Mar 4 04:00 to Mar 5 10:00


def test_pacing_keeps_the_reserve_and_waits_on_429(fake_brevo: FakeBrevo) -> None:
    fake_brevo.statistics = rows(12, datetime(2024, 3, 5, 1, tzinfo=UTC), timedelta(minutes=30))
    fake_brevo.smtp_remaining = 12
    fake_brevo.smtp_reset = 42
    run = Run(fake_brevo, reserve=10, start=datetime(2024, 3, 5, tzinfo=UTC))
    run.run()
    # Pages at offsets 0, 5, 10; 11 requests remain after the first, 10 (the reserve) after the second: the third
    # waits for the bucket's reset.
    assert run.sleeps == [42] and len(run.records) == 12
    assert len(fake_brevo.calls) == 3 and run.client.counts.throttled == 0

    fake_brevo.calls.clear()
    fake_brevo.throttle_next = 2
    fake_brevo.smtp_remaining = 300
    fake_brevo.smtp_reset = 7
    throttled = Run(fake_brevo)
    throttled.run()
    assert throttled.sleeps.count(7) == 2 and throttled.client.counts.throttled == 2
    assert len(throttled.records) == 12


def test_one_listing_per_event_name_and_unknown_names_skipped(fake_brevo: FakeBrevo) -> None:
    day = datetime(2024, 3, 6, 1, tzinfo=UTC)
    fake_brevo.statistics = (
        rows(2, day, timedelta(minutes=1), "clicks")
        + rows(1, day, timedelta(minutes=1), "hardBounces")
        + rows(1, day, timedelta(minutes=1), "bounces")
    )
    unfiltered = Run(fake_brevo, start=day)
    unfiltered.run()
    assert [r["event"] for r in unfiltered.records] == ["click", "click", "hard_bounce"]
    assert unfiltered.pull.skipped == {"event bounces": 1}

    fake_brevo.calls.clear()
    per_name = Run(fake_brevo, start=day, event_names=("clicks", "hardBounces"))
    per_name.run()
    assert [c.query["event"] for c in fake_brevo.calls] == ["clicks", "hardBounces"]
    assert [r["event"] for r in per_name.records] == ["click", "click", "hard_bounce"]
    with pytest.raises(ValueError, match="unknown names"):
        PullSettings(start=day, window_days=1, limit=10, lookback=timedelta(), event_names=("bounces",))


def test_a_bad_key_is_an_error_that_names_the_call_not_the_key(fake_brevo: FakeBrevo) -> None:
    client = BrevoClient(fake_brevo.url, "xkeysib-wrong", LOGGER, sleep=lambda _: None)
    with pytest.raises(BrevoError) as error:
        client.get("/smtp/statistics/events", {"startDate": "2024-03-01", "endDate": "2024-03-01"})
    assert str(error.value) == "GET /smtp/statistics/events: 401 unauthorized Key not found"
    with pytest.raises(ValueError, match="https"):
        BrevoClient("http://api.brevo.example/v3", API_KEY, LOGGER)
