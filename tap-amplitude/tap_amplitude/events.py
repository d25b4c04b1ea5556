"""Exported lines as typed `ExportedEvent` structs.

msgspec checks every field's type while it decodes a line into the struct, so a line that already fits the
schema (nearly all of them) needs no per-field Python work except its seven timestamps, which are rewritten by
slicing the fixed wire format. A line that does not fit (a number sent as text, an odd timestamp, ...) is decoded
again as a plain object and goes through `Conformer`, which converts or nulls the odd values and counts them.

When nothing reads the object fields (`event_properties`, `user_properties`, ...) and the record is only encoded
again, `ForwardedEvent` keeps each of them as the JSON text it was exported as (`msgspec.Raw`, checked to be an
object or null): building and re-encoding those dicts was most of the cost of a line.
"""

from __future__ import annotations

import operator
from typing import Any

import msgspec

from tap_amplitude.derive import (
    BOOLEAN,
    EVENT_FIELDS,
    INTEGER,
    NUMBER,
    OBJECT,
    STRING,
    STRING_OR_ARRAY,
    TIMESTAMP,
    Conformer,
)

_PYTHON_TYPES: dict[int, Any] = {
    INTEGER: int | None,
    NUMBER: float | None,  # msgspec accepts JSON integers here and gives floats, as Conformer does
    STRING: str | None,
    BOOLEAN: bool | None,
    OBJECT: dict | None,
    TIMESTAMP: str | None,  # still Amplitude's `2021-05-27 11:59:53.710000` when decoded
    STRING_OR_ARRAY: str | list | None,
}


def attribute(field: str) -> str:
    """The struct attribute of an export field (`$insert_id` -> `insert_id`)."""
    return field.lstrip("$")


# One attribute per schema field, in schema order; encodes under the export's names, missing fields as null,
# unknown fields are dropped. A struct cannot be part of a reference cycle, so the GC need not track it.
ExportedEvent: Any = msgspec.defstruct(
    "ExportedEvent",
    [
        (attribute(name), _PYTHON_TYPES[kind], msgspec.field(default=None, name=name))
        for name, kind in EVENT_FIELDS.items()
    ],
    gc=False,
)

_NULL = msgspec.Raw(b"null")
_OPEN_BRACE = ord("{")
# The object fields that carry a project's properties; the others (`groups`, `plan`, ...) are small or empty, and
# decoding them costs less than checking their text.
FORWARDED_FIELDS = ("event_properties", "user_properties", "group_properties", "data")
assert all(EVENT_FIELDS[name] == OBJECT for name in FORWARDED_FIELDS)

# `ExportedEvent` with FORWARDED_FIELDS kept as their exported JSON text: the same record once encoded (the values
# inside keep their exported spelling, escapes and number forms included).
ForwardedEvent: Any = msgspec.defstruct(
    "ForwardedEvent",
    [
        (
            attribute(name),
            msgspec.Raw if name in FORWARDED_FIELDS else _PYTHON_TYPES[kind],
            msgspec.field(default=_NULL if name in FORWARDED_FIELDS else None, name=name),
        )
        for name, kind in EVENT_FIELDS.items()
    ],
    gc=False,
)
_forwarded_texts = operator.attrgetter(*map(attribute, FORWARDED_FIELDS))

TIMESTAMP_ATTRIBUTES = tuple(attribute(name) for name, kind in EVENT_FIELDS.items() if kind == TIMESTAMP)
# Spelled out in `EventDecoder.decode`: one statement per field is measurably faster than a getattr/setattr loop.
assert TIMESTAMP_ATTRIBUTES == (
    "server_upload_time",
    "server_received_time",
    "client_upload_time",
    "client_event_time",
    "event_time",
    "processed_time",
    "user_creation_time",
)
_STAMP_CACHE_SIZE = 8192  # server_upload_time and friends repeat across an upload batch; event times mostly do not

_decode_object = msgspec.json.Decoder(dict).decode


class _NotWireFormat(Exception):
    """A timestamp in some other form than Amplitude's usual one: the line takes the slow path."""


class _Timestamps(dict[str | None, str | None]):
    """Wire timestamp -> RFC 3339, computed on first sight: `2021-05-27 11:59:53.710000` ->
    `2021-05-27T11:59:53.710000+00:00` by slicing. A lookup that hits costs one C-level subscript."""

    def __init__(self) -> None:
        super().__init__({None: None})

    def __missing__(self, wire: Any) -> str:
        if type(wire) is not str or len(wire) != 26 or wire[19] != "." or wire[10] not in " T":
            raise _NotWireFormat(wire)
        if len(self) > _STAMP_CACHE_SIZE:
            self.clear()
            self[None] = None
        rfc3339 = self[wire] = f"{wire[:10]}T{wire[11:]}+00:00"
        return rfc3339


class EventDecoder:
    """Decodes export lines into `ExportedEvent`s with RFC 3339 timestamps, or into `ForwardedEvent`s with
    `forward_objects` (for records that are only encoded again). A line that takes the slow path is always an
    `ExportedEvent`; both encode the same way.

    Raises `msgspec.DecodeError` for a line that is not a JSON object (the caller names the hour and member).
    """

    def __init__(self, conformer: Conformer | None = None, *, forward_objects: bool = False) -> None:
        self.conformer = conformer or Conformer()
        self.conformed = 0  # lines that needed the slow path
        self.forward_objects = forward_objects
        self._decode = msgspec.json.Decoder(ForwardedEvent if forward_objects else ExportedEvent).decode
        self._stamps = _Timestamps()

    def decode(self, line: bytes) -> Any:
        stamps = self._stamps
        try:
            event = self._decode(line)
            if self.forward_objects:
                for text in _forwarded_texts(event):
                    if memoryview(text)[0] != _OPEN_BRACE and text != _NULL:
                        return self._conform(line)
            event.server_upload_time = stamps[event.server_upload_time]
            event.server_received_time = stamps[event.server_received_time]
            event.client_upload_time = stamps[event.client_upload_time]
            event.client_event_time = stamps[event.client_event_time]
            event.event_time = stamps[event.event_time]
            event.processed_time = stamps[event.processed_time]
            event.user_creation_time = stamps[event.user_creation_time]
        except (msgspec.ValidationError, _NotWireFormat):
            return self._conform(line)
        return event

    def add_counts(self, conformed: int, fixed: dict[str, int], dropped: dict[str, int]) -> None:
        """Count what another decoder (an export worker's) conformed, for the run's summary."""
        self.conformed += conformed
        for counts, more in ((self.conformer.fixed, fixed), (self.conformer.dropped, dropped)):
            for name, count in more.items():
                counts[name] = counts.get(name, 0) + count

    def _conform(self, line: bytes) -> Any:
        record = self.conformer.event(_decode_object(line))
        self.conformed += 1
        return msgspec.convert(record, ExportedEvent)


def event_record(event: Any) -> dict[str, Any]:
    """The event as a plain record dict (field names as exported), for the SDK's generic record path."""
    return msgspec.to_builtins(event)  # type: ignore[no-any-return]
