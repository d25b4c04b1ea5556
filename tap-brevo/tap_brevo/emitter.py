"""The one way out for records of both sources: enrichment (when configured), then the `email_events` stream, each
event_id once per run (the webhook and the report can bring the same transactional event)."""

from __future__ import annotations

from collections import Counter, OrderedDict
from typing import Any

from tap_brevo.contacts import ContactLookup
from tap_brevo.streams import EmailEventsStream

REMEMBERED_IDS = 500_000  # event_ids kept for the in-run dedupe (the oldest are forgotten beyond this)


class Emitter:
    def __init__(self, stream: EmailEventsStream | None, contacts: ContactLookup | None) -> None:
        self.stream = stream  # None when `email_events` is not selected
        self.contacts = contacts
        self.emitted: Counter[str] = Counter()  # per stream name (the session's logs)
        self.by_source: Counter[str] = Counter()
        self.duplicates = 0
        self._seen: OrderedDict[str, None] = OrderedDict()

    def emit(self, record: dict[str, Any]) -> None:
        if self.stream is None:
            return
        key = record["event_id"]
        if key in self._seen:
            self.duplicates += 1
            return
        self._seen[key] = None
        if len(self._seen) > REMEMBERED_IDS:
            self._seen.popitem(last=False)
        if self.contacts is not None:
            self.contacts.enrich(record)
        self.stream._write_record_message(record)
        self.stream.count_record()
        self.emitted[self.stream.name] += 1
        self.by_source[record["source"]] += 1
