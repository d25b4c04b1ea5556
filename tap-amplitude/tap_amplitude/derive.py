"""From one exported event: the typed `events` record and its share of `users` and `groups` (its `revenue` record:
revenue.py)."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import msgspec

from tap_amplitude.hours import iso, to_rfc3339
from tap_amplitude.spill import SortedRuns

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

USERS_IN_MEMORY = 50_000  # users a window keeps in memory; past it they go to sorted runs on disk (spill.py)

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
_by_key = operator.itemgetter(0)


class _User(msgspec.Struct, gc=False, array_like=True, tag="u"):
    """What one window knows about one user: slots, not a dict, since a window can hold many users."""

    first_active: str
    last_active: str
    latest: tuple[Any, ...]  # USER_LATEST_FIELDS' values
    event_count: int = 0
    sessions: set[int] | None = None
    user_properties: dict[str, Any] | None = None


def _newer_unless_null(newer: tuple[Any, ...], older: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(old if new is None else new for new, old in zip(newer, older, strict=True))


class _Part(msgspec.Struct, gc=False, array_like=True, tag="p"):
    """A key's events since the last spill, summed up so that `_apply` gives, on the key's state from before the
    spill, exactly what adding the events to it one by one gives.

    Adding one event to a state (users and group members alike): an event at or after the state's last time sets
    every field it has (not null); an older one only fills fields still null. Call an event of the part leading
    when it is at or after every earlier event of the part. Then, on a state whose last time is L, a field takes
    the value of the part's last leading event that had one if that event is at or after L; else the state keeps
    its value or, when it has none, takes the first value the part saw."""

    last: str
    latest: tuple[Any, ...]  # per field: the value of the last leading event that had one (None: none had)
    # Per field: that event's time (None: none had); left None for a part of one event (`last` wherever `latest`
    # has a value), the usual case past a spill, which then takes half the bytes on disk.
    latest_when: tuple[Any, ...] | None = None
    earliest: tuple[Any, ...] | None = None  # per field: the first value seen, in arrival order (None: `latest`)


def _times(part: _Part) -> tuple[Any, ...]:
    if part.latest_when is not None:
        return part.latest_when
    last = part.last
    return tuple([None if value is None else last for value in part.latest])


def _add_to_part(part: _Part, when: str, values: tuple[Any, ...]) -> None:
    latest, times = part.latest, _times(part)
    earliest = latest if part.earliest is None else part.earliest
    if when >= part.last:  # a leading event
        part.last = when
        if None not in values:
            latest, times = values, (when,) * len(values)
        else:
            latest = _newer_unless_null(values, latest)
            times = tuple([old if value is None else when for value, old in zip(values, times, strict=True)])
    part.latest, part.latest_when = latest, times
    part.earliest = _newer_unless_null(earliest, values) if None in earliest else earliest


def _apply(values: tuple[Any, ...], last: str, part: _Part) -> tuple[Any, ...]:
    """`values` of a state whose last time is `last`, after the part's events (see `_Part`)."""
    earliest = part.latest if part.earliest is None else part.earliest
    return tuple(
        new if when is not None and when >= last else (old if old is not None else first)
        for old, new, when, first in zip(values, part.latest, _times(part), earliest, strict=True)
    )


def _resolve(part: _Part) -> tuple[Any, ...]:
    """The values of a key first seen in this part (`_apply` on a state with no values and no time)."""
    if part.earliest is None:
        return part.latest
    return tuple(new if new is not None else first for new, first in zip(part.latest, part.earliest, strict=True))


class _UserPart(_Part, tag="up"):
    """A user's events since the last spill (see `_Part`; its fields: USER_LATEST_FIELDS', then
    user_properties, null when empty)."""

    first: str = ""
    event_count: int = 0
    sessions: set[int] | None = None


def _user_from_part(part: _UserPart) -> _User:
    values = _resolve(part)
    return _User(part.first, part.last, values[:-1], part.event_count, part.sessions, values[-1])


