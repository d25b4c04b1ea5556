"""Saved charts: their definitions, checked, and what a query of one costs (the Dashboard REST cost model).

A chart is `{"id", "name", "type", "params"}`, defined through the admin API (`chart_api.py`) or by the
seeder (`seed_charts`). Types and their params (every type also takes `range` and `segment`):

| type | params | type cost |
|---|---|---|
| `segmentation` | `events` [1..10 event types; `_active` = any event not starting with `$`], `metric` `uniques` (default) or `totals`, `group_by` [{"type": "event"\\|"user", "value": NAME}] (at most 5) | events + 4 per group-by |
| `funnel` | `events` [2..10, the steps in order], `conversion_window_days` (1..90, default 1) | events x 2 |
| `retention` | `start_event`, `return_event` (default `_active`), `retention_days` (1..90, default 7) | 8 |
| `sessions` | none | 4 |

`range` is `{"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}` (both included) or `{"last_days": N}` (the N days
ending today on the sandbox clock; default 30). Days are UTC, standing in for the project's time zone.
`segment` is the chart's one user segment: a list of conditions `{"prop": NAME, "op": "is"|"is not",
"values": [...]}` on user properties (Amplitude's built-in ones such as `country` or `platform` included).

Cost of one query, as Amplitude documents it: days x conditions x type cost, where conditions = the
segments (one) plus the conditions within them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

TYPES = ("segmentation", "funnel", "retention", "sessions")
ACTIVE = "_active"  # Amplitude's "any active event"
DEFAULT_LAST_DAYS = 30
MAX_DAYS = 365
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TYPE_COSTS = {"retention": 8, "sessions": 4}


class ChartError(ValueError):
    """A chart definition that cannot be saved; the message says which field is wrong."""


@dataclass(frozen=True)
class Condition:
    prop: str
    negate: bool
    values: frozenset[str]


@dataclass(frozen=True)
class Chart:
    id: str
    name: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def segment(self) -> list[Condition]:
        return [
            Condition(c["prop"], c["op"] == "is not", frozenset(str(v) for v in c["values"]))
            for c in self.params.get("segment", [])
        ]

    def days(self, today: date) -> list[date]:
        """The chart's days, oldest first."""
        span = self.params["range"]
        if "last_days" in span:
            first, last = today - timedelta(days=span["last_days"] - 1), today
        else:
            first, last = date.fromisoformat(span["start"]), date.fromisoformat(span["end"])
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def conditions(self) -> int:
        return 1 + len(self.params.get("segment", []))

    def type_cost(self) -> int:
        if self.type == "segmentation":
            return len(self.params["events"]) + 4 * len(self.params.get("group_by", []))
        if self.type == "funnel":
            return 2 * len(self.params["events"])
        return _TYPE_COSTS[self.type]

    def cost(self, today: date) -> int:
        return len(self.days(today)) * self.conditions() * self.type_cost()

    def document(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "type": self.type, "params": self.params}


def parse_chart(raw: Any, new_id: str) -> Chart:
    """A chart from its JSON definition (`new_id` when it names none), defaults filled in; raises ChartError."""
    if not isinstance(raw, dict):
        raise ChartError("expected a JSON object {id, name, type, params}")
    unknown = set(raw) - {"id", "name", "type", "params", "region"}
    if unknown:
        raise ChartError(f"unknown fields: {', '.join(sorted(unknown))}")
    chart_id = raw.get("id") or new_id
    if not isinstance(chart_id, str) or not _ID.match(chart_id):
        raise ChartError("id must be 1 to 64 letters, digits, '-' or '_'")
    kind = raw.get("type")
    if kind not in TYPES:
        raise ChartError(f"type must be one of {', '.join(TYPES)}")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise ChartError("params must be an object")
    checked = {"range": _range(params.get("range")), "segment": _segment(params.get("segment"))}
    checked.update(_TYPE_PARAMS[kind](params))
    unknown = set(params) - set(checked)
    if unknown:
        raise ChartError(f"{kind} charts take no {', '.join(sorted(unknown))}")
    name = raw.get("name") or chart_id
    if not isinstance(name, str):
        raise ChartError("name must be a string")
    return Chart(chart_id, name, kind, checked)


