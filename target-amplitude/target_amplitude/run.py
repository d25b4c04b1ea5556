"""One run's parts, built from the settings: the client, the ledger, the report and the delivery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from target_amplitude.amplitude.client import AmplitudeClient
from target_amplitude.delivery.ledger import Ledger
from target_amplitude.delivery.sender import EventDelivery
from target_amplitude.report import RejectsFile, RunReport
from target_amplitude.settings import Settings


class Run:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = AmplitudeClient(
            settings.api_key, settings.base_url, settings.path, settings.retry, min_id_length=settings.min_id_length
        )
        self.report = RunReport(RejectsFile(settings.rejects_file, redact=self.client.redact))
        self.ledger = Ledger(settings.ledger_path)
        self.delivery = EventDelivery(
            self.client,
            self.ledger,
            self.report,
            max_events=settings.max_events,
            max_bytes=settings.max_bytes,
            throttle_wait_seconds=settings.throttle_wait_seconds,
            max_throttle_rounds=settings.max_throttle_rounds,
        )

    def summary(self, *, completed: bool) -> dict[str, Any]:
        stats = self.client.stats
        return self.report.summary(
            requests=stats.requests,
            retries=stats.retries,
            statuses=stats.statuses,
            endpoint=self.client.url,
            completed=completed,
        )

    def write_summary(self, summary: dict[str, Any]) -> None:
        if self.settings.summary_file:
            path = Path(self.settings.summary_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.client.redact(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode()) + "\n")

    def close(self) -> None:
        self.ledger.close()
        self.report.rejects.close()
        self.client.close()
