"""One sink for every stream: records mapped on arrival (bad ones to the rejects file), delivered on drain."""

from __future__ import annotations

from typing import Any

import orjson
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator
from target_common.validation import validator_for

from target_amplitude.delivery.requests import Item
from target_amplitude.mapping.events import Rejected, Skipped, plain


class EventsSink(BatchSink):
    """Maps each record to an Amplitude event and hands it to the run's delivery; `process_batch` delivers."""

    def __init__(self, target: Any, stream_name: str, schema: dict, key_properties: Any) -> None:
        self.run = target.run  # the run's client, ledger, report and delivery, shared by every stream
        self._unfit: str | None = None
        super().__init__(target=target, stream_name=stream_name, schema=schema, key_properties=key_properties)

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        return validator_for(self.schema) if self.validate_schema else None

    def _validate_and_parse(self, record: dict) -> dict:
        """A record that breaks the stream schema is rejected with the reason (the SDK would log the record)."""
        self._unfit = None
        if self._validator is not None:
            try:
                self._validator.validate(record)
            except InvalidRecord as exc:
                self._unfit = f"does not match the stream schema: {exc.error_message}"
        self._parse_timestamps_in_record(record=record, schema=self.schema, treatment=self.datetime_error_treatment)
        return record

    @property
    def is_full(self) -> bool:
        return self.run.delivery.pending >= self.max_size

    def process_record(self, record: dict, context: dict) -> None:
        report = self.run.report
        if self._unfit is not None:
            report.reject_record(self.stream_name, self._key(record), record, self._unfit)
            return
        try:
            _source, event = self.run.settings.rules.to_event(record)
        except Skipped as skipped:
            report.skipped(skipped.source_event)
            return
        except Rejected as exc:
            report.reject_record(self.stream_name, self._key(record), record, str(exc))
            return
        # The record as it came: the rejects file makes it JSON-ready (`plain`) only for the few that are refused.
        item = Item(event, orjson.dumps(event), self.stream_name, self._key(record), record)
        self.run.delivery.put(item)

    def process_batch(self, context: dict) -> None:
        self.run.delivery.flush()

    def _key(self, record: dict[str, Any]) -> Any:
        values = [plain(record.get(k)) for k in self.key_properties or ()]
        return values[0] if len(values) == 1 else (values or None)
