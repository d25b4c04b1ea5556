"""TargetAmplitude: every stream's records as Amplitude events; STATE only once everything before it is in.

The SDK emits STATE from `drain_all` only, after every sink's `process_batch` returned, and our
`process_batch` returns only when each held event is accepted (200) or rejected: a STATE never covers an
event still throttled or failing. One sink drains at a time (`max_parallelism = 1`): they share the client,
the ledger and the throttle schedule.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any, ClassVar

import orjson
from singer_sdk import Target

from target_amplitude.config_schema import CONFIG_SCHEMA
from target_amplitude.delivery.acknowledgement import acknowledge
from target_amplitude.run import Run
from target_amplitude.settings import Settings, parse_settings
from target_amplitude.sinks import EventsSink

SUMMARY_LOGGER = logging.getLogger("target_amplitude.summary")


class TargetAmplitude(Target):
    """Singer target for Amplitude: records as events over HTTP V2 (or the Batch API), exactly once."""

    name = "target-amplitude"
    package_name = "target-amplitude-httpapi"
    config_jsonschema: ClassVar[dict] = CONFIG_SCHEMA
    default_sink_class = EventsSink

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._run: Run | None = None
        self._flushed_at = time.monotonic()
        self._written_state: dict | None = None
        self._stopped_cleanly_by: int | None = None  # the signal after whose drain everything read was delivered
        self.summary: dict[str, Any] = {}
        super().__init__(*args, **kwargs)
        self.max_parallelism = 1

    @functools.cached_property
    def settings(self) -> Settings:
        return parse_settings(dict(self.config))

    @property
    def run(self) -> Run:
        if self._run is None:
            self._run = Run(self.settings)
        return self._run

    def _process_state_message(self, message_dict: dict) -> None:
        """Deliver what is held and emit the STATE once `flush_interval_seconds` passed since the last delivery
        (the SDK alone would wait for the end of input, or 5 minutes: too late for a streaming tap)."""
        super()._process_state_message(message_dict)
        if time.monotonic() - self._flushed_at >= self.settings.flush_interval_seconds:
            self.drain_all()

    def drain_all(self, *, is_endofpipe: bool = False) -> None:
        super().drain_all(is_endofpipe=is_endofpipe)
        self._flushed_at = time.monotonic()

    def _write_state_message(self, state: dict) -> None:
        if self._run is not None and self._run.delivery.flushing:
            # The SDK's SIGTERM handler drains while a delivery may be under way in the main thread
            # (meltano/sdk#3775): a STATE now could cover events not accepted yet.
            self.logger.warning("Not emitting STATE: a delivery to Amplitude was interrupted")
            return
        if state != self._written_state:  # a drain at the end of input would repeat the last STATE
            super()._write_state_message(state)
            self._written_state = state
            if self.settings.state_ack_file:
                acknowledge(Path(self.settings.state_ack_file), state)

    def _handle_termination(self, signum: int, frame: Any) -> None:  # pragma: no cover - signal path
        """A stop request (a service under systemd, Kubernetes, `meltano run` stopped). Between deliveries:
        what is held is delivered, its STATE emitted, and the run counts as completed (the tap stops too; what
        it had not sent yet comes again on the next run, after the last STATE). During a delivery: stop without
        a STATE for it; the next run sends those events again (same insert_ids, the ledger drops the accepted)."""
        if self._run is not None and self._run.delivery.flushing:
            self.logger.warning("Received signal %d during a delivery: stopping without a STATE for it", signum)
        else:
            self.logger.info("Received signal %d: delivering what is held, then stopping", signum)
            self.drain_all(is_endofpipe=True)
            self._stopped_cleanly_by = signum
        super(Target, self)._handle_termination(signum, frame)

    def setup_mapper(self) -> None:
        _ = self.settings  # a bad setting (URL, data_center, limits) stops the run before any input is read
        super().setup_mapper()

    def listen(self, file_input: Any = None) -> None:
        """Read the input; the run summary is logged however it ends (a failed delivery stops the run)."""
        try:
            super().listen(file_input)
        except BaseException:
            self.finish(completed=self._stopped_cleanly_by is not None)
            raise

    def process_endofpipe(self) -> None:
        super().process_endofpipe()
        self.finish(completed=True)

    def finish(self, *, completed: bool) -> None:
        """Log the run summary (and write `summary_file`), then close the run (once)."""
        if self.summary:
            return
        run, self._run = self.run, None
        self.summary = run.summary(completed=completed)
        if self._stopped_cleanly_by is not None:
            self.summary["stopped_by_signal"] = self._stopped_cleanly_by
        SUMMARY_LOGGER.info("target-amplitude run summary: %s", run.client.redact(orjson.dumps(self.summary).decode()))
        run.write_summary(self.summary)
        run.close()


if __name__ == "__main__":
    TargetAmplitude.cli()
