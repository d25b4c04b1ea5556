"""Turn the typed values the singer-sdk hands sinks (datetime, date, Decimal) into JSON values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import orjson


def iso_utc(value: dt.datetime, *, millis: bool = True) -> str:
    """ISO 8601 in UTC with a `Z` suffix; naive datetimes are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    if millis:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def number(value: Decimal | float) -> int | float:
    """A Decimal as an int when it is integral, else a float."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and abs(value) < 2**63:
            return int(value)
        return float(value)
    return value


def json_safe(value: Any) -> Any:
    """Recursively convert a record value into something orjson/JSON can encode as Brevo expects."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return number(value)
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, float)):
        return value
    return str(value)


def encoded(value: Any) -> bytes:
    """Compact JSON bytes to keep for a while: orjson's own result holds a 4 KB allocation whatever
    its length, so rows held by the thousand are copied into exact-size bytes."""
    return bytes(memoryview(orjson.dumps(value)))


def size_of(value: Any) -> int:
    return len(orjson.dumps(value))
