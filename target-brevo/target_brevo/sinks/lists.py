"""lists: cohort definitions -> cohort names, and Brevo lists created when allowed."""

from __future__ import annotations

from typing import Any

from target_brevo.cohorts.sync import CohortSync
from target_brevo.mapping.cohorts import ListRules
from target_brevo.sinks.base import BrevoSink


class ListsSink(BrevoSink):
    """Remembers each cohort's name and resolves its list at the next flush."""

    report_as = "lists"

    rules: ListRules
    cohorts: CohortSync

    def handle(self, record: dict[str, Any]) -> None:
        self.cohorts.define(self.rules.read(record))

    def pending(self) -> int:
        return len(self.cohorts.definitions)

    def flush(self) -> None:
        self.cohorts.resolve_definitions()