def _range(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {"last_days": DEFAULT_LAST_DAYS}
    if isinstance(raw, dict) and set(raw) == {"last_days"}:
        days = raw["last_days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
            raise ChartError(f"range.last_days must be an integer from 1 to {MAX_DAYS}")
        return {"last_days": days}
    if isinstance(raw, dict) and set(raw) == {"start", "end"}:
        try:
            if not all(isinstance(raw[k], str) and _DAY.match(raw[k]) for k in ("start", "end")):
                raise ValueError
            first, last = date.fromisoformat(raw["start"]), date.fromisoformat(raw["end"])
        except ValueError:
            raise ChartError("range.start and range.end must be dates YYYY-MM-DD") from None
        if not 0 <= (last - first).days < MAX_DAYS:
            raise ChartError(f"range must run forward, at most {MAX_DAYS} days")
        return {"start": raw["start"], "end": raw["end"]}
    raise ChartError('range must be {"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"} or {"last_days": N}')


def _segment(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > 10:
        raise ChartError("segment must be a list of at most 10 conditions")
    for condition in raw:
        if (
            not isinstance(condition, dict)
            or set(condition) != {"prop", "op", "values"}
            or not _name(condition["prop"])
            or condition["op"] not in ("is", "is not")
            or not isinstance(condition["values"], list)
            or not condition["values"]
        ):
            raise ChartError('segment conditions are {"prop": NAME, "op": "is"|"is not", "values": [...]}')
    return [dict(c) for c in raw]


def _name(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 1024


def _events(raw: Any, least: int) -> list[str]:
    if not isinstance(raw, list) or not least <= len(raw) <= 10 or not all(_name(e) for e in raw):
        raise ChartError(f"events must list {least} to 10 event types")
    return list(raw)


def _bounded(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 90:
        raise ChartError(f"{name} must be an integer from 1 to 90")
    return value


def _segmentation(params: dict[str, Any]) -> dict[str, Any]:
    metric = params.get("metric", "uniques")
    if metric not in ("uniques", "totals"):
        raise ChartError("metric must be uniques or totals")
    group_by = params.get("group_by", [])
    if (
        not isinstance(group_by, list)
        or len(group_by) > 5
        or not all(
            isinstance(g, dict) and set(g) == {"type", "value"} and g["type"] in ("event", "user") and _name(g["value"])
            for g in group_by
        )
    ):
        raise ChartError('group_by must list at most 5 {"type": "event"|"user", "value": NAME}')
    return {"events": _events(params.get("events"), 1), "metric": metric, "group_by": [dict(g) for g in group_by]}


def _funnel(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "events": _events(params.get("events"), 2),
        "conversion_window_days": _bounded(params, "conversion_window_days", 1),
    }


def _retention(params: dict[str, Any]) -> dict[str, Any]:
    start, back = params.get("start_event"), params.get("return_event", ACTIVE)
    if not _name(start) or not _name(back):
        raise ChartError("start_event and return_event must be event types")
    return {"start_event": start, "return_event": back, "retention_days": _bounded(params, "retention_days", 7)}


_TYPE_PARAMS = {
    "segmentation": _segmentation,
    "funnel": _funnel,
    "retention": _retention,
    "sessions": lambda params: {},
}


def seed_charts(event_names: dict[str, str], start: str, end: str) -> list[dict[str, Any]]:
    """The simulated app's saved charts over its span (`start`/`end`: the seed summary's ISO times),
    with the app's own names for its event types."""
    first = datetime.fromisoformat(start).astimezone(UTC).date().isoformat()
    last = (datetime.fromisoformat(end).astimezone(UTC) - timedelta(microseconds=1)).date().isoformat()
    span = {"start": first, "end": max(first, last)}
    name = lambda event_type: event_names.get(event_type, event_type)
    return [
        {"id": "seed-active-users", "name": "Daily active users", "type": "segmentation",
         "params": {"events": [ACTIVE], "metric": "uniques", "range": span}},
        {"id": "seed-signups-by-country", "name": "Sign-ups by country", "type": "segmentation",
         "params": {"events": [name("Sign Up")], "metric": "totals", "range": span,
                    "group_by": [{"type": "user", "value": "country"}]}},
        {"id": "seed-purchase-funnel", "name": "Page view to purchase", "type": "funnel",
         "params": {"events": [name("Page View"), name("Add to Cart"), name("Purchase")], "range": span}},
        {"id": "seed-retention", "name": "Retention after sign-up", "type": "retention",
         "params": {"start_event": name("Sign Up"), "return_event": ACTIVE, "retention_days": 7, "range": span}},
        {"id": "seed-sessions", "name": "Sessions", "type": "sessions", "params": {"range": span}},
    ]  # fmt: skip
