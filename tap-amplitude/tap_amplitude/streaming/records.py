"""Spooled webhook items -> the streaming tap's records.

An event goes through the export path's own decoder (`EventDecoder`), so a streamed event becomes exactly the
record the Export API would give for it: the same fields, types and RFC 3339 UTC timestamps (Amplitude's
`2022-02-28 20:07:01.795`, or ISO with a `T`, with or without a zone; no zone means UTC), missing fields null.
Two required fields may be missing from a webhook body (its default format is not documented):
- `uuid`: then the event's `$insert_id`, else a content hash of the body (a UUID made from the SHA-256 of its
  JSON with sorted keys), so retries of one delivery keep one uuid;
- `server_upload_time`: then the moment the receiver made the event durable.
A revenue event's `revenue` record is then the export path's own (`RevenueReader`), made from that same event.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from tap_amplitude.derive import INTEGER, STRING, USER_LATEST_FIELDS, convert
from tap_amplitude.events import EventDecoder
from tap_amplitude.revenue import RevenueReader
from tap_amplitude.streaming.payloads import parse_cohort_batch
from tap_amplitude.streaming.schemas import USERS

_USER_FIELDS = tuple(USERS["properties"])


def received_time(received_at: float) -> str:
    return datetime.fromtimestamp(received_at, UTC).isoformat(timespec="microseconds")


def content_uuid(body: bytes) -> str:
    """A stable uuid for a JSON body: the same content gives the same uuid, whatever its key order."""
    canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    return str(uuid.UUID(bytes=hashlib.sha256(canonical).digest()[:16]))


def _text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    return convert(STRING, value)  # type: ignore[no-any-return]


def _integer(value: Any) -> int | None:
    if value is None or (type(value) is int):
        return value
    return convert(INTEGER, value)  # type: ignore[no-any-return]


class RecordBuilder:
    """Builds records from spooled items (their bodies were checked by payloads.py when they were received)."""

    def __init__(self, revenue_reader: RevenueReader) -> None:
        self.decoder = EventDecoder()
        self.revenue_reader = revenue_reader  # built from the tap's revenue_properties and revenue_event_types

    def event(self, body: bytes, received_at: float) -> Any:
        """The `events` record, as the export's `ExportedEvent` struct (see the module docstring)."""
        event = self.decoder.decode(body)
        if event.uuid is None:
            event.uuid = event.insert_id or content_uuid(body)
        if event.server_upload_time is None:
            event.server_upload_time = received_time(received_at)
        return event

    def revenue(self, event: Any) -> dict[str, Any] | None:
        """The `revenue` record of an event from `event()`, or None when it is not a revenue event."""
        return self.revenue_reader.record(event)

    @staticmethod
    def user(body: bytes, received_at: float) -> dict[str, Any]:
        """The `users` record of a forwarded user (Identify format): its properties as sent; no events counted,
        and a zero-length window at the moment it was received."""
        raw = orjson.loads(body)
        record: dict[str, Any] = dict.fromkeys(_USER_FIELDS)
        for name in USER_LATEST_FIELDS:
            record[name] = _text(raw.get(name))
        if record["version_name"] is None:
            record["version_name"] = _text(raw.get("app_version"))
        moment = received_time(received_at)
        record.update(
            amplitude_id=_integer(raw.get("amplitude_id")),
            user_properties=raw.get("user_properties"),
            event_count=0,
            session_count=0,
            window_start=moment,
            window_end=moment,
        )
        return record

    @staticmethod
    def cohort_changes(body: bytes) -> Iterator[dict[str, Any]]:
        """One `cohort_membership_changes` record per user of a Cohort Webhooks batch."""
        batch = parse_cohort_batch(orjson.loads(body))
        for member in batch.users:
            email = member.user_properties.get("email")
            yield {
                "cohort_id": batch.cohort_id,
                "cohort_name": batch.cohort_name,
                "in_cohort": batch.in_cohort,
                "message_id": batch.message_id,
                "computed_time": batch.computed_time,
                "user_id": member.user_id,
                "email": email.strip() if isinstance(email, str) and email.strip() else None,
                "user_properties": member.user_properties,
            }
