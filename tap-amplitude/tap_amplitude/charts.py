"""Saved chart results (Dashboard REST API): fetch each chart, then flatten its series into rows.

Wire facts (../shared/reference/brevo-webhooks-companies-amplitude-ingest.md §5, partly UNCONFIRMED):
- `GET /api/3/chart/{id}/query` -> `{"data": {"series", "seriesLabels", "seriesCollapsed", "xValues"}}`;
  since 2025-03 the docs name only `GET /api/3/chart/{id}/csv` -> `{"data": "<CSV text>"}`. `/query` is
  tried first; a 404, 405 or 410 from it means it is gone (then `/csv` serves the rest of the run), and a
  400 sends that one chart to `/csv`.
- Series points are numbers or `{"setId", "value"}` objects (client code shows both); labels are an
  index, a text, or a list such as `[0, "France; iOS"]`, flattened to text ("0", "France; iOS").
- The CSV (clients describe Amplitude's exports): title lines, a blank line, a header row whose first
  cell is `Segment` followed by the x values, then one row per series; cells may carry a leading tab.
- Each query costs days x conditions x type cost against 1,000 per 5 minutes (108,000 per hour); over
  it, 429 with no documented Retry-After. The tap waits (Retry-After if given, else `retry_wait`,
  doubling up to 5 minutes) until `max_wait` seconds have been spent on one chart, then fails.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from tap_amplitude.client import AmplitudeClient, AmplitudeError, error_details

QUERY, CSV = "query", "csv"
DEFAULT_RETRY_WAIT = 30.0  # seconds before the first retry of a 429 (chart_retry_wait_seconds)
DEFAULT_MAX_WAIT = 900.0  # seconds of 429 waits per chart before failing (chart_max_wait_seconds)
GONE_STATUSES = frozenset({404, 405, 410})
LONGEST_WAIT = 300.0  # the 5-minute cost window: a longer single wait never helps
SHORTEST_WAIT = 0.1  # so that waits add up to max_wait whatever retry_wait says


@dataclass(frozen=True)
class ChartResult:
    chart_id: str
    endpoint: str  # "query" or "csv": the one that answered
    raw: dict[str, Any]  # the response body as Amplitude sent it


@dataclass(frozen=True)
class SeriesPoint:
    series_index: int
    series_label: str | None
    x_index: int
    x_value: str
    value: float | None
    series_total: float | None  # the series over the chart's whole range (seriesCollapsed), when given


class ChartFetcher:
    """Fetches saved charts one at a time (so never more than one of the 5 concurrent requests), within the
    cost budget: a 429 is waited out, up to `max_wait` seconds per chart."""

    def __init__(self, client: AmplitudeClient, *, retry_wait: float, max_wait: float) -> None:
        self.client = client
        self.retry_wait = max(retry_wait, SHORTEST_WAIT)
        self.max_wait = max_wait
        self.query_gone = False
        self.waited = 0.0  # seconds spent waiting on 429s, over the run
        self.rate_limited = 0  # 429s received, over the run

    def fetch(self, chart_id: str) -> ChartResult:
        if not self.query_gone:
            response = self._get(chart_id, QUERY)
            if response.status_code == 200:
                return ChartResult(chart_id, QUERY, _json_object(chart_id, QUERY, response))
            why = f"HTTP {response.status_code}: {error_details(response)}"
            response.close()
            self.client.logger.warning("Chart %s: /query answered %s; trying /csv", chart_id, why)
            result = self._csv(chart_id, why)
            if response.status_code in GONE_STATUSES:
                self.query_gone = True
                self.client.logger.warning("/api/3/chart/{id}/query is gone (%s): /csv serves the other charts", why)
            return result
        return self._csv(chart_id, "/query is gone")

    def _csv(self, chart_id: str, query_failure: str) -> ChartResult:
        response = self._get(chart_id, CSV)
        if response.status_code == 200:
            return ChartResult(chart_id, CSV, _json_object(chart_id, CSV, response))
        details = error_details(response)
        response.close()
        raise AmplitudeError(
            f"chart {chart_id}: neither /query ({query_failure}) nor /csv (HTTP {response.status_code}: {details}) "
            "answered; check chart_ids (a saved chart's id, from its URL) and that it belongs to this project"
        )

    def _get(self, chart_id: str, endpoint: str) -> requests.Response:
        path = f"/api/3/chart/{quote(chart_id, safe='')}/{endpoint}"
        what = f"chart {chart_id} /{endpoint}"
        waited, wait = 0.0, self.retry_wait
        while True:
            response = self.client.get(path, accept=(200, 400, *GONE_STATUSES, 429), what=what)
            if response.status_code != 429:
                return response
            self.rate_limited += 1
            delay = min(max(wait, _retry_after(response)), LONGEST_WAIT)
            details = error_details(response)
            response.close()
            if waited + delay > self.max_wait:
                raise AmplitudeError(
                    f"{what}: still over the Dashboard API's limits after waiting {waited:g} s (HTTP 429: {details}). "
                    "Each chart query costs days x conditions x type cost, within 1,000 per 5 minutes per project: "
                    "raise chart_max_wait_seconds, or query fewer or shorter charts"
                )
            self.client.logger.warning("%s: HTTP 429 (%s); waiting %.1f s", what, details, delay)
            time.sleep(delay)
            waited += delay
            self.waited += delay
            wait = min(wait * 2, LONGEST_WAIT)


def _retry_after(response: requests.Response) -> float:
    try:
        return float(response.headers.get("Retry-After", 0))
    except ValueError:
        return 0.0


def _json_object(chart_id: str, endpoint: str, response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise AmplitudeError(f"chart {chart_id} /{endpoint}: the response is not JSON") from None
    if not isinstance(body, dict):
        raise AmplitudeError(f"chart {chart_id} /{endpoint}: the response is not a JSON object")
    return body


def series_points(raw: dict[str, Any]) -> Iterator[SeriesPoint]:
    """The flattened series of a chart result, from either endpoint's shape; nothing for other shapes
    (the raw result is still kept)."""
    data = raw.get("data")
    if isinstance(data, str):
        yield from _csv_points(data)
    elif isinstance(data, dict) and isinstance(data.get("series"), list):
        yield from _query_points(data)


def _query_points(data: dict[str, Any]) -> Iterator[SeriesPoint]:
    labels = data.get("seriesLabels") if isinstance(data.get("seriesLabels"), list) else []
    collapsed = data.get("seriesCollapsed") if isinstance(data.get("seriesCollapsed"), list) else []
    x_values = [str(x) for x in data.get("xValues") or []]
    for index, series in enumerate(data["series"]):
        if not isinstance(series, list):
            continue
        label = label_text(labels[index]) if index < len(labels) else None
        total = _collapsed_value(collapsed[index]) if index < len(collapsed) else None
        for x_index, (x_value, point) in enumerate(zip(x_values, series, strict=False)):
            yield SeriesPoint(index, label, x_index, x_value, point_value(point), total)


def label_text(label: Any) -> str | None:
    """A series label as text: `0` -> "0", `[0, "France; iOS"]` -> "France; iOS", ["a", "b"] -> "a; b"."""
    if label is None:
        return None
    if isinstance(label, list):
        parts = [str(part) for part in label if part is not None]
        if len(parts) > 1 and isinstance(label[0], int) and not isinstance(label[0], bool):
            parts = parts[1:]  # [series index, values]
        return "; ".join(parts)
    return str(label)


def point_value(point: Any) -> float | None:
    if isinstance(point, dict):
        point = point.get("value")
    if isinstance(point, bool) or not isinstance(point, (int, float)):
        return None
    return point


def _collapsed_value(collapsed: Any) -> float | None:
    if isinstance(collapsed, list):
        return point_value(collapsed[0]) if collapsed else None
    return point_value(collapsed)


def _csv_points(text: str) -> Iterator[SeriesPoint]:
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    x_values: list[str] | None = None
    index = 0
    for row in rows:
        cells = [cell.strip() for cell in row]
        if x_values is None:
            if cells and cells[0].lower() == "segment":
                x_values = cells[1:]
            continue
        if not any(cells):
            continue
        for x_index, (x_value, cell) in enumerate(zip(x_values, cells[1:], strict=False)):
            yield SeriesPoint(index, cells[0] or None, x_index, x_value, csv_number(cell), None)
        index += 1


def csv_number(cell: str) -> float | None:
    """A CSV cell's number ("1,234", "12.5", "40%" -> 40.0); None when empty or not a number."""
    text = cell.replace(",", "").removesuffix("%").strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() and "." not in text else number


def result_record(result: ChartResult, fetched_at: datetime) -> dict[str, Any]:
    return {
        "chart_id": result.chart_id,
        "fetched_day": fetched_at.date().isoformat(),
        "fetched_at": fetched_at.isoformat(),
        "endpoint": result.endpoint,
        "raw": result.raw,
    }


def series_records(result: ChartResult, fetched_at: datetime) -> list[dict[str, Any]]:
    base = {"chart_id": result.chart_id, "fetched_day": fetched_at.date().isoformat(),
            "fetched_at": fetched_at.isoformat(), "endpoint": result.endpoint}  # fmt: skip
    return [
        {
            **base,
            "series_index": point.series_index,
            "series_label": point.series_label,
            "x_index": point.x_index,
            "x_value": point.x_value,
            "value": point.value,
            "series_total": point.series_total,
        }
        for point in series_points(result.raw)
    ]
