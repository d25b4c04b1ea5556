"""Shared sink behaviour: prepare each record on arrival (rejecting bad ones), send requests as they fill.

A sink holds at most one request's worth of prepared items per endpoint (bounded by the endpoint's
row and byte limits) and sends it the moment it is full; `flush()` sends what is left. The target
calls `flush()` (through the SDK's drain) only when a STATE is due to be emitted and at the end of
the input, so batches are not cut short at every STATE the tap sends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator

from target_brevo.jsonsafe import json_safe
from target_brevo.mapping import InvalidValue, get_path, normalise_email, to_identifier
from target_brevo.validation import validator_for

if TYPE_CHECKING:
    from target_brevo.runtime import Runtime


class BrevoSink(BatchSink):
    """`prepare` maps one record (or raises InvalidValue -> rejects file); `buffer` holds it until its
    request is full; `flush` sends everything held.

    Sending must be idempotent: after a crash the same records come again (the ledger drops events
    already accepted; contacts, orders and list membership are upserts).
    """

    kind: ClassVar[str] = ""
    #: Flush order: lower first. Contacts go before anything that needs them to exist.
    priority: ClassVar[int] = 50

    def __init__(self, target: Any, stream_name: str, schema: dict, key_properties: Any) -> None:
        self._target = target
        super().__init__(target=target, stream_name=stream_name, schema=schema, key_properties=key_properties)

    @property
    def runtime(self) -> Runtime:
        return self._target.runtime

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        return validator_for(self.schema) if self.validate_schema else None

    def _parse_timestamps_in_record(self, record: dict, schema: dict, treatment: Any) -> None:
        """Left as strings: the mapping parses the few date fields it uses (`to_date`, `to_datetime_iso`
        take strings and datetimes alike), and a value that is not a date is reported there. The SDK
        parsing every date-time field of every record cost about a tenth of the CPU per record."""

    # The SDK drains a sink when it is "full" and skips draining an empty one: here a sink sends its
    # own full requests, so it is never full for the SDK, and its size is what is still unsent.
    @property
    def is_full(self) -> bool:
        return False

    @property
    def current_size(self) -> int:
        return self.pending()

    def process_record(self, record: dict, context: dict) -> None:
        try:
            item = self.prepare(record)
        except InvalidValue as exc:
            self.reject(record, str(exc))
            return
        if item is not None:
            self.buffer(item)

    def process_batch(self, context: dict) -> None:
        self.flush()

    def record_key(self, record: dict[str, Any]) -> Any:
        if self.key_properties:
            values = [json_safe(record.get(k)) for k in self.key_properties]
            return values[0] if len(values) == 1 else values
        return None

    def reject(self, record: dict[str, Any], reason: str, key: Any = None) -> None:
        self.runtime.report.reject(self.kind, self.stream_name, key if key is not None else self.record_key(record),
                                   reason, json_safe(record))

    def identity(self, record: dict[str, Any]) -> tuple[str | None, str | None]:
        """(email, ext_id) from the configured identity fields; an invalid email raises InvalidValue."""
        settings = self.runtime.settings
        email = None
        for path in settings.email_fields:
            value = get_path(record, path)
            if value not in (None, ""):
                email = normalise_email(value)
                break
        ext_id = None
        for path in settings.ext_id_fields:
            ext_id = to_identifier(get_path(record, path))
            if ext_id:
                break
        return email, ext_id

    def prepare(self, record: dict[str, Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def buffer(self, item: Any) -> None:  # pragma: no cover - abstract
        """Hold a prepared item; send the request it completes."""
        raise NotImplementedError

    def pending(self) -> int:  # pragma: no cover - abstract
        """Items held and not sent yet (0: nothing to flush)."""
        raise NotImplementedError

    def flush(self) -> None:  # pragma: no cover - abstract
        """Send everything held."""
        raise NotImplementedError


class RequestBatchSink(BrevoSink):
    """A sink that holds one bulk request (`self._batch`, a KeyedBatch) and sends it when it is full."""

    _batch: Any

    def _enqueue(self, key: str, item: Any, size: int) -> bool:
        """Hold `item`, sending the held request first when it has no room; False if it can never fit."""
        batch = self._batch
        if batch.never_fits(size):
            return False
        if not batch.has_room(key, size):
            self._send_batch()
        batch.put(key, item, size)
        if batch.full:
            self._send_batch()
        return True

    def pending(self) -> int:
        return len(self._batch)

    def flush(self) -> None:
        if len(self._batch):
            self._send_batch()

    def _send_batch(self) -> None:  # pragma: no cover - abstract
        """Send the held request."""
        raise NotImplementedError
