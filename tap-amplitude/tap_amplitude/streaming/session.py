"""The streaming session: the receiver keeps Amplitude's webhooks in the spool; this loop turns spooled items into
Singer records in seq order, with a STATE about every `state_interval_seconds` while records flow, repeated
until the target has delivered it.

Lifecycle:
- start: resume after the input state's seq and prune the spool through it (the target delivered those items);
  then listen.
- run: read what the spool holds beyond the last emitted seq, emit it, flush; every few seconds read the
  delivered-state file (when configured) and prune through its seq.
- stop (SIGTERM/SIGINT, or `idle_exit_seconds` without arrivals once drained): stop accepting, let in-flight
  requests finish, emit what they added, write the final STATE, log a summary.
After a hard kill, the next run resumes after the last STATE the target emitted: what was emitted but not covered
by it is emitted again (the target's ledger drops repeats), and nothing acknowledged with a 200 is lost.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk.singerlib import StateMessage
from webhook_receiver import Endpoint, Receiver, Spool, SpooledItem, SpoolError, shared_secret

from tap_amplitude.events import event_record
from tap_amplitude.streaming.bookmark import read_delivered_seq, seq_in, set_seq
from tap_amplitude.streaming.payloads import COHORT, EVENT, USER, classify_cohorts, classify_stream
from tap_amplitude.streaming.records import RecordBuilder

STREAM_PATH = "/stream"  # Webhooks Streaming: events and users
COHORTS_PATH = "/cohorts"  # Cohort Webhooks
READ_BATCH = 500  # spooled items read per query
WAIT_SECONDS = 0.2  # longest sleep of the loop: bounds the reaction to a stop request and a due STATE
DELIVERED_POLL_SECONDS = 2.0
STREAM_NAMES = ("events", "revenue", "users", "cohort_membership_changes")


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    path_prefix: str
    secret_header: str
    secret: str = field(repr=False)  # never in a repr or a log
    max_body_bytes: int
    spool_path: Path
    spool_max_bytes: int
    state_interval_seconds: float
    progress_interval_seconds: float
    idle_exit_seconds: float | None
    delivered_state_file: Path | None

    @classmethod
    def from_config(cls, config: Any) -> Settings:
        """From the tap's validated config (its schema declares the defaults)."""
        idle = config.get("idle_exit_seconds")
        delivered = config.get("delivered_state_file")
        prefix = str(config["path_prefix"]).strip().strip("/")
        return cls(
            host=config["host"],
            port=int(config["port"]),
            path_prefix=f"/{prefix}" if prefix else "",
            secret_header=config["secret_header"],
            secret=config["secret"],
            max_body_bytes=int(config["max_body_bytes"]),
            spool_path=Path(config["spool_path"]),
            spool_max_bytes=int(config["spool_max_bytes"]),
            state_interval_seconds=float(config["state_interval_seconds"]),
            progress_interval_seconds=float(config["progress_interval_seconds"]),
            idle_exit_seconds=None if idle in (None, "") else float(idle),
            delivered_state_file=Path(delivered) if delivered else None,
        )

    def endpoints(self) -> list[Endpoint]:
        authorize = shared_secret(self.secret_header, self.secret)
        return [
            Endpoint(self.path_prefix + STREAM_PATH, authorize, classify_stream),
            Endpoint(self.path_prefix + COHORTS_PATH, authorize, classify_cohorts),
        ]


