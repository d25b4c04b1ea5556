"""Shared sink behaviour: prepare each record on arrival (rejecting bad ones), deliver per batch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk.sinks import BatchSink

from target_brevo.jsonsafe import json_safe
from target_brevo.mapping import InvalidValue, get_path, normalise_email, to_identifier

if TYPE_CHECKING:
    from target_brevo.runtime import Runtime


class BrevoSink(BatchSink):
    """`prepare` maps one record (or raises InvalidValue -> rejects file); `deliver` sends a batch.

    `deliver` must be idempotent: the SDK may hand the same records again after an interrupted drain.
    """

    kind: ClassVar[str] = ""
    #: Drain order: lower first. Contacts go before anything that needs them to exist.
    priority: ClassVar[int] = 50
    MAX_SIZE_DEFAULT = 10000

    def __init__(self, target: Any, stream_name: str, schema: dict, key_properties: Any) -> None:
        self._target = target
        super().__init__(target=target, stream_name=stream_name, schema=schema, key_properties=key_properties)

    @property
    def runtime(self) -> Runtime:
        return self._target.runtime

    def process_record(self, record: dict, context: dict) -> None:
        try:
            item = self.prepare(record)
        except InvalidValue as exc:
            self.reject(record, str(exc))
            return
        if item is not None:
            context.setdefault("records", []).append(item)

    def process_batch(self, context: dict) -> None:
        self._target.drain_before(self)
        items = context.get("records") or []
        if items:
            self.deliver(items)

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

    def deliver(self, items: list[Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
