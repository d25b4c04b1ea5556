"""events: records -> Brevo custom events through POST /events/batch, exactly once via the ledger."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from target_brevo.chunking import KeyedBatch
from target_brevo.jsonsafe import size_of
from target_brevo.ledger import signals_held
from target_brevo.mapping import (
    InvalidValue,
    content_key,
    get_path,
    normalise_name,
    normalise_properties,
    to_datetime_iso,
    to_identifier,
    to_text,
)
from target_brevo.sinks.base import RequestBatchSink

LOGGER = logging.getLogger("target_brevo.events")
MAX_EVENT_PROPERTIES_BYTES = 50_000
_ENVELOPE = len(b'{"events":}')
LEDGER_KIND = "event"


class EventsSink(RequestBatchSink):
    kind = "events"
    priority = 40

    def setup(self) -> None:
        super().setup()
        self._unmapped_warned: set[str] = set()
        self._batch = self._new_batch()

    def prepare(self, record: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
        settings = self.runtime.settings
        fields = settings.event_fields
        event_type = to_identifier(get_path(record, fields["name"]))
        if not event_type:
            raise InvalidValue(f"no event name in {fields['name']!r}")
        name = settings.event_mapping.get(event_type)
        if name is None:
            if not settings.forward_unmapped_events:
                self.runtime.report.count(self.kind, "skipped_unmapped")
                if event_type not in self._unmapped_warned and len(self._unmapped_warned) < 100:
                    self._unmapped_warned.add(event_type)
                    LOGGER.info("Event type %r has no event_mapping entry; skipped (forward_unmapped_events is off)",
                                event_type)
                return None
            name = normalise_name(event_type)
            if not name:
                raise InvalidValue(f"event name {event_type!r} has no allowed character left after normalisation")
        key = to_identifier(get_path(record, fields["uuid"])) or content_key(record)
        email, ext_id = self.identity(record)
        identifiers = {k: v for k, v in (("email_id", email), ("ext_id", ext_id)) if v}
        if not identifiers:
            raise InvalidValue("no identifier: the event has no valid email and no ext_id")
        event: dict[str, Any] = {"event_name": name, "identifiers": identifiers}
        when = get_path(record, fields["time"])
        if when not in (None, ""):
            event["event_date"] = to_datetime_iso(when)
        properties = get_path(record, fields["properties"])
        if properties:
            if not isinstance(properties, dict):
                raise InvalidValue(f"{fields['properties']!r} is not an object")
            properties = normalise_properties(properties)
            if size_of(properties) > MAX_EVENT_PROPERTIES_BYTES:
                raise InvalidValue("event_properties are over Brevo's 50 KB limit")
            event["event_properties"] = properties
        contact_properties: dict[str, Any] = {}
        for source, attribute in settings.event_contact_properties.items():
            value = get_path(record, source)
            if value is None or value == "":
                continue
            contact_properties[attribute] = value if isinstance(value, int) and not isinstance(value, bool) else to_text(value)
        if contact_properties:
            event["contact_properties"] = contact_properties
        return key, event, record

    def _new_batch(self) -> KeyedBatch[tuple[str, dict[str, Any], dict[str, Any]]]:
        settings = self.runtime.settings
        return KeyedBatch(max_rows=settings.events_batch_max_events, max_bytes=settings.events_batch_max_bytes,
                          envelope_bytes=_ENVELOPE)

    def buffer(self, item: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
        key, event, record = item
        report = self.runtime.report
        batch = self._batch
        if key in batch:
            report.count(self.kind, "duplicates_in_input")
            return
        if self.runtime.ledger.is_delivered(LEDGER_KIND, key):
            # also covers a repeat of an event sent earlier in this run
            report.count(self.kind, "skipped_already_delivered")
            return
        size = len(orjson.dumps(event)) + 1
        if not self._enqueue(key, item, size):
            self.reject(record, f"event is {size} bytes, over the batch byte limit", key=key)

    def _send_batch(self) -> None:
        part = self._batch.take()
        if self.runtime.settings.dry_run:
            self.runtime.report.count(self.kind, "would_send", len(part))
            return
        self._send(part)

    def _send(self, part: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
        ledger = self.runtime.ledger
        report = self.runtime.report
        keys = [key for key, _, _ in part]
        with signals_held():
            ledger.mark_inflight(LEDGER_KIND, keys)
            response = self.runtime.client.call("POST", "/events/batch", json={"events": [event for _, event, _ in part]})
            failed = {i: m for i, m in _failed_indexes(response.body).items() if 0 <= i < len(part)}
            if response.ok:
                # 202: all accepted. 207: all but the listed indexes (Brevo queued the rest).
                ledger.mark_delivered(LEDGER_KIND, [key for i, key in enumerate(keys) if i not in failed])
            ledger.forget(LEDGER_KIND, [keys[i] for i in failed])
        if response.ok:
            report.count(self.kind, "sent", len(part) - len(failed))
            if response.status == 207:
                report.count(self.kind, "partial_batches")
            for index, message in sorted(failed.items()):
                key, _, record = part[index]
                self.reject(record, f"Brevo rejected the event: {message}", key=key)
            return
        ledger.forget(LEDGER_KIND, keys)
        if failed:  # 400 listing the failed events: reject those, try the others again on their own
            for index, message in sorted(failed.items()):
                key, _, record = part[index]
                self.reject(record, f"Brevo rejected the event: {message}", key=key)
            rest = [item for i, item in enumerate(part) if i not in failed]
            if rest:
                self._send(rest)
            return
        if len(part) == 1:
            key, _, record = part[0]
            self.reject(record, f"Brevo refused the event ({response.status} {response.error_code}): {response.error_message}",
                        key=key)
            return
        LOGGER.warning("Brevo refused a batch of %d events (%s %s); splitting it to isolate the bad ones",
                       len(part), response.status, response.error_message)
        report.count(self.kind, "batch_splits")
        half = len(part) // 2
        self._send(part[:half])
        self._send(part[half:])


def _failed_indexes(body: Any) -> dict[int, str]:
    """0-based index -> Brevo's message, from a 207/400 `errors: [{eventIndex: [...], message}]` body."""
    failed: dict[int, str] = {}
    if not isinstance(body, dict):
        return failed
    for error in body.get("errors") or []:
        if not isinstance(error, dict):
            continue
        indexes = error.get("eventIndex")
        if isinstance(indexes, int):
            indexes = [indexes]
        for index in indexes or []:
            if isinstance(index, int):
                failed[index] = str(error.get("message") or "rejected")
    return failed
