"""A sink for streams routed nowhere: records are counted and dropped."""

from __future__ import annotations

from typing import Any

from target_brevo.sinks.base import BrevoSink


class SkipSink(BrevoSink):
    kind = "skipped"
    priority = 90

    def process_record(self, record: dict, context: dict) -> None:
        self.runtime.report.count("skipped_streams", self.stream_name)

    def deliver(self, items: list[Any]) -> None:
        return
