"""Values from a record made into what Brevo takes: paths, attribute coercion, phones, emails and names."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
import phonenumbers
from email_validator import EmailNotValidError, validate_email

from target_brevo.brevo.api import PHONE_ATTRIBUTES
from target_brevo.mapping.jsonsafe import iso_utc, json_safe, number

BREVO_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]+")
USER_PROPERTIES = "user_properties"
ATTRIBUTE_TYPES = ("text", "date", "float", "boolean", "multiple-choice", "id", "category", "user")
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
# Epoch seconds or milliseconds written as text (Amplitude sends custom user properties and cohort
# `computed_time` as strings); 9 digits or more, so that a basic ISO date (`20240501`) stays a date.
_EPOCH_TEXT = re.compile(r"^-?[0-9]{9,}(\.[0-9]+)?$")


class InvalidValue(ValueError):
    """A value that cannot be turned into what Brevo expects; the message says why."""


@dataclass(frozen=True)
class BrevoItem:
    """One item of a Brevo bulk request (an event, an order), the key that makes it unique, when it
    happened (epoch seconds), and other keys the same item may have been delivered under."""

    key: str
    payload: dict[str, Any]
    occurred_at: float
    aliases: tuple[str, ...] = ()


def get_path(record: dict[str, Any], path: str) -> Any:
    """The value at `path`: an exact key first, else a dotted path into nested objects; None if absent."""
    if path in record:
        return record[path]
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def get_mapped(record: dict[str, Any], path: str) -> Any:
    """As `get_path`; then a bare name the record's top level lacks is read under `user_properties`, where
    Amplitude keeps a user's properties (so `plan_type: PLAN` works on a users stream as written)."""
    value = get_path(record, path)
    if value is None and "." not in path and path not in record:
        nested = record.get(USER_PROPERTIES)
        if isinstance(nested, dict):
            return nested.get(path)
    return value


def can_hold(schema: dict[str, Any], path: str) -> bool:
    """Whether records of `schema` can have a value at `path` as `get_mapped` reads it: False only when a
    closed object (`additionalProperties: false`, or a non-object type) rules every reading out."""
    readings = [[path], path.split(".")]
    if "." not in path:
        readings.append([USER_PROPERTIES, path])
    return any(_reachable(schema, parts) for parts in readings)


def _reachable(node: dict[str, Any], parts: list[str]) -> bool:
    if not parts:
        return True
    properties = node.get("properties") or {}
    if parts[0] in properties:
        return _reachable(properties[parts[0]] or {}, parts[1:])
    if any(key in node for key in ("anyOf", "oneOf", "allOf", "$ref")):
        return True
    types = node.get("type")
    types = [types] if isinstance(types, str) else (types or ["object"])
    return "object" in types and node.get("additionalProperties") is not False


def schema_at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """The JSON schema of the property at `path` as `get_mapped` reads it ({} when unknown)."""
    props = schema.get("properties") or {}
    if path in props:
        return props[path] or {}
    if "." not in path:
        path = f"{USER_PROPERTIES}.{path}"
    node: dict[str, Any] = schema
    for part in path.split("."):
        node = (node.get("properties") or {}).get(part) or {}
        if not node:
            return {}
    return node


def attribute_type_from_schema(prop_schema: dict[str, Any]) -> str:
    """The Brevo attribute type matching a JSON schema property."""
    types: Any = prop_schema.get("type", [])
    if isinstance(types, str):
        types = [types]
    if not types:
        for option in prop_schema.get("anyOf", []) + prop_schema.get("oneOf", []):
            found = attribute_type_from_schema(option)
            if found != "text":
                return found
        return "text"
    types = [t for t in types if t != "null"]
    if "boolean" in types and len(types) == 1:
        return "boolean"
    if types and all(t in ("number", "integer") for t in types):
        return "float"
    if "string" in types and prop_schema.get("format") in ("date", "date-time"):
        return "date"
    return "text"


def normalise_name(name: str) -> str:
    """An event name or property key reduced to Brevo's allowed characters (letters, digits, - and _)."""
    cleaned = _NOT_ALLOWED.sub("_", str(name)).strip("_")
    return cleaned[:255]


