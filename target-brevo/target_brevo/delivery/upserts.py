"""Few contacts upserted with one `POST /contacts` call each, instead of an import.

The call is synchronous (201 created, 204 updated) and draws on Brevo's contacts rate limit (10 per
second on every plan); an import must be polled through `GET /processes`, which shares Brevo's
100-requests-per-hour bucket, so a flush every second could not afford one import per flush.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from target_brevo.brevo.api import BrevoApi
from target_brevo.brevo.errors import BrevoError
from target_brevo.mapping.contacts import identifies, reject_key, row_values, without_values
from target_brevo.report import RunReport


@dataclass
class ContactUpserts:
    """Upserts contact rows (`{email?, attributes}`, as imported) one call each, into lists as an import would."""

    api: BrevoApi
    report: RunReport
    max_rows: int  # `contact_calls_max`: more contacts than this at once go by import

    def takes(self, rows: int) -> bool:
        """Whether `rows` contacts go by calls rather than by one import (never when `max_rows` is 0)."""
        return 0 < rows <= self.max_rows

    def send(self, rows: Iterable[dict[str, Any]], list_ids: list[int], *, report_as: str, stream: str) -> int:
        """Upsert each row into `list_ids`; returns how many Brevo accepted. Refusals go to the rejects file."""
        return sum(self._upsert(row, list_ids, report_as, stream) for row in rows)

    def _upsert(self, row: dict[str, Any], list_ids: list[int], report_as: str, stream: str) -> bool:
        """A value Brevo names as the cause (an identifier held by another contact, a phone it calls invalid) is
        reported and left out, and the contact sent again: an import applies such a row the same way, without
        that value. A contact refused for anything else, or left without an identifier, is rejected whole."""
        while True:
            try:
                upserted = self.api.upsert_contact(row, list_ids)
            except BrevoError as error:
                if not error.refuses_items:
                    raise
                refused = [name for name in error.refused_values if name in row_values(row)]
                rest = without_values(row, refused)
                if not refused or not identifies(rest):
                    reason = f"Brevo refused the contact ({error.status} {error.code}): {error.reason}"
                    self.report.reject(report_as, stream, reject_key(row), reason, row)
                    return False
                for name in refused:
                    self.report.reject(
                        report_as,
                        stream,
                        reject_key(row),
                        f"Brevo refused {name}: {error.reason}; contact sent without {name}",
                        row,
                        outcome=f"attribute_rejected:{name}",
                        attribute=name,
                    )
                row = rest
                continue
            self.report.count(report_as, "brevo_created" if upserted.created else "brevo_updated")
            return True
