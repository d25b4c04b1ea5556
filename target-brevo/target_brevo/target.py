"""TargetBrevo: routing streams to sinks by `stream_types`; flushing, and STATE only after delivery.

SDK internals used, for want of a public hook (singer-sdk 0.54):
- `_sinks_active`: a stream whose schema changes must send what its old sink holds before the new
  sink takes records (`get_sink`), or the old sink's requests would wait for the next flush.
- `_sinks_to_clear`, `_drain_all`: contacts are flushed first and imports waited for once, after the
  active sinks (`drain_all` is final and drains the retired sinks, then the active ones).
- `_process_state_message`, `_write_state_message`, `_handle_max_record_age`: the flush and STATE
  policy (a STATE is emitted only after everything before it is delivered, and not on a timer).
- `_handle_termination`: the SDK drains inside the SIGTERM handler, which could acknowledge a half-sent
  batch; we finish the input instead (the tap stops too), and stop at once on another signal.
- `Sink._validate_and_parse`, `Sink._singer_validate_message` (sinks/base.py): a record that breaks its
  schema or lacks a key property is rejected with its reason instead of stopping the run (and dates are
  left to the mapping, which parses the few it uses).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import orjson
from singer_sdk import Target
from singer_sdk.sinks import Sink

from target_brevo.config_schema import CONFIG_SCHEMA
from target_brevo.reader import SingerInput
from target_brevo.run import Run
from target_brevo.settings import Settings, parse_settings
from target_brevo.sinks.base import SkipSink, flush_rank

SUMMARY_LOGGER = logging.getLogger("target_brevo.summary")
TERMINATION_GRACE_SECONDS = 30
SAME_STOP_REQUEST_SECONDS = 2
MELTANO_TEST_STREAM = "meltano_test_stream"  # what `meltano config test` sends a loader


class TargetBrevo(Target):
    """Singer target for Brevo: contacts, events, cohort lists and revenue."""

    name = "target-brevo"
    config_jsonschema: ClassVar[dict] = CONFIG_SCHEMA
    default_sink_class = SkipSink
    message_reader_class = SingerInput

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._warned_streams: set[str] = set()
        self._run: Run | None = None  # before the SDK's __init__: it calls setup_mapper, which opens the run
        self._stop_requested_at: float | None = None
        self._input_seen = self._input_seen_at_alarm = 0  # records read, and as the last alarm saw them
        self.summary: dict[str, Any] = {}
        super().__init__(*args, **kwargs)
        self.max_parallelism = 1
        if not self.metrics_logger.isEnabledFor(logging.DEBUG):  # METRIC lines only when LOGLEVEL=DEBUG
            self.metrics_logger.setLevel(logging.WARNING)

    @functools.cached_property
    def settings(self) -> Settings:
        return parse_settings(dict(self.config))

    @property
    def run(self) -> Run:
        if self._run is None:
            self._run = Run(self.settings)
        return self._run

    def setup_mapper(self) -> None:
        _ = self.settings  # configuration errors (event names, lists, URL) surface at start-up
        super().setup_mapper()
        # The key is proved before any input is read: in a `meltano run` a wrong key stops the run
        # before the tap has exported anything.
        account = self.run.api.account_name()
        self.logger.info("Brevo api_key accepted (account %r, %s)", account, self.settings.api_url)

    # -- routing ------------------------------------------------------------------------------
    def get_sink_class(self, stream_name: str) -> type[Sink]:
        """The sink of the stream's type, its collaborators bound (called once per new sink)."""
        stream_type = self.settings.stream_types.get(stream_name)
        if stream_name == MELTANO_TEST_STREAM:
            self.logger.info(
                "`meltano config test`: the configuration and the api_key work; the test record is not written"
            )
        elif stream_type is None and stream_name not in self._warned_streams:
            self._warned_streams.add(stream_name)
            self.logger.warning("Stream %r is not routed by stream_types; its records are skipped", stream_name)
        return self.run.sink_factory(stream_type or "skip", stream_name)  # type: ignore[return-value]

    def get_sink(
        self, stream_name: str, *, record: dict | None = None, schema: dict | None = None, key_properties: Any = None
    ) -> Sink:
        existing = self._sinks_active.get(stream_name) if schema is not None else None
        if existing is not None and (existing.original_schema != schema or existing.key_properties != key_properties):
            self.drain_one(existing)  # a new schema starts a new sink: send what the old one holds first
        return super().get_sink(stream_name, record=record, schema=schema, key_properties=key_properties)

    # -- flushing: hold across STATEs, deliver everything when a STATE is due ------------------
    def _drain_all(self, sink_list: Any, parallelism: int) -> None:
        """Write what the privacy gate learnt, flush every sink (contacts first, deletions last), then wait
        until Brevo has applied every import."""
        if self._run is not None:
            self._run.privacy.flush()
        for sink in sorted(sink_list, key=flush_rank):
            self.drain_one(sink)
        # drain_all flushes the retired sinks, then the active ones: wait once, after the active ones
        if sink_list is not self._sinks_to_clear and self._run is not None:
            self._run.settle()
            self._run.flush_policy.flushed()

    def _handle_max_record_age(self) -> None:
        """Flushes happen on STATE messages (see `_process_state_message`), not on a fixed record age."""

    def _process_state_message(self, message_dict: dict) -> None:
        """Remember the STATE; deliver everything before it and emit it only when a flush is due.

        Sinks send full requests as they fill, whatever the STATEs; a flush sends the partial ones,
        waits for the imports and then emits the latest STATE (which every delivered record precedes).
        Flushing at every STATE would cut a request short for each of them (a tap may send one per
        exported hour), and Brevo's 100-per-hour bucket makes short batches expensive.
        """
        self._assert_line_requires(message_dict, requires={"value"})
        # A repeated STATE is a chance to flush too: a streaming tap repeats its last STATE until delivered,
        # so the end of a burst is sent within the flush interval instead of with the next burst.
        self._latest_state = message_dict["value"]
        if self.run.flush_policy.flush_due():
            self.drain_all()

    def _write_state_message(self, state: dict) -> None:
        if self.run.flush_policy.emits(state):
            super()._write_state_message(state)
            self.run.flush_policy.acknowledge(state)  # `state_ack_file`

    def _handle_termination(self, signum: int, frame: Any) -> None:  # pragma: no cover - signal path
        """A stop request (`meltano run` under Ctrl-C, systemd, Kubernetes): the tap stops with us, so the input
        is finished as usual (everything held is sent, the last STATE emitted), at its end or, since Meltano
        may keep our input open, once nothing has come for a second. Another signal (not the same one
        delivered twice), or input still flowing after the grace period, stops at once."""
        now = time.monotonic()
        if self._stop_requested_at is None:
            self._stop_requested_at = now
            self.logger.warning(
                "Received signal %d: finishing the input (the tap is stopping too); stopping at once after "
                "%d s or on another signal", signum, TERMINATION_GRACE_SECONDS,
            )  # fmt: skip
            signal.signal(signal.SIGALRM, self._handle_termination)
            signal.alarm(1)
            return
        if signum == signal.SIGALRM:
            if self.message_reader.waiting_for_input and self._input_seen == self._input_seen_at_alarm:
                self._finish_quiet_input()
            if now - self._stop_requested_at < TERMINATION_GRACE_SECONDS:
                self._input_seen_at_alarm = self._input_seen
                signal.alarm(1)
                return
        elif now - self._stop_requested_at < SAME_STOP_REQUEST_SECONDS:
            return  # the same stop, delivered twice (to the process group, and forwarded by Meltano)
        self.logger.warning("Stopping now, without emitting STATE for undelivered records")
        # The summary from another thread, briefly: the interrupted code may hold a lock it needs. Then exit
        # at once, so that code never goes on with a closed run (the ledger's commits are atomic).
        summary = threading.Thread(target=self.finish, kwargs={"ok": False}, daemon=True)
        summary.start()
        summary.join(timeout=2)
        sys.stderr.flush()
        os._exit(128 + signal.SIGTERM)

    def _finish_quiet_input(self) -> None:  # pragma: no cover - signal path
        """End of input in all but name: the reader waits for a line (no message is half processed) and none
        came for a second. Deliver and exit as at the end of the input."""
        self.logger.info("No more input after the stop request: finishing as at the end of the input")
        self.process_endofpipe()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def _process_record_message(self, message_dict: dict) -> None:
        self._input_seen += 1
        super()._process_record_message(message_dict)

    def process_endofpipe(self) -> None:
        super().process_endofpipe()
        self.run.finish()
        self.finish(ok=True)
        signal.alarm(0)  # a stop request's timer must not go off while the interpreter shuts down

    def finish(self, *, ok: bool) -> None:
        """Log the run summary (and write `summary_file`), then close the run."""
        run, self._run = self._run, None
        if run is None:
            return
        self.summary = run.summary(completed=ok)
        SUMMARY_LOGGER.info("target-brevo run summary: %s", run.http.redact(orjson.dumps(self.summary).decode()))
        if self.settings.summary_file:
            path = Path(self.settings.summary_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            text = orjson.dumps(self.summary, option=orjson.OPT_INDENT_2).decode()
            path.write_text(run.http.redact(text) + "\n")
        run.close()


if __name__ == "__main__":
    TargetBrevo.cli()