def normalise_email(value: Any) -> str:
    """A syntactically valid email, lower-cased; no DNS lookups."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue("email is empty")
    return _checked_email(value.strip())


@functools.lru_cache(maxsize=65_536)
def _checked_email(text: str) -> str:
    # cached: the same users' emails come back on every event, order and cohort record
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidValue(f"invalid email: {exc}") from None
    return result.normalized.lower()


def normalise_phone(value: Any, default_region: str | None) -> str:
    """A phone number in E.164 (`+33612345678`)."""
    if isinstance(value, (int, Decimal)):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue("phone is empty")
    text = value.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    candidates = [text]
    if not text.startswith("+"):
        candidates.append("+" + re.sub(r"\D", "", text))
    for candidate in candidates:
        region = None if candidate.startswith("+") else default_region
        if not candidate.startswith("+") and not region:
            continue
        try:
            parsed = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidValue(f"invalid phone number (default region {default_region or 'none'})")


def _to_datetime(value: Any) -> dt.datetime | dt.date:
    if isinstance(value, (dt.datetime, dt.date)):
        return value
    if isinstance(value, bool):
        raise InvalidValue("not a date")
    if isinstance(value, str) and _EPOCH_TEXT.match(value.strip()):
        value = Decimal(value.strip())
    if isinstance(value, (int, float, Decimal)):
        seconds = float(value)
        if abs(seconds) > 1e11:  # epoch milliseconds (Amplitude's habit)
            seconds /= 1000
        try:
            return dt.datetime.fromtimestamp(seconds, dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidValue(f"not a date: {value} is out of range") from None
    if isinstance(value, str):
        text = value.strip()
        try:
            return dt.datetime.fromisoformat(text.replace(" ", "T", 1) if len(text) > 10 else text)
        except ValueError:
            pass
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            raise InvalidValue(f"not a date: {text[:40]!r}") from None
    raise InvalidValue("not a date")


def to_date(value: Any) -> str:
    parsed = _to_datetime(value)
    if isinstance(parsed, dt.datetime):
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.UTC)
        parsed = parsed.date()
    return parsed.isoformat()


def to_epoch(value: Any) -> float:
    """Epoch seconds of a date or date-time (naive ones are UTC)."""
    parsed = _to_datetime(value)
    if not isinstance(parsed, dt.datetime):
        parsed = dt.datetime(parsed.year, parsed.month, parsed.day, tzinfo=dt.UTC)
    elif parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def to_datetime_iso(value: Any, *, millis: bool = True) -> str:
    parsed = _to_datetime(value)
    if not isinstance(parsed, dt.datetime):
        parsed = dt.datetime(parsed.year, parsed.month, parsed.day, tzinfo=dt.UTC)
    return iso_utc(parsed, millis=millis)


def to_number(value: Any) -> int | float:
    """A finite number, from a number or its text (`"19.99"`); NaN and infinities are refused (JSON has
    no way to send them)."""
    if isinstance(value, bool):
        raise InvalidValue("a boolean is not a number")
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidValue(f"not a number: {value[:40]!r}") from None
    if isinstance(value, (int, float, Decimal)):
        try:  # integers past 64 bits go as floats, as JSON readers take them
            result = float(value) if isinstance(value, int) and abs(value) >= 2**63 else number(value)
        except (OverflowError, InvalidOperation):
            result = math.nan
        if isinstance(result, float) and not math.isfinite(result):
            raise InvalidValue(f"not a finite number: {str(value)[:40]}")
        return result
    raise InvalidValue("not a number")


def to_boolean(value: Any) -> bool:
    """A boolean, from a boolean, 0 or 1 (`"1.0"` too), or a word (`"true"`, `"No"`)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    with contextlib.suppress(InvalidValue):
        as_number = to_number(value)
        if as_number in (0, 1):
            return bool(as_number)
    raise InvalidValue(f"not a boolean: {str(value)[:40]!r}")


def to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    safe = json_safe(value)
    if isinstance(safe, (dict, list)):
        return orjson.dumps(safe).decode()
    return str(safe)


def coerce_attribute(name: str, value: Any, attr_type: str, default_region: str | None) -> Any:
    """The value of Brevo attribute `name` of type `attr_type`, or InvalidValue."""
    if name in PHONE_ATTRIBUTES:
        return normalise_phone(value, default_region)
    if name == "EXT_ID":
        return to_text(number(value) if isinstance(value, Decimal) else value)
    if attr_type == "date":
        return to_date(value)
    if attr_type == "float":
        return to_number(value)
    if attr_type == "boolean":
        return to_boolean(value)
    if attr_type == "multiple-choice":
        items = value if isinstance(value, (list, tuple)) else [value]
        return [to_text(v) for v in items]
    if attr_type in ("id", "category"):
        safe = json_safe(value)
        if isinstance(safe, (int, str)):
            return safe
        raise InvalidValue(f"not a {attr_type} value")
    return to_text(value)


def to_identifier(value: Any) -> str | None:
    """A string identifier (ext_id, event uuid), or None when the value is missing or blank."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        value = number(value)
    text = str(value).strip()
    return text or None


def content_key(value: Any) -> str:
    """A stable key for a record that has no id of its own (sha256 of its canonical JSON)."""
    return "sha256:" + hashlib.sha256(orjson.dumps(json_safe(value), option=orjson.OPT_SORT_KEYS)).hexdigest()


def normalise_properties(value: Any) -> Any:
    """Event properties made JSON-safe, with every object key reduced to Brevo's allowed characters."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = normalise_name(key)
            if not name:
                continue
            out[name] = normalise_properties(item)
        return out
    if isinstance(value, (list, tuple)):
        return [normalise_properties(v) for v in value]
    return json_safe(value)
