"""A sink for streams routed nowhere: records are counted and dropped."""

from __future__ import annotations

from target_brevo.sinks.base import BrevoSink


class SkipSink(BrevoSink):
    kind = "skipped"
    priority = 90

    def process_record(self, record: dict, context: dict) -> None:
        self.runtime.report.count("skipped_streams", self.stream_name)

    def pending(self) -> int:
        return 0

    def flush(self) -> None:
        return
