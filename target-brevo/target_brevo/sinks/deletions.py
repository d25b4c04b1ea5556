"""deletions: erasure requests (Amplitude's privacy API, or any table of GDPR requests) -> contacts deleted
or blocklisted in Brevo, and tombstones that keep them out."""

from __future__ import annotations

from typing import Any

from target_brevo.privacy.erasure import DeletionRequest, DeletionRules, Erasures, reportable
from target_brevo.sinks.base import BrevoSink


class DeletionsSink(BrevoSink):
    """Holds the requests of a flush and carries them out after every other sink sent what it held, so a
    contact delivered earlier in the run is erased, not re-created after its erasure."""

    report_as = "deletions"

    rules: DeletionRules
    erasures: Erasures

    def setup(self) -> None:
        super().setup()
        self._held: list[tuple[DeletionRequest, dict[str, Any]]] = []

    def handle(self, record: dict[str, Any]) -> None:
        request = self.rules.read(record)
        if not self.rules.acts_on(request):
            self.report.count(self.report_as, f"not_yet_{request.status}")
            return
        self._held.append((request, reportable(record)))

    def record_key(self, record: dict[str, Any]) -> Any:
        return record.get("amplitude_id") if isinstance(record.get("amplitude_id"), int) else None

    def reject(self, record: dict[str, Any], reason: str) -> None:
        """Only the request's non-identifying fields are reported (never an email or an ext_id)."""
        self.report.reject(self.report_as, self.stream_name, self.record_key(record), reason, reportable(record))

    def pending(self) -> int:
        return len(self._held) + int(self.erasures.logs_pending())

    def flush(self) -> None:
        held, self._held = self._held, []
        for request, record in held:
            self.erasures.erase(request, self.stream_name, record)
        self.erasures.erase_transactional_logs()
