"""Record -> Brevo custom event (`/events/batch` item)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from target_brevo.brevo.limits import EVENT_PROPERTIES_BYTES
from target_brevo.mapping.identity import IdentityRules
from target_brevo.mapping.jsonsafe import size_of
from target_brevo.mapping.values import (
    BrevoItem,
    InvalidValue,
    content_key,
    get_path,
    normalise_name,
    normalise_properties,
    to_datetime_iso,
    to_epoch,
    to_identifier,
    to_text,
)

DEFAULT_EVENT_FIELDS = {"name": "event_type", "time": "event_time", "properties": "event_properties"}
#: Where an event's delivery key is read, first non-empty wins, else a hash of the record. Amplitude's
#: `$insert_id` is set by the sender and is the same whether the event is streamed or exported (the
#: streamed `uuid` may differ from the exported one), so one event reaches Brevo once by either path.
DEFAULT_EVENT_KEY = ("$insert_id", "uuid")


def event_key_paths(event_fields: dict[str, Any]) -> tuple[str, ...]:
    """The configured key paths: `key` (a path or a list of them), else `uuid` (its older spelling, one
    path), else the default."""
    key = event_fields.get("key")
    if key is None:
        key = event_fields.get("uuid")
    if key is None:
        return DEFAULT_EVENT_KEY
    return (key,) if isinstance(key, str) else tuple(str(path) for path in key)


@dataclass(frozen=True)
class EventRules:
    """How a record becomes a Brevo event: field paths, the name mapping, contact properties, identity."""

    fields: dict[str, str]
    key_paths: tuple[str, ...]
    names: dict[str, str]
    forward_unmapped: bool
    contact_properties: dict[str, str]
    identity: IdentityRules

    def event_type(self, record: dict[str, Any]) -> str:
        """The record's source event type; InvalidValue when it has none."""
        event_type = to_identifier(get_path(record, self.fields["name"]))
        if not event_type:
            raise InvalidValue(f"no event name in {self.fields['name']!r}")
        return event_type

    def to_event(self, record: dict[str, Any], event_type: str) -> BrevoItem | None:
        """The Brevo event of a record of `event_type`, keyed for the ledger (`delivery_keys`); None for an
        unmapped type not forwarded. InvalidValue when it cannot be one."""
        fields = self.fields
        name = self.names.get(event_type)
        if name is None:
            if not self.forward_unmapped:
                return None
            name = normalise_name(event_type)
            if not name:
                raise InvalidValue(f"event name {event_type!r} has no allowed character left after normalisation")
        key, *aliases = self.delivery_keys(record)
        identifiers = IdentityRules.event_identifiers(self.identity.read(record))
        if not identifiers:
            raise InvalidValue("no identifier: the event has no valid email and no ext_id")
        event: dict[str, Any] = {"event_name": name, "identifiers": identifiers}
        when = get_path(record, fields["time"])
        if when in (None, ""):
            raise InvalidValue(f"no event time in {fields['time']!r}")  # Brevo would stamp it "now"
        event["event_date"] = to_datetime_iso(when)
        properties = get_path(record, fields["properties"])
        if properties:
            if not isinstance(properties, dict):
                raise InvalidValue(f"{fields['properties']!r} is not an object")
            properties = normalise_properties(properties)
            if size_of(properties) > EVENT_PROPERTIES_BYTES:
                raise InvalidValue("event_properties are over Brevo's 50 KB limit")
            event["event_properties"] = properties
        contact_properties = self._contact_properties(record)
        if contact_properties:
            event["contact_properties"] = contact_properties
        return BrevoItem(key, event, to_epoch(when), tuple(aliases))

    def delivery_keys(self, record: dict[str, Any]) -> tuple[str, ...]:
        """The event's ledger keys: the non-empty values of `key_paths` in turn (else a hash of the record).
        The first is the delivery key; the others are aliases, which cover a streamed copy that lacks
        `$insert_id` but shares the `uuid`, and ledgers written when the key was the uuid."""
        keys = (to_identifier(get_path(record, path)) for path in self.key_paths)
        return tuple(dict.fromkeys(key for key in keys if key)) or (content_key(record),)

    def _contact_properties(self, record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for source, attribute in self.contact_properties.items():
            value = get_path(record, source)
            if value is None or value == "":
                continue
            out[attribute] = value if isinstance(value, int) and not isinstance(value, bool) else to_text(value)
        return out
