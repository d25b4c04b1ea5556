"""From one exported event: the typed `events` record and its share of `users` and `groups` (its `revenue` record:
revenue.py)."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import msgspec

from tap_amplitude.hours import iso, to_rfc3339

_encode_json = msgspec.json.encode

INTEGER, NUMBER, STRING, BOOLEAN, OBJECT, TIMESTAMP, STRING_OR_ARRAY = range(7)

# Every documented export field (and the undocumented ones real exports carry), with its type.
EVENT_FIELDS: dict[str, int] = {
    "uuid": STRING,
    "event_id": INTEGER,
    "event_type": STRING,
    "$insert_id": STRING,
    "$insert_key": STRING,
    "$schema": INTEGER,
    "amplitude_id": INTEGER,
    "user_id": STRING,
    "device_id": STRING,
    "app": INTEGER,
    "server_upload_time": TIMESTAMP,
    "server_received_time": TIMESTAMP,
    "client_upload_time": TIMESTAMP,
    "client_event_time": TIMESTAMP,
    "event_time": TIMESTAMP,
    "processed_time": TIMESTAMP,
    "user_creation_time": TIMESTAMP,
    "session_id": INTEGER,
    "event_properties": OBJECT,
    "user_properties": OBJECT,
    "group_properties": OBJECT,
    "groups": OBJECT,
    "global_user_properties": OBJECT,
    "data": OBJECT,
    "plan": OBJECT,
    "data_type": STRING,
    "source_id": STRING,
    "partner_id": STRING,
    "platform": STRING,
    "os_name": STRING,
    "os_version": STRING,
    "version_name": STRING,
    "start_version": STRING,
    "library": STRING,
    "device_type": STRING,
    "device_family": STRING,
    "device_carrier": STRING,
    "device_manufacturer": STRING,
    "device_brand": STRING,
    "device_model": STRING,
    "language": STRING,
    "country": STRING,
    "region": STRING,
    "city": STRING,
    "dma": STRING,
    "ip_address": STRING,
    "idfa": STRING,
    "adid": STRING,
    "location_lat": NUMBER,
    "location_lng": NUMBER,
    "paying": BOOLEAN,
    "is_attribution_event": BOOLEAN,
    "amplitude_event_type": STRING,
    "amplitude_attribution_ids": STRING_OR_ARRAY,
    "sample_rate": NUMBER,
}

_FAST_TYPES: dict[int, tuple[type, ...]] = {
    INTEGER: (int,),
    NUMBER: (float, int),
    STRING: (str,),
    BOOLEAN: (bool,),
    OBJECT: (dict,),
    STRING_OR_ARRAY: (str, list),
}


class Conformer:
    """Builds typed records from decoded export events: cheap `type()` checks, conversion only on a mismatch."""

    def __init__(self) -> None:
        self.fields = list(EVENT_FIELDS.items())
        self.fixed: dict[str, int] = {}  # field -> values converted
        self.dropped: dict[str, int] = {}  # field -> values that could not be converted (set to null)

    def event(self, raw: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {}
        get = raw.get
        for name, kind in self.fields:
            value = get(name)
            if value is None:
                record[name] = None
            elif kind == TIMESTAMP:
                try:
                    record[name] = to_rfc3339(value)
                except ValueError:
                    record[name] = self._drop(name)
            elif type(value) in _FAST_TYPES[kind] and not (kind in (INTEGER, NUMBER) and type(value) is bool):
                record[name] = float(value) if kind == NUMBER and type(value) is int else value
            else:
                record[name] = self._convert(name, kind, value)
        return record

    def _drop(self, name: str) -> None:
        self.dropped[name] = self.dropped.get(name, 0) + 1

    def _convert(self, name: str, kind: int, value: Any) -> Any:
        converted = convert(kind, value)
        if converted is None:
            self._drop(name)
        else:
            self.fixed[name] = self.fixed.get(name, 0) + 1
        return converted


def convert(kind: int, value: Any) -> Any:
    """`value` as `kind`, or None when it cannot be represented."""
    try:
        if kind == INTEGER:
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str):
                return int(value.strip())
            return None
        if kind == NUMBER:
            if isinstance(value, bool):
                return None
            return float(value)
        if kind == STRING:
            if isinstance(value, (int, float)):
                return str(value)
            return _encode_json(value).decode()
        if kind == BOOLEAN:
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            return None
    except (TypeError, ValueError):
        return None
    return None


# -- users -------------------------------------------------------------------------------------------

# Latest non-null value wins, by event time.
USER_LATEST_FIELDS = (
    "user_id",
    "device_id",
    "platform",
    "os_name",
    "os_version",
    "device_type",
    "device_family",
    "country",
    "region",
    "city",
    "language",
    "version_name",
)


_latest_fields = operator.attrgetter(*USER_LATEST_FIELDS)
_UNIQUE_FIELDS = 2  # user_id and device_id; the others (platform ... version_name) take few distinct values


class _User(msgspec.Struct, gc=False):
    """What one window knows about one user: slots, not a dict, since a window can hold many users."""

    first_active: str
    last_active: str
    latest: tuple[Any, ...]  # USER_LATEST_FIELDS' values
    event_count: int = 0
    sessions: set[int] | None = None
    user_properties: dict[str, Any] | None = None


def _newer_unless_null(newer: tuple[Any, ...], older: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(old if new is None else new for new, old in zip(newer, older, strict=True))


class UserAggregator:
    """Per `amplitude_id`, the window's latest user properties and engagement; memory grows with distinct
    users in the window, not with events."""

    def __init__(self, window_first: datetime, window_end: datetime) -> None:
        self.window_start = iso(window_first)
        self.window_end = iso(window_end)
        self._users: dict[int, _User] = {}
        self._shared: dict[str, str] = {}

    def _shared_values(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """`values` with one string object per distinct platform, country, city, ... for the whole window,
        instead of a copy per user (a window can hold many users)."""
        shared = self._shared
        return values[:_UNIQUE_FIELDS] + tuple(
            [None if value is None else shared.setdefault(value, value) for value in values[_UNIQUE_FIELDS:]]
        )

    def add(self, event: Any) -> None:
        """Count a decoded `ExportedEvent` (timestamps already RFC 3339, so they order as text)."""
        amplitude_id = event.amplitude_id
        if amplitude_id is None:
            return
        when = event.event_time or event.server_upload_time or ""
        values = _latest_fields(event)
        user = self._users.get(amplitude_id)
        if user is None:
            user = self._users[amplitude_id] = _User(when, when, self._shared_values(values))
        elif when >= user.last_active:  # the latest event so far: its values win, except its nulls
            user.last_active = when
            if values != user.latest:  # (usually equal: a user's device and place rarely change)
                latest = values if None not in values else _newer_unless_null(values, user.latest)
                user.latest = self._shared_values(latest)
        else:  # an older event only fills what is still null
            user.first_active = min(user.first_active, when)
            if values != user.latest and None in user.latest:
                user.latest = self._shared_values(_newer_unless_null(user.latest, values))
        user.event_count += 1
        session_id = event.session_id
        if session_id is not None and session_id != -1:
            if user.sessions is None:
                user.sessions = {session_id}
            else:
                user.sessions.add(session_id)
        properties = event.user_properties
        if properties and (user.last_active == when or user.user_properties is None):
            user.user_properties = properties

    def records(self) -> Iterator[dict[str, Any]]:
        for amplitude_id, user in self._users.items():
            yield {
                "amplitude_id": amplitude_id,
                "first_active": user.first_active or None,
                "last_active": user.last_active or None,
                "event_count": user.event_count,
                "user_properties": user.user_properties,
                **dict(zip(USER_LATEST_FIELDS, user.latest, strict=True)),
                "session_count": len(user.sessions) if user.sessions else 0,
                "window_start": self.window_start,
                "window_end": self.window_end,
            }


# -- groups ------------------------------------------------------------------------------------------

# The export's inner shapes of `groups` and `group_properties` are UNCONFIRMED; both readings are accepted, per
# group type:
# - `groups`: `{group_type: [group_value, ...]}` (the sandbox's form) or `{group_type: group_value}`. Values are
#   strings (numbers are taken as their text); empty ones are skipped.
# - `group_properties`: nested `{group_type: {group_value: {properties}}}` (the sandbox's form: an entry per group
#   the event carries) when one of the event's group values of that type is a key holding an object; else flat
#   `{group_type: {properties}}`, applied to the event's one group of that type. A flat object is skipped when
#   the event carries several groups of the type (whose would it be?) or when it holds only objects (the nested
#   form naming other groups than the event's).
GROUP_IDENTIFY = "$groupidentify"  # changes its groups' properties; its sender does not become a member


def group_values(value: Any) -> list[str]:
    """An event's values of one group type, as text, each once."""
    values: list[str] = []
    for item in value if isinstance(value, list) else (value,):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            continue
        text = item if isinstance(item, str) else str(item)
        if text and text not in values:
            values.append(text)
    return values


