"""What every sink shares: records mapped on arrival (bad ones to the rejects file), sent as requests fill.

A sink never looks full to the SDK: its delivery sends full requests itself, and the target drains
(flushes) sinks only when a STATE is due and at the end of the input, so batches are not cut short at
every STATE the tap sends.
"""

from __future__ import annotations

from typing import Any, ClassVar

from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator
from target_common.validation import validator_for

from target_brevo.delivery.batch import HeldRequest
from target_brevo.mapping.jsonsafe import json_safe
from target_brevo.mapping.values import InvalidValue
from target_brevo.privacy.gate import PrivacyGate
from target_brevo.report import RunReport

#: The order sinks are flushed in: contacts before anything that needs them to exist.
#: Deletions come after every sink that may deliver a contact: what the run delivered before a person's
#: erasure is erased with them, never re-created after it.
FLUSH_ORDER = (
    "contacts", "companies", "lists", "list_members", "list_changes", "events", "orders", "deletions", "skipped",
)  # fmt: skip


def flush_rank(sink: Any) -> int:
    return FLUSH_ORDER.index(sink.report_as)


class BrevoSink(BatchSink):
    """`handle` maps one record and hands it to a delivery (InvalidValue -> rejects file); `flush` sends
    everything held.

    Sending must be idempotent: after a crash the same records come again (the ledger drops events
    already accepted; contacts, orders and list membership are upserts).
    """

    #: What the summary counts this sink's records as.
    report_as: ClassVar[str] = ""

    report: RunReport
    privacy: PrivacyGate  # asked (`admitted`) before a record of a person reaches Brevo

    def __init__(self, target: Any, stream_name: str, schema: dict, key_properties: Any, **collaborators: Any) -> None:
        """The SDK's arguments, plus the collaborators the sink class declares as annotations, by name."""
        wanted = self.collaborators()
        if set(collaborators) != wanted:
            raise TypeError(f"{type(self).__name__} takes {sorted(wanted)}, got {sorted(collaborators)}")
        for name, value in collaborators.items():
            setattr(self, name, value)
        super().__init__(target=target, stream_name=stream_name, schema=schema, key_properties=key_properties)

    @classmethod
    def collaborators(cls) -> set[str]:
        """Public names annotated on BrevoSink and its subclasses, class variables aside."""
        names: set[str] = set()
        for klass in cls.__mro__[: cls.__mro__.index(BrevoSink) + 1]:
            for name, annotation in vars(klass).get("__annotations__", {}).items():
                if not name.startswith("_") and "ClassVar" not in str(annotation):
                    names.add(name)
        return names

    def setup(self) -> None:
        super().setup()
        self._schema_check = validator_for(self.schema) if self.validate_schema else None
        self._unfit: str | None = None  # why the record being processed cannot be written

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        return None  # records are checked in `_validate_and_parse`, where a bad one is rejected, not fatal

    def _validate_and_parse(self, record: dict) -> dict:
        """Check the record against the stream schema; a record that breaks it goes to the rejects file
        and the run goes on. Dates are left as strings: the mapping parses the few it uses (the SDK
        parsing every date-time field of every record cost about a tenth of the CPU per record)."""
        self._unfit = None
        if self._schema_check is not None:
            try:
                self._schema_check.validate(record)
            except InvalidRecord as exc:
                self._unfit = f"does not match the stream schema: {exc.error_message}"
        return record

    def _singer_validate_message(self, record: dict) -> None:
        missing = [key for key in self.key_properties or () if key not in record]
        if missing and self._unfit is None:
            self._unfit = f"missing key properties: {', '.join(missing)}"

    @property
    def is_full(self) -> bool:
        return False

    @property
    def current_size(self) -> int:
        return self.pending()

    def process_record(self, record: dict, context: dict) -> None:
        if self._unfit is not None:
            self.reject(record, self._unfit)
            return
        try:
            self.handle(record)
        except InvalidValue as exc:
            self.reject(record, str(exc))

    def process_batch(self, context: dict) -> None:
        self.flush()

    def record_key(self, record: dict[str, Any]) -> Any:
        if self.key_properties:
            values = [json_safe(record.get(k)) for k in self.key_properties]
            return values[0] if len(values) == 1 else values
        return None

    def admitted(self, record: dict[str, Any]) -> bool:
        """Whether the person of the record may be contacted (not erased, consent given); counted if not."""
        return self.privacy.admits(record, self.report_as)

    def reject(self, record: dict[str, Any], reason: str) -> None:
        """Report a record that cannot be written, unless it is about an erased person: dropped and counted, so
        nothing of theirs reaches the rejects file."""
        if self.privacy.is_erased_record(record):
            self.report.count(self.report_as, "dropped_erased")
            return
        self.report.reject(self.report_as, self.stream_name, self.record_key(record), reason, json_safe(record))

    def handle(self, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def pending(self) -> int:
        """Items held and not sent yet (0: nothing to flush)."""
        raise NotImplementedError

    def flush(self) -> None:
        """Send everything held."""
        raise NotImplementedError


class DeliverySink(BrevoSink):
    """A sink whose records go to one held bulk request."""

    delivery: HeldRequest

    def pending(self) -> int:
        return self.delivery.pending

    def flush(self) -> None:
        self.delivery.flush()


class SkipSink(BrevoSink):
    """Records of a stream routed nowhere: counted and dropped."""

    report_as = "skipped"

    def process_record(self, record: dict, context: dict) -> None:
        self.report.count("skipped_streams", self.stream_name)

    def pending(self) -> int:
        return 0

    def flush(self) -> None:
        return
