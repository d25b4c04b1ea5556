"""Hour arithmetic for the Export API: windows, the latency horizon, and Amplitude's timestamp format."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)


def floor_hour(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def export_param(hour: datetime) -> str:
    """The Export API's `start`/`end` form: `YYYYMMDDTHH`."""
    return hour.strftime("%Y%m%dT%H")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def newest_exportable_hour(server_now: datetime, latency_hours: int) -> datetime:
    """The last hour whose data is final: data received in hour H is exportable from H + latency + 1."""
    return floor_hour(server_now) - (latency_hours + 1) * HOUR


@dataclass(frozen=True)
class Window:
    """Hours `first`..`last`, both included (the Export API's `start` and `end`)."""

    first: datetime
    last: datetime

    @property
    def hours(self) -> int:
        return int((self.last - self.first) / HOUR) + 1

    @property
    def end(self) -> datetime:
        """The exclusive end: the first hour after the window."""
        return self.last + HOUR

    def halves(self) -> tuple[Window, Window]:
        left_hours = self.hours // 2
        middle = self.first + left_hours * HOUR
        return Window(self.first, middle - HOUR), Window(middle, self.last)

    def __str__(self) -> str:
        if self.hours == 1:
            return f"{self.first:%Y-%m-%dT%H}:00Z"
        return f"{self.first:%Y-%m-%dT%H}:00Z..{self.last:%Y-%m-%dT%H}:00Z"


def plan_windows(first_hour: datetime, last_hour: datetime, window_hours: int) -> list[Window]:
    """Consecutive windows of at most `window_hours` covering first_hour..last_hour (inclusive)."""
    if window_hours < 1:
        raise ValueError("export_window_hours must be at least 1")
    windows = []
    start = first_hour
    while start <= last_hour:
        last = min(start + (window_hours - 1) * HOUR, last_hour)
        windows.append(Window(start, last))
        start = last + HOUR
    return windows


def to_rfc3339(value: object) -> str | None:
    """Amplitude's `2021-05-27 11:59:53.710000` (UTC, no zone) -> `2021-05-27T11:59:53.710000+00:00`.

    The fast path is plain slicing: this runs six times per exported event.
    """
    if value is None:
        return None
    if type(value) is str and len(value) == 26 and value[19] == "." and value[10] in " T":
        return f"{value[:10]}T{value[11:]}+00:00"
    return _to_rfc3339_slow(value)


def _to_rfc3339_slow(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"not an Amplitude timestamp: {value!r}")
    text = value.strip()
    if len(text) > 10 and text[10] == " ":
        text = f"{text[:10]}T{text[11:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an Amplitude timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="microseconds")


def epoch_seconds_to_rfc3339(value: object) -> str | None:
    if value is None or value == "":
        return None
    return datetime.fromtimestamp(float(value), UTC).isoformat()  # type: ignore[arg-type]
