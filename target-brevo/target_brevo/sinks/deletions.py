"""deletions: erasure requests (Amplitude's privacy API, or any table of GDPR requests) -> contacts deleted
or blocklisted in Brevo, and tombstones that keep them out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from target_brevo.privacy.erasure import DeletionRules, Erasure, Erasures
from target_brevo.sinks.base import BrevoSink


class DeletionsSink(BrevoSink):
    """Tombstones each person as their request arrives; erases them at the flush, after every other sink sent
    what it held and Brevo applied the imports, so nothing delivered earlier re-creates them after."""

    report_as = "deletions"

    rules: DeletionRules
    erasures: Erasures
    settle: Callable[[], None]  # waits until Brevo applied every contact import sent so far

    def setup(self) -> None:
        super().setup()
        self._held: list[Erasure] = []

    def handle(self, record: dict[str, Any]) -> None:
        request = self.rules.read(record)
        if not self.rules.acts_on(request):
            self.report.count(self.report_as, f"not_yet_{request.status}")
            return
        erasure = self.erasures.begin(request, self.stream_name, self._reported(record))
        if erasure is not None:
            self._held.append(erasure)

    def _reported(self, record: dict[str, Any]) -> dict[str, Any]:
        return self.rules.reportable(record, list(self.key_properties or ()))

    def record_key(self, record: dict[str, Any]) -> Any:
        """The request's key properties, those that do not name the person."""
        reported = self._reported(record)
        values = [reported[k] for k in self.key_properties or () if k in reported]
        return values[0] if len(values) == 1 else (values or None)

    def reject(self, record: dict[str, Any], reason: str) -> None:
        """Only the request's non-identifying fields are reported (never an email or an ext_id)."""
        if reason.startswith("does not match the stream schema"):
            reason = "does not match the stream schema (details withheld: they may quote the person)"
        self.report.reject(self.report_as, self.stream_name, self.record_key(record), reason, self._reported(record))

    def pending(self) -> int:
        return len(self._held) + int(self.erasures.logs_pending())

    def flush(self) -> None:
        held, self._held = self._held, []
        if held:
            self.settle()
        for erasure in held:
            self.erasures.finish(erasure, self.stream_name)
        self.erasures.erase_transactional_logs()
