"""Exported lines as typed `ExportedEvent` structs.

msgspec checks every field's type while it decodes a line into the struct, so a line that already fits the
schema (nearly all of them) needs no per-field Python work except its six timestamps, which are rewritten by
slicing the fixed wire format. A line that does not fit (a number sent as text, an odd timestamp, ...) is decoded
again as a plain object and goes through `Conformer`, which converts or nulls the odd values and counts them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tap_amplitude.derive import BOOLEAN, EVENT_FIELDS, INTEGER, NUMBER, OBJECT, STRING, STRING_OR_ARRAY, TIMESTAMP, Conformer

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
# unknown fields are dropped. No reference cycles can form, so the GC need not track millions of them.
ExportedEvent: Any = msgspec.defstruct(
    "ExportedEvent",
    [(attribute(name), _PYTHON_TYPES[kind], msgspec.field(default=None, name=name)) for name, kind in EVENT_FIELDS.items()],
    gc=False,
)

TIMESTAMP_ATTRIBUTES = tuple(attribute(name) for name, kind in EVENT_FIELDS.items() if kind == TIMESTAMP)
_STAMP_CACHE_SIZE = 8192  # server_upload_time and friends repeat across a batch; event times mostly do not

_decode_object = msgspec.json.Decoder(dict).decode


class EventDecoder:
    """Decodes export lines into `ExportedEvent`s with RFC 3339 timestamps.

    Raises `msgspec.DecodeError` for a line that is not a JSON object (the caller names the hour and member).
    """

    def __init__(self, conformer: Conformer | None = None) -> None:
        self.conformer = conformer or Conformer()
        self.conformed = 0  # lines that needed the slow path
        self._decode = msgspec.json.Decoder(ExportedEvent).decode
        self._stamps: dict[str, str] = {}

    def decode(self, line: bytes) -> Any:
        try:
            event = self._decode(line)
        except msgspec.ValidationError:
            return self._conform(line)
        if self._rewrite_timestamps(event):
            return event
        return self._conform(line)

    def _rewrite_timestamps(self, event: Any) -> bool:
        """`2021-05-27 11:59:53.710000` -> `2021-05-27T11:59:53.710000+00:00` in place; False for any other form."""
        stamps = self._stamps
        if len(stamps) > _STAMP_CACHE_SIZE:
            stamps.clear()
        for name in TIMESTAMP_ATTRIBUTES:
            wire = getattr(event, name)
            if wire is None:
                continue
            rfc3339 = stamps.get(wire)
            if rfc3339 is None:
                if len(wire) != 26 or wire[19] != "." or wire[10] not in " T":
                    return False
                rfc3339 = stamps[wire] = f"{wire[:10]}T{wire[11:]}+00:00"
            setattr(event, name, rfc3339)
        return True

    def _conform(self, line: bytes) -> Any:
        record = self.conformer.event(_decode_object(line))
        self.conformed += 1
        return msgspec.convert(record, ExportedEvent)


def event_record(event: Any) -> dict[str, Any]:
    """The event as a plain record dict (field names as exported), for the SDK's generic record path."""
    return msgspec.to_builtins(event)  # type: ignore[no-any-return]
