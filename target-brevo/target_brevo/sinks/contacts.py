"""contacts: records -> contact rows -> bulk upserts."""

from __future__ import annotations

from typing import Any

from target_brevo.delivery.attributes import AttributeCatalog
from target_brevo.delivery.contacts import ContactDelivery
from target_brevo.mapping.contacts import ContactRules
from target_brevo.mapping.identity import IdentityRules
from target_brevo.sinks.base import DeliverySink


class ContactsSink(DeliverySink):
    """Upserts a contact per record, with its mapped attributes (created in Brevo when missing)."""

    report_as = "contacts"

    identity: IdentityRules
    rules: ContactRules
    attributes: AttributeCatalog
    delivery: ContactDelivery
    _types: dict[str, str] | None = None  # of the mapped attributes, read on the first record

    def handle(self, record: dict[str, Any]) -> None:
        if self._types is None:
            self._types = self.attributes.types_for(self.rules.attributes, self.schema)
        contact = self.rules.to_row(record, self.identity.read(record), self._types)
        # The contact is still worth sending without a value Brevo cannot take: report the value.
        for refused in contact.refused:
            self.report.reject(
                self.report_as,
                self.stream_name,
                self.record_key(record),
                f"{refused.reason}; contact sent without {refused.attribute}",
                record,
                outcome=f"attribute_rejected:{refused.attribute}",
                attribute=refused.attribute,
            )
        self.delivery.put(contact)
