"""A saved chart's result, computed from the project's stored events (by event time, UTC days).

`compute` answers the `data` of `GET /api/3/chart/{id}/query`, one envelope for every type:
`series` (one list per series, a `{"setId": "", "value": v}` point per x value), `seriesLabels`,
`seriesCollapsed` (`[[{"setId": "", "value": v}]]`, the series over the whole range) and `xValues` (days).

- segmentation: a series per event (and per group-by value, most first); labels are the event's index
  (`0`), or `[index, "value; value"]` with group-bys, as in /api/2/events/segmentation; values are
  distinct users (`uniques`; collapsed: distinct over the range) or event counts (`totals`).
- funnel: a series per step (labels: the event types): users who did step 1 on that day (their first
  step 1 in the range) and then every step up to this one, in order, within the conversion window;
  collapsed: those users over the range; `stepByStep` and `cumulative` give the overall conversion.
- retention: a series per day N = 0..retention_days (labels `Day N`): of the users whose first start
  event in the range was that day, how many did the return event on calendar day N after it (day 0:
  all of them); null while day N is after today. Collapsed: the sum over the days that are known.
- sessions: `Sessions` started per day and their `Average session length (s)`; events without a
  session (session_id -1) are not in any.

`render_csv` gives the `/csv` text: title, description, a blank line, then a `Segment` header row with
the days and one row per series, every cell quoted, day and label cells led by a tab (the layout
clients report from Amplitude's exports).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from sandbox.amplitude.charts import ACTIVE, Chart, Condition
from sandbox.amplitude.store import Store

DAY_US = 86_400_000_000
NONE = "(none)"  # Amplitude's label for a missing property value
_NOT_USER_PROPERTIES = frozenset({"event_properties", "user_properties", "group_properties", "groups", "data"})

# (amplitude_id, event_type, event_us, session_id, body)
Row = tuple[int, str, int, int, bytes]
# (first_us, end_us, event types or None for all) -> rows in event time order
Reader = Callable[[int, int, list[str] | None], Iterator[Row]]


@dataclass(frozen=True)
class Window:
    """The chart's days, today (the sandbox clock's), and the days' bounds in microseconds."""

    days: list[date]
    today: date
    first_us: int
    end_us: int  # exclusive

    @classmethod
    def of(cls, days: list[date], today: date) -> Window:
        return cls(days, today, _day_us(days[0]), _day_us(days[-1]) + DAY_US)

    def index(self, us: int) -> int:
        return (us - self.first_us) // DAY_US


@dataclass(frozen=True)
class Result:
    data: dict[str, Any]
    text_labels: list[str]  # what the CSV's Segment column says for each series


def compute(chart: Chart, store: Store, today: date) -> Result:
    window = Window.of(chart.days(today), today)
    conn = store.reader()
    try:
        conn.execute("BEGIN")  # one snapshot, whatever ingestion does meanwhile

        def read(first_us: int, end_us: int, event_types: list[str] | None) -> Iterator[Row]:
            return Store.events_between(conn, first_us, end_us, event_types)

        return _COMPUTE[chart.type](chart, window, read)
    finally:
        conn.close()


def _point(value: float | None) -> dict[str, Any]:
    return {"setId": "", "value": value}


def _envelope(
    window: Window, series: list[list[float | None]], labels: list[Any], collapsed: list[float | None]
) -> dict[str, Any]:
    return {
        "series": [[_point(v) for v in values] for values in series],
        "seriesLabels": labels,
        "seriesCollapsed": [[_point(v)] for v in collapsed],
        "xValues": [day.isoformat() for day in window.days],
    }


