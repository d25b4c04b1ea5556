"""The streaming session of a webhook-fed tap: the receiver keeps the webhooks in the spool; this loop hands spooled
items to the tap's `emit` in seq order, with a STATE about every `state_interval_seconds` while items flow,
repeated until the target has delivered it. Nothing here knows a vendor or Singer: the tap gives its endpoints,
what to do with an item (`emit`), how to write a STATE (`write_state(seq, repeat)`) and its stream names (logs).

Lifecycle:
- start: resume after `resume_seq` (the input state's) and prune the spool through it (the target delivered those
  items); then listen, and call `on_listening` (a tap's work that needs the receiver up, e.g. a pull).
- run: read what the spool holds beyond the last emitted seq, emit it, flush; every few seconds read the
  delivered-state file (when configured) and prune through its seq.
- stop (`request_stop`, e.g. from SIGTERM/SIGINT, or `idle_exit_seconds` without arrivals once drained): stop
  accepting, let in-flight requests finish, emit what they added, write the final STATE, log a summary.
After a hard kill, the next run resumes after the last STATE the target emitted: what was emitted but not covered
by it is emitted again (the target's ledger drops repeats), and nothing acknowledged with a 200 is lost.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webhook_receiver.app import Endpoint
from webhook_receiver.bookmark import read_delivered_seq
from webhook_receiver.server import Receiver
from webhook_receiver.spool import Spool, SpooledItem, SpoolError

READ_BATCH = 500  # spooled items read per query
WAIT_SECONDS = 0.2  # longest sleep of the loop: bounds the reaction to a stop request and a due STATE
DELIVERED_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class SessionSettings:
    """The session's settings; the taps declare them under these names (and their defaults) in their config."""

    host: str
    port: int
    path_prefix: str  # "" or "/something": the endpoints' paths start with it
    max_body_bytes: int
    spool_path: Path
    spool_max_bytes: int
    state_interval_seconds: float
    progress_interval_seconds: float
    idle_exit_seconds: float | None
    delivered_state_file: Path | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SessionSettings:
        """From a tap's validated config (its schema declares the defaults)."""
        idle = config.get("idle_exit_seconds")
        delivered = config.get("delivered_state_file")
        prefix = str(config["path_prefix"]).strip().strip("/")
        return cls(
            host=config["host"],
            port=int(config["port"]),
            path_prefix=f"/{prefix}" if prefix else "",
            max_body_bytes=int(config["max_body_bytes"]),
            spool_path=Path(config["spool_path"]),
            spool_max_bytes=int(config["spool_max_bytes"]),
            state_interval_seconds=float(config["state_interval_seconds"]),
            progress_interval_seconds=float(config["progress_interval_seconds"]),
            idle_exit_seconds=None if idle in (None, "") else float(idle),
            delivered_state_file=Path(delivered) if delivered else None,
        )


class SpoolSession:
    """One run of a webhook-fed tap (see the module docstring).

    - `emit(item)` writes the item's records; it counts them in `emitted` (per stream name). A ValueError,
      TypeError, KeyError, AttributeError or IndexError (an item that cannot be read) skips the item, counted and
      logged by its type only (a payload is never quoted); any other error ends the run before its seq is covered.
    - `write_state(seq, repeat)` writes a STATE saying everything through `seq` was emitted; `repeat` is true
      when that seq was already stated (a writer that drops unchanged states must write it anyway).
    - `flush()`, when given, pushes written records out after each batch.
    - `source` names the sender in logs ("Amplitude"); `auth_note` says what a request must carry (never the
      secret); `stream_names` orders the per-stream counts in logs.
    """

    def __init__(
        self,
        settings: SessionSettings,
        endpoints: Sequence[Endpoint],
        *,
        emit: Callable[[SpooledItem], None],
        write_state: Callable[[int, bool], None],
        stream_names: Sequence[str],
        emitted: Counter[str],
        logger: logging.Logger,
        source: str,
        auth_note: str,
        flush: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.endpoints = list(endpoints)
        self.logger = logger
        self.source = source
        self.auth_note = auth_note
        self.stream_names = tuple(stream_names)
        self.emitted = emitted
        self._emit_item = emit
        self._write_state_message = write_state
        self._flush = flush
        self._receiver: Receiver | None = None
        self._stop_reason: str | None = None
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

    @property
    def stopping(self) -> bool:
        return self._stop_reason is not None

    # -- the run --------------------------------------------------------------------------------------

    def run(self, resume_seq: int, on_listening: Callable[[], None] | None = None) -> None:
        settings = self.settings
        started = time.monotonic()
        with Spool(settings.spool_path, max_bytes=settings.spool_max_bytes) as spool:
            if spool.continue_after(resume_seq):
                self.logger.warning(
                    "The spool %s is behind the state (seq %d): a new or replaced file; numbering continues after it",
                    settings.spool_path,
                    resume_seq,
                )
            if resume_seq:
                spool.prune_through(resume_seq)
            self.emitted_seq = self.stated_seq = self.pruned_seq = resume_seq
            if self._stop_reason is not None:
                return
            receiver = self._receiver = Receiver(
                self.endpoints,
                spool,
                host=settings.host,
                port=settings.port,
                max_body_bytes=settings.max_body_bytes,
            )
            receiver.start()
            try:
                paths = ", ".join(
                    f"{endpoint.path} ({endpoint.description})" if endpoint.description else endpoint.path
                    for endpoint in self.endpoints
                )
                self.logger.info(
                    "Receiving %s webhooks on %s: %s, /health; %s; spool %s (%d pending), resuming after seq %d",
                    self.source,
                    receiver.url,
                    paths,
                    self.auth_note,
                    settings.spool_path,
                    spool.stats().pending,
                    resume_seq,
                )
                if on_listening is not None:
                    on_listening()
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
            try:
                self._emit_item(item)
            except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
                # An item that cannot be read: skipped, named (never quoted), so that the stream goes on. Anything
                # else (a disk, a database) ends the run before this seq is covered: the item is read again.
                self.unreadable += 1
                self.logger.error("Skipped spooled item seq %d (%s): %s", item.seq, item.kind, type(exc).__name__)
            self.emitted_seq = item.seq
        if self._flush is not None:
            self._flush()  # records leave now, not when an output buffer fills up
        return len(items)

    def _write_state(self) -> None:
        self._write_state_message(self.emitted_seq, self.emitted_seq == self.stated_seq)
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
        if delivered > self.pruned_seq:
            try:
                spool.prune_through(delivered)
            except SpoolError as exc:  # the rows stay; the next poll tries again
                self.logger.warning("Could not prune the spool through seq %d: %s", delivered, exc)
                return
            self.pruned_seq = delivered

    # -- logs -----------------------------------------------------------------------------------------

    def _activity(self, spool: Spool, receiver: Receiver) -> str:
        counts = dict(receiver.counts)  # a snapshot: the receiver's thread keeps counting
        refused = ", ".join(
            f"{name.removeprefix('status_')}: {count}"
            for name, count in sorted(counts.items())
            if name.startswith("status_")
        )
        emitted = " ".join(f"{name}={self.emitted[name]}" for name in self.stream_names)
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