class StreamingSession:
    """One run of the streaming tap (see the module docstring). `streams` maps stream names to the tap's streams;
    `builder` makes their records (an event item gives an `events` record and, for a revenue event, a `revenue`
    one)."""

    def __init__(
        self, tap: Tap, streams: dict[str, Stream], settings: Settings, builder: RecordBuilder, logger: logging.Logger
    ) -> None:
        self.tap = tap
        self.settings = settings
        self.logger = logger
        self._selected = {name: streams[name] for name in STREAM_NAMES if streams[name].selected}
        self._events = self._selected.get("events")
        self._revenue = self._selected.get("revenue")
        self._users = self._selected.get("users")
        self._cohort_changes = self._selected.get("cohort_membership_changes")
        self._builder = builder
        self._receiver: Receiver | None = None
        self._stop_reason: str | None = None
        self.emitted: Counter[str] = Counter()
        self.unreadable = 0
        self.emitted_seq = self.stated_seq = self.pruned_seq = 0
        self.delivered_seq: int | None = None

    # -- control --------------------------------------------------------------------------------------

    def request_stop(self, reason: str) -> bool:
        """Ask the session to stop (only sets flags: safe in a signal handler); False if it was stopping already."""
        if self._stop_reason is not None:
            return False
        self._stop_reason = reason
        if self._receiver is not None:
            self._receiver.request_stop()
        return True

    # -- the run --------------------------------------------------------------------------------------

    def run(self) -> None:
        settings = self.settings
        started = time.monotonic()
        resume = seq_in(self.tap.state)
        with Spool(settings.spool_path, max_bytes=settings.spool_max_bytes) as spool:
            if spool.continue_after(resume):
                self.logger.warning(
                    "The spool %s is behind the state (seq %d): a new or replaced file; numbering continues after it",
                    settings.spool_path,
                    resume,
                )
            if resume:
                spool.prune_through(resume)
            self.emitted_seq = self.stated_seq = self.pruned_seq = resume
            if self._stop_reason is not None:
                return
            receiver = self._receiver = Receiver(
                settings.endpoints(),
                spool,
                host=settings.host,
                port=settings.port,
                max_body_bytes=settings.max_body_bytes,
            )
            receiver.start()
            try:
                self.logger.info(
                    "Receiving Amplitude webhooks on %s: %s (events and users), %s (cohort webhooks), /health; "
                    "secret expected in header %s; spool %s (%d pending), resuming after seq %d",
                    receiver.url,
                    settings.path_prefix + STREAM_PATH,
                    settings.path_prefix + COHORTS_PATH,
                    settings.secret_header,
                    settings.spool_path,
                    spool.stats().pending,
                    resume,
                )
                for stream in self._selected.values():
                    if stream.parent_stream_type is not None:
                        stream._write_schema_message()  # the SDK writes the driving stream's own
                self._pump(spool, receiver)
            finally:
                receiver.stop()
            self._drain(spool)
            self._log_summary(spool, receiver, time.monotonic() - started)

    def _pump(self, spool: Spool, receiver: Receiver) -> None:
        settings = self.settings
        now = last_activity = last_state = time.monotonic()
        next_delivered_poll = now
        next_progress = now + settings.progress_interval_seconds
        progress_mark: tuple[Any, ...] = (self.emitted_seq, self.pruned_seq, ())
        while self._stop_reason is None:
            read = self._emit_batch(spool)
            now = time.monotonic()
            if read:
                last_activity = now
            # The STATE is repeated until the target says it delivered it: a target flushes on a STATE that
            # comes at least its flush interval after its last flush, so the last records of a burst would
            # otherwise wait for the next burst.
            undelivered = self.delivered_seq is None or self.delivered_seq < self.emitted_seq
            if (
                self.emitted_seq > self.stated_seq or undelivered
            ) and now - last_state >= settings.state_interval_seconds:
                self._write_state()
                last_state = now
            if settings.delivered_state_file is not None and now >= next_delivered_poll:
                self._prune_delivered(spool, settings.delivered_state_file)
                next_delivered_poll = now + DELIVERED_POLL_SECONDS
            if now >= next_progress:
                mark = (self.emitted_seq, self.pruned_seq, tuple(dict(receiver.counts).items()))
                if mark != progress_mark:
                    self._log_progress(spool, receiver)
                    progress_mark = mark
                next_progress = now + settings.progress_interval_seconds
            if read == READ_BATCH:
                continue  # more is waiting
            if not receiver.running:
                self.logger.error("The webhook receiver stopped unexpectedly")
                self.request_stop("receiver stopped")
            elif settings.idle_exit_seconds is not None and now - last_activity >= settings.idle_exit_seconds:
                self.request_stop(f"idle for {settings.idle_exit_seconds:g} s")
            else:
                spool.wait_beyond(self.emitted_seq, WAIT_SECONDS)
        self.logger.info("Stopping (%s): no new requests accepted; draining the spool", self._stop_reason)

    def _drain(self, spool: Spool) -> None:
        """Emit everything the spool holds beyond the last emitted seq (the receiver is stopped), then STATE."""
        while self._emit_batch(spool):
            pass
        if self.emitted_seq > self.stated_seq:
            self._write_state()

    # -- emitting -------------------------------------------------------------------------------------

    def _emit_batch(self, spool: Spool) -> int:
        items = spool.read_after(self.emitted_seq, READ_BATCH)
        if not items:
            return 0
        for item in items:
            self._emit(item)
            self.emitted_seq = item.seq
        flush = getattr(self.tap.message_writer, "flush", None)
        if flush is not None:
            flush()  # records leave now, not when an output buffer fills up
        return len(items)

    def _emit(self, item: SpooledItem) -> None:
        """The item's records for the selected streams (none for a kind this tap does not emit)."""
        try:
            if item.kind == EVENT:
                self._emit_event(item)
            elif item.kind == USER and self._users is not None:
                self._write(self._users, self._builder.user(item.body, item.received_at))
            elif item.kind == COHORT and self._cohort_changes is not None:
                for record in self._builder.cohort_changes(item.body):
                    self._write(self._cohort_changes, record)
        except Exception as exc:  # noqa: BLE001  (one unreadable item must not stop the stream; named, never quoted)
            self.unreadable += 1
            self.logger.error("Skipped spooled item seq %d (%s): %s", item.seq, item.kind, type(exc).__name__)

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

    def _write_state(self) -> None:
        set_seq(self.tap.state, self.emitted_seq)  # type: ignore[arg-type]
        if self.emitted_seq == self.stated_seq:  # a repeat, which the SDK's state writer would drop
            self.tap.message_writer.write_message(StateMessage(value=self.tap.state))
        else:
            self.tap.state_writer.write_state(self.tap.state)
        self.stated_seq = self.emitted_seq

    def _prune_delivered(self, spool: Spool, path: Path) -> None:
        delivered = read_delivered_seq(path)
        if delivered is None or delivered == self.delivered_seq:
            return
        if delivered > self.emitted_seq:
            # Ahead of anything this run emitted: the file belongs to another spool's numbering (replaced
            # spool, stale file). Trusting it would prune items before they are delivered.
            self.logger.warning(
                "%s says seq %d was delivered, beyond the last emitted (%d): ignored, nothing pruned by it",
                path, delivered, self.emitted_seq,
            )  # fmt: skip
            self.delivered_seq = delivered
            return
        self.delivered_seq = delivered
        through = delivered
        if through > self.pruned_seq:
            try:
                spool.prune_through(through)
            except SpoolError as exc:  # the rows stay; the next poll tries again
                self.logger.warning("Could not prune the spool through seq %d: %s", through, exc)
                return
            self.pruned_seq = through

    # -- logs -----------------------------------------------------------------------------------------

    def _activity(self, spool: Spool, receiver: Receiver) -> str:
        counts = dict(receiver.counts)  # a snapshot: the receiver's thread keeps counting
        refused = ", ".join(
            f"{name.removeprefix('status_')}: {count}"
            for name, count in sorted(counts.items())
            if name.startswith("status_")
        )
        emitted = " ".join(f"{name}={self.emitted[name]}" for name in STREAM_NAMES)
        delivered = ""
        if self.settings.delivered_state_file is not None:
            delivered = f", delivered through {'(no file yet)' if self.delivered_seq is None else self.delivered_seq}"
        return (
            f"received {counts.get('items', 0)} items in {counts.get('requests', 0)} requests "
            f"(refused: {refused or 'none'}); emitted {emitted}; emitted through seq {self.emitted_seq}, "
            f"STATE through {self.stated_seq}{delivered}; {spool.stats().pending} items in the spool"
            + (f"; {self.unreadable} unreadable items skipped" if self.unreadable else "")
        )

    def _log_progress(self, spool: Spool, receiver: Receiver) -> None:
        self.logger.info("Streaming: %s", self._activity(spool, receiver))

    def _log_summary(self, spool: Spool, receiver: Receiver, seconds: float) -> None:
        self.logger.info("Streaming summary after %.1f s: %s", seconds, self._activity(spool, receiver))
