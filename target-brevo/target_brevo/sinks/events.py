"""events: records -> Brevo custom events, exactly once, live ones only unless told otherwise."""

from __future__ import annotations

import logging
from typing import Any

from target_brevo.delivery.events import EventDelivery
from target_brevo.delivery.existing import ExistingContacts
from target_brevo.mapping.events import EventRules
from target_brevo.sinks.base import DeliverySink

LOGGER = logging.getLogger("target_brevo.events")
MAX_UNMAPPED_NOTICES = 100


class EventsSink(DeliverySink):
    """Sends each mapped event; counts (and logs once per type) the unmapped ones."""

    report_as = "events"

    rules: EventRules
    delivery: EventDelivery
    existing: ExistingContacts | None  # update_only: events only for contacts Brevo has

    def setup(self) -> None:
        super().setup()
        self._unmapped_noticed: set[str] = set()

    def handle(self, record: dict[str, Any]) -> None:
        event_type = self.rules.event_type(record)
        self.report.count_event(event_type, "seen")
        if event_type.startswith("$") and event_type not in self.rules.names:
            # Amplitude's `$identify` / `$groupidentify`: property updates (they reach contacts through the
            # users stream), not something a person did; never forwarded unless mapped by name.
            self.report.count_event(event_type, "not_an_event")
            return
        if not self.admitted(record):
            self.report.count_event(event_type, "dropped_by_privacy")
            return
        if self.existing is not None and self.existing.match(self.rules.identity.read(record)) is None:
            # update_only: Brevo would create the contact of an event it cannot match
            self.report.count(self.report_as, "not_in_brevo")
            self.report.count_event(event_type, "not_in_brevo")
            return
        event = self.rules.to_event(record, event_type)
        if event is None:
            self._skip_unmapped(event_type)
            return
        self.delivery.put(event, record, event_type)

    def _skip_unmapped(self, event_type: str) -> None:
        self.report.count(self.report_as, "skipped_unmapped")
        self.report.count_event(event_type, "skipped_unmapped")
        if event_type not in self._unmapped_noticed and len(self._unmapped_noticed) < MAX_UNMAPPED_NOTICES:
            self._unmapped_noticed.add(event_type)
            LOGGER.info(
                "Event type %r has no event_mapping entry; skipped (forward_unmapped_events is off)", event_type
            )
