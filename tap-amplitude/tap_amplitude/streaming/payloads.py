"""What Amplitude's two webhook destinations post, and which bodies the receiver accepts.

Webhooks Streaming posts an event (it has an `event_type`) or, with "Send Users", a user in the Identify format
(a `user_properties` object and no `event_type`). Cohort Webhooks post a batch: `{cohort_name, cohort_id,
in_cohort, computed_time, message_id, users: [{user_id, user_properties}]}`. Batching is not documented for
either, so a JSON array of such objects is accepted too. A body is accepted whole or refused whole (400, with the
reason raised as `Refused`, a ValueError), so that a refused one leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tap_amplitude.hours import epoch_seconds_to_rfc3339

EVENT = "event"
USER = "user"
COHORT = "cohort"

USER_IDENTIFIERS = ("user_id", "device_id", "amplitude_id")
# Epoch values from here on are read as milliseconds (a seconds value this large is after the year 5000):
# Amplitude documents seconds, but a template may forward another clock.
_MILLISECONDS_FROM = 10**11


class Refused(ValueError):
    """A body the receiver refuses (400); the message is the reason."""


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _items(payload: Any, what: str) -> list[tuple[str, Any]]:
    """(prefix for reasons, item) per item of a body holding one object or an array of them."""
    if isinstance(payload, list):
        if not payload:
            raise Refused(f"an empty array: expected {what}, or an array of them")
        return [(f"item {index}: ", item) for index, item in enumerate(payload)]
    return [("", payload)]


# -- Webhooks Streaming ---------------------------------------------------------------------------


def stream_item_kind(item: Any) -> str:
    """EVENT or USER; Refused (the reason) for anything else."""
    if not isinstance(item, dict):
        raise Refused(f"expected an event or user object, got {_json_type(item)}")
    event_type = item.get("event_type")
    if event_type is not None:
        if not isinstance(event_type, str) or not event_type.strip():
            raise Refused("event_type must be a non-empty string")
        return EVENT
    properties = item.get("user_properties")
    if properties is None:
        raise Refused("neither an event (no event_type) nor a user (no user_properties)")
    if not isinstance(properties, dict):
        raise Refused(f"user_properties must be an object, got {_json_type(properties)}")
    if all(item.get(name) in (None, "") for name in USER_IDENTIFIERS):
        raise Refused("a user needs a user_id, device_id or amplitude_id")
    return USER


def classify_stream(payload: Any) -> list[tuple[str, Any]]:
    """The receiver's classifier for the Webhooks Streaming endpoint."""
    classified = []
    for where, item in _items(payload, "an event or user object"):
        try:
            classified.append((stream_item_kind(item), item))
        except ValueError as exc:
            raise Refused(f"{where}{exc}") from None
    return classified


# -- Cohort Webhooks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortMember:
    user_id: str | None
    user_properties: dict[str, Any]


@dataclass(frozen=True)
class CohortBatch:
    cohort_id: str
    cohort_name: str | None
    in_cohort: bool  # true: these users entered the cohort; false: they left it
    message_id: str
    computed_time: str | None  # RFC 3339, UTC
    users: list[CohortMember]


def _text_id(value: Any, field: str) -> str:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise Refused(f"{field} must be a non-empty string, got {_json_type(value)}")


def _boolean(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise Refused(f"{field} must be true or false, got {_json_type(value)}")


def _epoch_seconds(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    reason = f"{field} must be Unix epoch seconds (a number or a string of digits)"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise Refused(reason)
    try:
        number = float(value)
        if not number >= 0:  # negative, or not a number at all
            raise Refused(reason)
        return epoch_seconds_to_rfc3339(number / 1000 if number >= _MILLISECONDS_FROM else number)
    except (ValueError, OverflowError, OSError):
        raise Refused(reason) from None


def _member(value: Any, index: int) -> CohortMember:
    if not isinstance(value, dict):
        raise Refused(f"users[{index}] must be an object, got {_json_type(value)}")
    user_id = value.get("user_id")
    if user_id is not None and not (isinstance(user_id, (str, int)) and not isinstance(user_id, bool)):
        raise Refused(f"users[{index}].user_id must be a string, got {_json_type(user_id)}")
    properties = value.get("user_properties")
    if properties is not None and not isinstance(properties, dict):
        raise Refused(f"users[{index}].user_properties must be an object, got {_json_type(properties)}")
    return CohortMember(None if user_id in (None, "") else str(user_id), properties or {})


def parse_cohort_batch(body: Any) -> CohortBatch:
    """A Cohort Webhooks body as a CohortBatch; Refused (the reason) when it is not one."""
    if not isinstance(body, dict):
        raise Refused(f"expected a cohort batch object, got {_json_type(body)}")
    missing = [name for name in ("cohort_id", "in_cohort", "message_id", "users") if body.get(name) is None]
    if missing:
        raise Refused(f"not a cohort batch: missing {', '.join(missing)}")
    users = body["users"]
    if not isinstance(users, list):
        raise Refused(f"users must be an array, got {_json_type(users)}")
    name = body.get("cohort_name")
    return CohortBatch(
        cohort_id=_text_id(body["cohort_id"], "cohort_id"),
        cohort_name=None if name is None else str(name),
        in_cohort=_boolean(body["in_cohort"], "in_cohort"),
        message_id=_text_id(body["message_id"], "message_id"),
        computed_time=_epoch_seconds(body.get("computed_time"), "computed_time"),
        users=[_member(user, index) for index, user in enumerate(users)],
    )


def classify_cohorts(payload: Any) -> list[tuple[str, Any]]:
    """The receiver's classifier for the Cohort Webhooks endpoint: one spool item per batch."""
    classified = []
    for where, item in _items(payload, "a cohort batch object"):
        try:
            parse_cohort_batch(item)
        except ValueError as exc:
            raise Refused(f"{where}{exc}") from None
        classified.append((COHORT, item))
    return classified
