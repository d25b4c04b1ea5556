"""companies: group records (Amplitude accounts) -> Brevo companies with their contacts linked."""

from __future__ import annotations

from typing import Any

from target_brevo.companies.sync import CompanySync
from target_brevo.mapping.companies import CompanyRules
from target_brevo.sinks.base import BrevoSink


class CompaniesSink(BrevoSink):
    """Maps each group record to a company and hands it to company sync."""

    report_as = "companies"

    rules: CompanyRules
    companies: CompanySync

    def handle(self, record: dict[str, Any]) -> None:
        row = self.rules.to_row(record)
        if row is None:
            self.report.count(self.report_as, "skipped_group_type")
            return
        self.companies.receive(row)

    def pending(self) -> int:
        return self.companies.pending

    def flush(self) -> None:
        self.companies.flush(stream=self.stream_name)
