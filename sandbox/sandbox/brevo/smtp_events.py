"""GET /smtp/statistics/events: the simulated transactional emails' events, unaggregated.

Only what the transactional simulation recorded (see simulation.py). Dates are days of Europe/Paris (the
`date` of each event carries that offset, e.g. `2026-11-30T17:42:10.123+01:00`): `startDate` and `endDate`
(`YYYY-MM-DD`, both or neither, at most 90 days apart), or `days` (the last N days, today included, at most
90), else the last 30 days. Filters: `email`, `event` (`bounces` = hard and soft), `tags` (a JSON array or
a comma-separated list; an event matches when it has one of them), `messageId`, `templateId`. Sorted by
event time, `desc` by default; `limit` (default 2500, at most 5000) and `offset` page it.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, time, timedelta
from typing import Any

import orjson

from sandbox import clock
from sandbox.brevo.errors import BrevoError, invalid, missing, out_of_range
from sandbox.brevo.webhook_payloads import PARIS, paris_iso

DEFAULT_DAYS = 30
MAX_DAYS = 90
BOUNCES = ("hardBounces", "softBounces")


def report(db: sqlite3.Connection, query: dict[str, Any]) -> dict[str, Any]:
    start, end = _period(query)
    where, args = ["at >= ?", "at < ?"], [start, end]
    if query.get("email"):
        where.append("email = ?")
        args.append(query["email"].strip().lower())
    event = query.get("event")
    if event:
        names = BOUNCES if event == "bounces" else (event,)
        where.append(f"event IN ({', '.join('?' * len(names))})")
        args += names
    if query.get("messageId"):
        where.append("message_id = ?")
        args.append(query["messageId"])
    if query.get("templateId") is not None:
        where.append("template_id = ?")
        args.append(query["templateId"])
    order = "ASC" if query.get("sort") == "asc" else "DESC"
    offset, limit = max(0, int(query.get("offset") or 0)), int(query.get("limit", 2500))
    tags = _tags(query.get("tags"))
    page = "" if tags else f" LIMIT {limit} OFFSET {offset}"  # the tag filter reads the body: paged below
    rows = db.execute(
        f"SELECT at, body FROM smtp_events WHERE {' AND '.join(where)} ORDER BY at {order}, id {order}{page}", args
    )
    events = []
    for row in rows:
        stored = orjson.loads(row["body"])
        if tags and not tags.intersection(stored.get("tags", [])):
            continue
        stored.pop("tags", None)  # kept for the filter, not a field of the answer
        events.append({"date": paris_iso(round(row["at"] * 1000)), **stored})
    return {"events": events[offset : offset + limit] if tags else events}


def _period(query: dict[str, Any]) -> tuple[float, float]:
    """[start, end) in epoch seconds."""
    given_start, given_end, days = query.get("startDate"), query.get("endDate"), query.get("days")
    today = datetime.fromtimestamp(clock.now(), PARIS).date()
    if given_start or given_end:
        if not (given_start and given_end):
            raise missing("startDate and endDate must be given together")
        if days is not None:
            raise invalid("days is not compatible with startDate and endDate")
        first, last = _day("startDate", given_start), _day("endDate", given_end)
        if first > last:
            raise invalid("startDate must be lower than or equal to endDate")
        if (last - first).days > MAX_DAYS:
            raise out_of_range(f"The date range cannot exceed {MAX_DAYS} days")
    else:
        if days is not None and days < 1:
            raise invalid("days must be a positive integer")
        if days is not None and days > MAX_DAYS:
            raise out_of_range(f"days cannot exceed {MAX_DAYS}")
        last = today
        first = today - timedelta(days=(days or DEFAULT_DAYS) - 1)
    return _midnight(first), _midnight(last + timedelta(days=1))


def _day(name: str, text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise BrevoError(400, "invalid_parameter", f"{name} must be a date like YYYY-MM-DD") from None


def _midnight(day: date) -> float:
    return datetime.combine(day, time(), PARIS).timestamp()


def _tags(given: str | None) -> set[str]:
    if not given:
        return set()
    if given.lstrip().startswith("["):
        try:
            parsed = orjson.loads(given)
        except orjson.JSONDecodeError:
            raise invalid("tags must be a JSON array of strings or a comma-separated list") from None
        if not isinstance(parsed, list) or not all(isinstance(t, str) for t in parsed):
            raise invalid("tags must be a JSON array of strings or a comma-separated list")
        return set(parsed)
    return {t.strip() for t in given.split(",") if t.strip()}