def properties_by_group(values: list[str], properties: Any) -> dict[str, dict[str, Any]]:
    """The non-empty properties `group_properties[group_type]` gives each of the event's `values` (see above)."""
    if not isinstance(properties, dict) or not properties:
        return {}
    if any(isinstance(properties.get(value), dict) for value in values):
        return {value: found for value in values if isinstance(found := properties.get(value), dict) and found}
    if len(values) == 1 and not all(isinstance(item, dict) for item in properties.values()):
        return {values[0]: properties}
    return {}


class _Member(msgspec.Struct, gc=False):
    """A user seen in a group: the latest non-null user_id and email (by event time)."""

    seen: str
    user_id: str | None
    email: str | None


class _Group(msgspec.Struct, gc=False):
    first_seen: str
    last_seen: str
    properties_seen: str = ""
    properties: dict[str, Any] | None = None
    members: dict[int, _Member] = msgspec.field(default_factory=dict)


class GroupAggregator:
    """Per (group_type, group_value), the window's latest group properties, first and last event time, and the
    users whose events carried the group; memory grows with the distinct groups and their members in the window,
    not with events."""

    def __init__(self, window_first: datetime, window_end: datetime) -> None:
        self.window_start = iso(window_first)
        self.window_end = iso(window_end)
        self._groups: dict[tuple[str, str], _Group] = {}

    def add(self, event: Any) -> None:
        """Count a decoded `ExportedEvent` (timestamps already RFC 3339, so they order as text)."""
        groups = event.groups
        if not groups:
            return
        when = event.event_time or event.server_upload_time or ""
        all_properties = event.group_properties if isinstance(event.group_properties, dict) else {}
        amplitude_id = event.amplitude_id if event.event_type != GROUP_IDENTIFY else None
        user_id = event.user_id
        email = (event.user_properties or {}).get("email") if amplitude_id is not None else None
        if not isinstance(email, str) or not email:
            email = None
        for group_type, raw_values in groups.items():
            if not isinstance(group_type, str) or not group_type:
                continue
            values = group_values(raw_values)
            if not values:
                continue
            properties = properties_by_group(values, all_properties.get(group_type))
            for value in values:
                key = (group_type, value)
                group = self._groups.get(key)
                if group is None:
                    group = self._groups[key] = _Group(when, when)
                elif when > group.last_seen:
                    group.last_seen = when
                elif when < group.first_seen:
                    group.first_seen = when
                if (found := properties.get(value)) is not None and (
                    group.properties is None or when >= group.properties_seen
                ):
                    group.properties, group.properties_seen = found, when
                if amplitude_id is not None:
                    _add_member(group.members, amplitude_id, when, user_id, email)

    def records(self) -> Iterator[dict[str, Any]]:
        for (group_type, group_value), group in self._groups.items():
            yield {
                "group_type": group_type,
                "group_value": group_value,
                "group_properties": group.properties,
                "first_seen": group.first_seen or None,
                "last_seen": group.last_seen or None,
                "members": [
                    {"amplitude_id": amplitude_id, "user_id": member.user_id, "email": member.email}
                    for amplitude_id, member in sorted(group.members.items())
                ],
                "window_start": self.window_start,
                "window_end": self.window_end,
            }


def _add_member(
    members: dict[int, _Member], amplitude_id: int, when: str, user_id: str | None, email: str | None
) -> None:
    """The newest event's user_id and email win, except its nulls; an older event only fills what is still null."""
    member = members.get(amplitude_id)
    if member is None:
        members[amplitude_id] = _Member(when, user_id, email)
    elif when >= member.seen:
        member.seen = when
        member.user_id = user_id or member.user_id
        member.email = email or member.email
    else:
        member.user_id = member.user_id or user_id
        member.email = member.email or email
