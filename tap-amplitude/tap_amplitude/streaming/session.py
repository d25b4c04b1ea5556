"""tap-amplitude-streaming's use of the shared streaming session (webhook_receiver.session): its two endpoints and
their secret, and what each spooled item becomes (an event item gives an `events` record and, for a revenue event,
a `revenue` one; a user item a `users` record; a cohort batch one `cohort_membership_changes` record per user).
The receive -> spool -> emit -> STATE -> prune loop itself, and its lifecycle, are the shared session's."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk.singerlib import StateMessage
from webhook_receiver import Endpoint, SessionSettings, SpooledItem, SpoolSession, seq_in, set_seq, shared_secret

from tap_amplitude.events import event_record
from tap_amplitude.streaming.payloads import COHORT, EVENT, USER, classify_cohorts, classify_stream
from tap_amplitude.streaming.records import RecordBuilder

STREAM_PATH = "/stream"  # Webhooks Streaming: events and users
COHORTS_PATH = "/cohorts"  # Cohort Webhooks
STREAM_NAMES = ("events", "revenue", "users", "cohort_membership_changes")


@dataclass(frozen=True)
class Settings:
    secret_header: str
    secret: str = field(repr=False)  # never in a repr or a log
    session: SessionSettings

    @classmethod
    def from_config(cls, config: Any) -> Settings:
        """From the tap's validated config (its schema declares the defaults)."""
        return cls(
            secret_header=config["secret_header"],
            secret=config["secret"],
            session=SessionSettings.from_config(config),
        )

    def endpoints(self) -> list[Endpoint]:
        authorize = shared_secret(self.secret_header, self.secret)
        prefix = self.session.path_prefix
        return [
            Endpoint(prefix + STREAM_PATH, authorize, classify_stream, "events and users"),
            Endpoint(prefix + COHORTS_PATH, authorize, classify_cohorts, "cohort webhooks"),
        ]


class StreamingSession:
    """One run of the streaming tap. `streams` maps stream names to the tap's streams; `builder` makes their
    records."""

    def __init__(
        self, tap: Tap, streams: dict[str, Stream], settings: Settings, builder: RecordBuilder, logger: logging.Logger
    ) -> None:
        self.tap = tap
        self._selected = {name: streams[name] for name in STREAM_NAMES if streams[name].selected}
        self._events = self._selected.get("events")
        self._revenue = self._selected.get("revenue")
        self._users = self._selected.get("users")
        self._cohort_changes = self._selected.get("cohort_membership_changes")
        self._builder = builder
        self.emitted: Counter[str] = Counter()
        self._session = SpoolSession(
            settings.session,
            settings.endpoints(),
            emit=self._emit,
            write_state=self._write_state,
            stream_names=STREAM_NAMES,
            emitted=self.emitted,
            logger=logger,
            source="Amplitude",
            auth_note=f"secret expected in header {settings.secret_header}",
            flush=getattr(tap.message_writer, "flush", None),
        )

    def request_stop(self, reason: str) -> bool:
        """Ask the session to stop (safe in a signal handler); False if it was stopping already."""
        return self._session.request_stop(reason)

    def run(self) -> None:
        self._session.run(seq_in(self.tap.state), on_listening=self._write_child_schemas)

    def _write_child_schemas(self) -> None:
        for stream in self._selected.values():
            if stream.parent_stream_type is not None:
                stream._write_schema_message()  # the SDK writes the driving stream's own

    # -- emitting -------------------------------------------------------------------------------------

    def _emit(self, item: SpooledItem) -> None:
        """The item's records for the selected streams (none for a kind this tap does not emit)."""
        if item.kind == EVENT:
            self._emit_event(item)
        elif item.kind == USER and self._users is not None:
            self._write(self._users, self._builder.user(item.body, item.received_at))
        elif item.kind == COHORT and self._cohort_changes is not None:
            for record in self._builder.cohort_changes(item.body):
                self._write(self._cohort_changes, record)

    def _emit_event(self, item: SpooledItem) -> None:
        events, revenue = self._events, self._revenue
        if events is None and revenue is None:
            return
        event = self._builder.event(item.body, item.received_at)
        if events is not None:
            self._write(events, event if events.direct_output is not None else event_record(event))  # type: ignore[attr-defined]
        if revenue is not None and (record := self._builder.revenue(event)) is not None:
            self._write(revenue, record)

    def _write(self, stream: Stream, record: Any) -> None:
        stream._write_record_message(record)
        self.emitted[stream.name] += 1

    def _write_state(self, seq: int, repeat: bool) -> None:
        set_seq(self.tap.state, seq)  # type: ignore[arg-type]
        if repeat:  # the SDK's state writer would drop an unchanged state
            self.tap.message_writer.write_message(StateMessage(value=self.tap.state))
        else:
            self.tap.state_writer.write_state(self.tap.state)
