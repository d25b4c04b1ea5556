"""The tap's one stream. Its sync runs the tap's work (the pull and/or the webhook session), which writes the
records itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from singer_sdk import Stream, metrics
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_brevo.schemas import EMAIL_EVENTS


class EmailEventsStream(Stream):
    """Brevo email engagement (marketing and transactional webhooks, and the transactional events report)."""

    name = "email_events"
    schema = EMAIL_EVENTS
    primary_keys = ("event_id",)
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY

    _record_counter: metrics.Counter | None = None

    def get_record_counter(self, **kwargs: Any) -> metrics.Counter:
        """The SDK's `record_count` metric of this sync, kept: the records are written by the tap's sources, not
        yielded to the SDK's loop that would count them."""
        self._record_counter = super().get_record_counter(**kwargs)
        return self._record_counter

    def count_record(self) -> None:
        if self._record_counter is not None:
            self._record_counter.increment()

    def get_records(self, context: Any) -> Iterator[dict[str, Any]]:
        self._tap.run_sources(self)  # type: ignore[attr-defined]
        return iter(())