def _day_us(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000


def _types(events: Iterable[str]) -> list[str] | None:
    """The event types to read, None for all of them (when `_active` is among them)."""
    wanted = list(dict.fromkeys(events))
    return None if ACTIVE in wanted else wanted


def _matches(wanted: str, event_type: str) -> bool:
    return wanted == event_type or (wanted == ACTIVE and not event_type.startswith("$"))


def _display(event_type: str) -> str:
    return "Any Active Event" if event_type == ACTIVE else event_type


def _text(value: Any) -> str:
    if value is None or value == "":
        return NONE
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _user_value(event: dict[str, Any], name: str) -> Any:
    """A user property as Amplitude segments on it: its built-in ones (country, platform...) are top-level fields."""
    if name in event and name not in _NOT_USER_PROPERTIES:
        return event[name]
    return (event.get("user_properties") or {}).get(name)


def _in_segment(event: dict[str, Any], segment: list[Condition]) -> bool:
    return all((_text(_user_value(event, c.prop)) in c.values) != c.negate for c in segment)


def _segmentation(chart: Chart, window: Window, read: Reader) -> Result:
    events, group_by = chart.params["events"], chart.params["group_by"]
    uniques = chart.params["metric"] == "uniques"
    segment = chart.segment
    n = len(window.days)
    per_day: dict[tuple[int, tuple[str, ...]], list[Any]] = {}
    everyone: dict[tuple[int, tuple[str, ...]], set[int]] = {}
    if not group_by:
        for i in range(len(events)):
            per_day[(i, ())] = [set() for _ in range(n)] if uniques else [0] * n
            everyone[(i, ())] = set()
    for amplitude_id, event_type, us, _session, body in read(window.first_us, window.end_us, _types(events)):
        matched = [i for i, wanted in enumerate(events) if _matches(wanted, event_type)]
        if not matched:
            continue
        group: tuple[str, ...] = ()
        if segment or group_by:
            event = orjson.loads(body)
            if not _in_segment(event, segment):
                continue
            group = tuple(
                _text((event.get("event_properties") or {}).get(g["value"]))
                if g["type"] == "event"
                else _text(_user_value(event, g["value"]))
                for g in group_by
            )
        day = window.index(us)
        for i in matched:
            key = (i, group)
            if key not in per_day:
                per_day[key] = [set() for _ in range(n)] if uniques else [0] * n
                everyone[key] = set()
            if uniques:
                per_day[key][day].add(amplitude_id)
            else:
                per_day[key][day] += 1
            everyone[key].add(amplitude_id)
    series = {key: [len(v) for v in values] if uniques else values for key, values in per_day.items()}
    collapsed = {key: len(everyone[key]) if uniques else sum(series[key]) for key in series}
    order = sorted(series, key=lambda key: (key[0], -collapsed[key], key[1]))
    labels: list[Any] = [[i, "; ".join(group)] if group_by else i for i, group in order]
    text = [
        "; ".join(([_display(events[i])] if len(events) > 1 or not group_by else []) + list(group))
        for i, group in order
    ]
    return Result(_envelope(window, [series[k] for k in order], labels, [collapsed[k] for k in order]), text)


def _funnel(chart: Chart, window: Window, read: Reader) -> Result:
    steps = chart.params["events"]
    conversion_us = chart.params["conversion_window_days"] * DAY_US
    segment = chart.segment
    n = len(window.days)
    journeys: dict[int, list[tuple[int, list[int]]]] = {}
    for amplitude_id, event_type, us, _session, body in read(
        window.first_us, window.end_us + conversion_us, _types(steps)
    ):
        matched = [k for k, wanted in enumerate(steps) if _matches(wanted, event_type)]
        if matched and (not segment or _in_segment(orjson.loads(body), segment)):
            journeys.setdefault(amplitude_id, []).append((us, matched))
    counts = [[0] * n for _ in steps]
    for journey in journeys.values():
        start = next((k for k, (us, matched) in enumerate(journey) if 0 in matched and us < window.end_us), None)
        if start is None:
            continue
        started_us = journey[start][0]
        reached = 1
        for us, matched in journey[start + 1 :]:
            if reached == len(steps) or us > started_us + conversion_us:
                break
            if reached in matched:
                reached += 1
        day = window.index(started_us)
        for k in range(reached):
            counts[k][day] += 1
    totals = [sum(values) for values in counts]
    data = _envelope(window, counts, list(steps), totals)
    data["stepByStep"] = [1.0] + [_ratio(totals[k], totals[k - 1]) for k in range(1, len(steps))]
    data["cumulative"] = [_ratio(total, totals[0]) for total in totals]
    return Result(data, list(steps))


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _retention(chart: Chart, window: Window, read: Reader) -> Result:
    start_event, return_event = chart.params["start_event"], chart.params["return_event"]
    days_after = chart.params["retention_days"]
    segment = chart.segment
    n = len(window.days)
    cohort_day: dict[int, int] = {}
    for amplitude_id, event_type, us, _session, body in read(window.first_us, window.end_us, _types([start_event])):
        if amplitude_id in cohort_day or not _matches(start_event, event_type):
            continue
        if not segment or _in_segment(orjson.loads(body), segment):
            cohort_day[amplitude_id] = window.index(us)
    returned: dict[int, set[int]] = {}
    today = (window.today - window.days[0]).days
    last_us = min(window.end_us + days_after * DAY_US, window.first_us + (today + 1) * DAY_US)
    for amplitude_id, event_type, us, _session, _body in read(window.first_us, last_us, _types([return_event])):
        if amplitude_id in cohort_day and _matches(return_event, event_type):
            returned.setdefault(amplitude_id, set()).add(window.index(us))
    series: list[list[int | None]] = [[0] * n for _ in range(days_after + 1)]
    for amplitude_id, day in cohort_day.items():
        series[0][day] += 1
        back = returned.get(amplitude_id, set())
        for after in range(1, days_after + 1):
            if day + after in back:
                series[after][day] += 1  # type: ignore[operator]
    for after in range(1, days_after + 1):
        for day in range(n):
            if day + after > today:
                series[after][day] = None
    collapsed = [sum(v for v in values if v is not None) for values in series]
    labels = [f"Day {after}" for after in range(days_after + 1)]
    return Result(_envelope(window, series, labels, collapsed), labels)


def _sessions(chart: Chart, window: Window, read: Reader) -> Result:
    segment = chart.segment
    spans: dict[tuple[int, int], list[int]] = {}
    for amplitude_id, _event_type, us, session_id, body in read(window.first_us, window.end_us, None):
        if session_id == -1 or (segment and not _in_segment(orjson.loads(body), segment)):
            continue
        span = spans.get((amplitude_id, session_id))
        if span is None:
            spans[(amplitude_id, session_id)] = [us, us]
        else:
            span[0], span[1] = min(span[0], us), max(span[1], us)
    n = len(window.days)
    counts, lengths = [0] * n, [0] * n
    for first, last in spans.values():
        day = window.index(first)
        counts[day] += 1
        lengths[day] += last - first
    averages = [round(lengths[d] / counts[d] / 1e6, 1) if counts[d] else None for d in range(n)]
    overall = round(sum(lengths) / sum(counts) / 1e6, 1) if spans else None
    labels = ["Sessions", "Average session length (s)"]
    return Result(_envelope(window, [counts, averages], labels, [sum(counts), overall]), labels)


_COMPUTE: dict[str, Callable[[Chart, Window, Reader], Result]] = {
    "segmentation": _segmentation,
    "funnel": _funnel,
    "retention": _retention,
    "sessions": _sessions,
}

_DESCRIPTIONS: dict[str, Callable[[dict[str, Any]], str]] = {
    "segmentation": lambda p: f"{p['metric'].title()} of {', '.join(map(_display, p['events']))}",
    "funnel": lambda p: f"Funnel {' > '.join(p['events'])}, converted within {p['conversion_window_days']} day(s)",
    "retention": lambda p: (
        f"{p['retention_days']}-day retention: {_display(p['start_event'])} then {_display(p['return_event'])}"
    ),
    "sessions": lambda p: "Sessions per day and their average length",
}


def render_csv(chart: Chart, result: Result) -> str:
    data = result.data
    days = data["xValues"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([chart.name])
    writer.writerow([f"{_DESCRIPTIONS[chart.type](chart.params)} ({days[0]} to {days[-1]}, UTC)"])
    writer.writerow([])
    writer.writerow(["Segment", *(f"\t{day}" for day in days)])
    for label, points in zip(result.text_labels, data["series"], strict=True):
        writer.writerow([f"\t{label}", *(_cell(p["value"]) for p in points)])
    return buffer.getvalue()


def _cell(value: float | None) -> str:
    return "" if value is None else str(value)


def day_of(moment: float) -> date:
    """The UTC day of an epoch time (the sandbox's stand-in for the project's time zone)."""
    return datetime.fromtimestamp(moment, UTC).date()