def _fold_user(entries: list[Any]) -> _User:
    """One user's entries from every run, oldest first: a state, or a part when first seen after a spill, then
    parts."""
    user = entries[0] if type(entries[0]) is _User else _user_from_part(entries[0])
    for part in entries[1:]:
        values = _apply((*user.latest, user.user_properties), user.last_active, part)
        user.latest, user.user_properties = values[:-1], values[-1]
        user.first_active = min(user.first_active, part.first)
        user.last_active = max(user.last_active, part.last)
        user.event_count += part.event_count
        if part.sessions:
            user.sessions = part.sessions if user.sessions is None else user.sessions | part.sessions
    return user


class UserAggregator:
    """Per `amplitude_id`, the window's latest user properties and engagement, in amplitude_id order.

    Memory holds at most `in_memory` users: past that, they are written to disk as one sorted run, and the users
    seen after it are summed up as parts (`_Part`) until the next spill; `records` merges the runs back, one user
    at a time. The records are the same either way, and so is their order."""

    def __init__(self, window_first: datetime, window_end: datetime, in_memory: int | None = None) -> None:
        self.window_start = iso(window_first)
        self.window_end = iso(window_end)
        self._users: dict[int, Any] = {}  # _User until the first spill, _UserPart after
        self._shared: dict[str, str] = {}
        self._in_memory = max(1, USERS_IN_MEMORY if in_memory is None else in_memory)
        self._runs: SortedRuns | None = None

    @property
    def spilled(self) -> int:
        """Users and parts written to disk so far."""
        return self._runs.written if self._runs is not None else 0

    def _shared_values(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """`values` with one string object per distinct platform, country, city, ... (until the next spill),
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
        if self._runs is not None:
            self._add_after_spill(amplitude_id, event)
            return
        when = event.event_time or event.server_upload_time or ""
        values = _latest_fields(event)
        user = self._users.get(amplitude_id)
        if user is None:
            if len(self._users) >= self._in_memory:
                self._spill()
                self._add_after_spill(amplitude_id, event)
                return
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

    def _add_after_spill(self, amplitude_id: int, event: Any) -> None:
        when = event.event_time or event.server_upload_time or ""
        values = (*self._shared_values(_latest_fields(event)), event.user_properties or None)
        part = self._users.get(amplitude_id)
        if part is None:
            if len(self._users) >= self._in_memory:
                self._spill()
            part = self._users[amplitude_id] = _UserPart(when, values, first=when)
        else:
            _add_to_part(part, when, values)
            part.first = min(part.first, when)
        part.event_count += 1
        session_id = event.session_id
        if session_id is not None and session_id != -1:
            if part.sessions is None:
                part.sessions = {session_id}
            else:
                part.sessions.add(session_id)

    def _spill(self) -> None:
        if self._runs is None:
            self._runs = SortedRuns(tuple[int, _User | _UserPart], _fold_user)
        self._runs.write(sorted(self._users.items(), key=_by_key))
        self._users.clear()
        self._shared.clear()

    def records(self) -> Iterator[dict[str, Any]]:
        """The window's users, once (the aggregator is spent after)."""
        users = sorted(self._users.items(), key=_by_key)
        self._users = {}
        for amplitude_id, user in users if self._runs is None else self._runs.merged(users):
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


MEMBERS_IN_MEMORY = 100_000  # group members (all groups together) a window keeps in memory; past it, to disk


class _Member(msgspec.Struct, gc=False, array_like=True, tag="m"):
    """A user seen in a group: the latest non-null user_id and email (by event time)."""

    seen: str
    user_id: str | None
    email: str | None


class _Group(msgspec.Struct, gc=False):
    first_seen: str
    last_seen: str
    properties_seen: str = ""
    properties: dict[str, Any] | None = None
    members: dict[int, Any] = msgspec.field(default_factory=dict)  # _Member until the first spill, _Part after


def _fold_member(entries: list[Any]) -> _Member:
    """One member's entries from every run, oldest first (see `_fold_user`)."""
    first = entries[0]
    member = first if type(first) is _Member else _Member(first.last, *_resolve(first))
    for part in entries[1:]:
        member.user_id, member.email = _apply((member.user_id, member.email), member.seen, part)
        member.seen = max(member.seen, part.last)
    return member


class GroupAggregator:
    """Per (group_type, group_value), the window's latest group properties, first and last event time, and the
    users whose events carried the group.

    Groups stay in memory (a window holds few: accounts); their members, at most `in_memory` of them across
    groups: past that, they go to disk as one sorted run, as users do (see `UserAggregator`). A group's record
    still holds its whole member list, so the largest group's members are in memory while it is written."""

    def __init__(self, window_first: datetime, window_end: datetime, in_memory: int | None = None) -> None:
        self.window_start = iso(window_first)
        self.window_end = iso(window_end)
        self._groups: dict[tuple[str, str], _Group] = {}
        self._in_memory = max(1, MEMBERS_IN_MEMORY if in_memory is None else in_memory)
        self._members = 0  # in memory, across groups
        self._runs: SortedRuns | None = None

    @property
    def spilled(self) -> int:
        """Members and parts written to disk so far."""
        return self._runs.written if self._runs is not None else 0

    def add(self, event: Any) -> None:
        """Count a decoded `ExportedEvent` (timestamps already RFC 3339, so they order as text)."""
        groups = event.groups
        if not groups:
            return
        when = event.event_time or event.server_upload_time or ""
        all_properties = event.group_properties if isinstance(event.group_properties, dict) else {}
        amplitude_id = event.amplitude_id if event.event_type != GROUP_IDENTIFY else None
        identity = (event.user_id or None, _email(event) if amplitude_id is not None else None)
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
                    self._add_member(group.members, amplitude_id, when, identity)

    def _add_member(self, members: dict[int, Any], amplitude_id: int, when: str, identity: tuple[Any, ...]) -> None:
        """The newest event's user_id and email win, except its nulls; an older event only fills what is still
        null."""
        member = members.get(amplitude_id)
        if member is None:
            if self._members >= self._in_memory:
                self._spill()
            self._members += 1
            members[amplitude_id] = _Member(when, *identity) if self._runs is None else _Part(when, identity)
        elif self._runs is not None:
            _add_to_part(member, when, identity)
        elif when >= member.seen:
            member.seen = when
            member.user_id = identity[0] or member.user_id
            member.email = identity[1] or member.email
        else:
            member.user_id = member.user_id or identity[0]
            member.email = member.email or identity[1]

    def _spill(self) -> None:
        if self._runs is None:
            self._runs = SortedRuns(tuple[tuple[int, int], _Member | _Part], _fold_member)
        self._runs.write(self._members_in_order())
        for group in self._groups.values():
            group.members.clear()
        self._members = 0

    def _members_in_order(self) -> Iterator[tuple[tuple[int, int], Any]]:
        """((group number, amplitude_id), member), by group in first-seen order, then by amplitude_id."""
        for number, group in enumerate(self._groups.values()):
            for amplitude_id, member in sorted(group.members.items(), key=_by_key):
                yield (number, amplitude_id), member

    def records(self) -> Iterator[dict[str, Any]]:
        """The window's groups, once (the aggregator is spent after)."""
        merged = self._runs.merged(self._members_in_order()) if self._runs is not None else None
        pending = next(merged, None) if merged is not None else None
        for number, ((group_type, group_value), group) in enumerate(self._groups.items()):
            if merged is None:
                members = sorted(group.members.items(), key=_by_key)
            else:
                members = []
                while pending is not None and pending[0][0] == number:
                    members.append((pending[0][1], pending[1]))
                    pending = next(merged, None)
            group.members = {}
            yield {
                "group_type": group_type,
                "group_value": group_value,
                "group_properties": group.properties,
                "first_seen": group.first_seen or None,
                "last_seen": group.last_seen or None,
                "members": [
                    {"amplitude_id": amplitude_id, "user_id": member.user_id, "email": member.email}
                    for amplitude_id, member in members
                ],
                "window_start": self.window_start,
                "window_end": self.window_end,
            }


def _email(event: Any) -> str | None:
    email = (event.user_properties or {}).get("email")
    return email if isinstance(email, str) and email else None
