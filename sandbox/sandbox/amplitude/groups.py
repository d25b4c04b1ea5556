"""Amplitude groups (the Accounts add-on; reference: brevo-webhooks-companies-amplitude-ingest.md §4).

- Group properties are kept per project (its store, table `groups`) and per (group_type, group_value),
  with the sandbox-clock time of their last update.
- `POST /groupidentify` (ingest.group_identify) and HTTP V2 / batch events of type `$groupidentify`
  (`groups` names the groups, `group_properties` is the update) change them: plain keys mean `$set`,
  or the operations `$set`, `$setOnce`, `$add`, `$append`, `$prepend`, `$unset` (never mixed).
- An event's groups: its own `groups` (event-level: this event only) over the user's groups, which an
  `$identify` carrying `groups` sets, per group type, overwriting (user-level: what the SDKs' setGroup
  sends; Amplitude cannot remove one). A group value is a string or a list of strings (numbers are
  taken as their text); more than 5 group types or 10 groups on one event make it invalid
  (`events_with_invalid_fields.groups`: what Amplitude does past these limits is UNCONFIRMED).
- Export form (chosen: the inner shape is UNCONFIRMED): `groups` = `{group_type: [group_value, ...]}`,
  `group_properties` = `{group_type: {group_value: {properties}}}` with every group the event carries
  (`{}` when nothing is known of it). The properties are those when the event is ingested, so an
  update affects only events ingested after it, as Amplitude documents. `group_properties` sent on
  an event other than `$groupidentify` are not applied (UNCONFIRMED whether Amplitude applies them).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from sandbox.amplitude import properties
from sandbox.amplitude.store import Store

GROUP_IDENTIFY = "$groupidentify"
OPERATIONS = ("$set", "$setOnce", "$add", "$append", "$prepend", "$unset")
MAX_GROUP_TYPES = 5
MAX_GROUPS = 10
MAX_VALUE = 1024


def group_value(value: Any) -> str | None:
    """A group value as stored (text), or None when it cannot be one."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text and len(text) <= MAX_VALUE else None


def normalized(groups: Any) -> dict[str, list[str]] | None:
    """An event's `groups` as `{group_type: [values]}`, or None when malformed or past the limits.

    A group type given an empty list is left out."""
    if not isinstance(groups, dict):
        return None
    result: dict[str, list[str]] = {}
    for group_type, raw in groups.items():
        values = []
        for value in raw if isinstance(raw, list) else [raw]:
            text = group_value(value)
            if text is None:
                return None
            if text not in values:
                values.append(text)
        if not group_type or len(group_type) > MAX_VALUE:
            return None
        if values:
            result[group_type] = values
    if len(result) > MAX_GROUP_TYPES or sum(len(v) for v in result.values()) > MAX_GROUPS:
        return None
    return result


def update_is_valid(update: Any) -> bool:
    """A group property update: plain keys, or only the group operations, each on an object."""
    if not isinstance(update, dict):
        return False
    operations = [key for key in update if key in properties.OPERATIONS]
    if not operations:
        return True
    if len(operations) != len(update) or any(op not in OPERATIONS for op in operations):
        return False
    return all(isinstance(update[op], dict) or (op == "$unset" and isinstance(update[op], list)) for op in operations)


def property_count(update: dict[str, Any]) -> int:
    """How many properties an update names (the Group Identify API allows 1,024 per request)."""
    if not properties.is_operation_update(update):
        return len(update)
    return sum(len(values) for values in update.values() if isinstance(values, (dict, list)))


class GroupState:
    """Group properties read and changed within one write transaction (cached, written once by `save`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.known: dict[tuple[str, str], dict[str, Any]] = {}
        self.changed: dict[tuple[str, str], int] = {}  # -> updated_us

    def properties(self, group_type: str, value: str) -> dict[str, Any]:
        key = (group_type, value)
        if key not in self.known:
            self.known[key] = Store.group_properties(self.conn, group_type, value) or {}
        return self.known[key]

    def update(self, group_type: str, value: str, update: dict[str, Any], at_us: int) -> None:
        """Apply `update` to one group; the group is known from now on, even if nothing changed."""
        properties.apply(self.properties(group_type, value), update)
        self.changed[(group_type, value)] = at_us

    def snapshot(self, groups: dict[str, list[str]]) -> dict[str, dict[str, dict[str, Any]]]:
        """The export's `group_properties` for these groups, as they are now (serialize before the next update)."""
        return {
            group_type: {v: self.properties(group_type, v) for v in values} for group_type, values in groups.items()
        }

    def save(self) -> None:
        Store.save_groups(
            self.conn, [(t, v, orjson.dumps(self.known[(t, v)]), at) for (t, v), at in self.changed.items()]
        )
        self.changed.clear()
