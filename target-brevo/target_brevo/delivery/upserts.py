"""Few contacts upserted with one `POST /contacts` call each, instead of an import.

The call is synchronous (201 created, 204 updated) and draws on Brevo's contacts rate limit (10 per
second on every plan); an import must be polled through `GET /processes`, which shares Brevo's
100-requests-per-hour bucket, so a flush every second could not afford one import per flush.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from target_brevo.brevo.api import BrevoApi, ContactIdentity
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

    def send(
        self, rows: Iterable[dict[str, Any]], list_ids: list[int], *, report_as: str, stream: str, mode: str = "upsert"
    ) -> int:
        """Write each row into `list_ids` by `mode` (`upsert`, `insert_only`: existing contacts untouched,
        `update_only`: absent contacts not created); returns how many Brevo accepted. Refusals go to the rejects
        file."""
        if mode == "update_only":
            return sum(self._update(row, list_ids, report_as, stream) for row in rows)
        return sum(self._upsert(row, list_ids, report_as, stream, update=mode == "upsert") for row in rows)

    def _update(self, row: dict[str, Any], list_ids: list[int], report_as: str, stream: str) -> bool:
        """`PUT /contacts/{email or ext_id}`: never creates a contact."""
        body = self.api.contact_body(row, list_ids)
        identity = ContactIdentity(body.pop("email", None), body.get("ext_id"))
        if identity.email is None:
            body.pop("ext_id", None)  # the path names it
        try:
            updated = self.api.update_contact(identity, body)
        except BrevoError as error:
            if not error.refuses_items:
                raise
            reason = f"Brevo refused the contact update ({error.status} {error.code})"
            self.report.reject(report_as, stream, reject_key(row), reason, row)
            return False
        self.report.count(report_as, "brevo_updated" if updated else "not_in_brevo")
        return updated

    def _upsert(self, row: dict[str, Any], list_ids: list[int], report_as: str, stream: str, *, update: bool) -> bool:
        """A value Brevo names as the cause (an identifier held by another contact, a phone it calls invalid) is
        reported and left out, and the contact sent again: an import applies such a row the same way, without
        that value. A contact refused for anything else, or left without an identifier, is rejected whole."""
        while True:
            try:
                upserted = self.api.upsert_contact(row, list_ids, update=update)
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
            if upserted is None:
                self.report.count(report_as, "existing_untouched")
                return False
            self.report.count(report_as, "brevo_created" if upserted.created else "brevo_updated")
            return True
