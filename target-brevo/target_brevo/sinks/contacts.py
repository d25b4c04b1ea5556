"""contacts: records -> contact rows -> bulk upserts."""

from __future__ import annotations

from typing import Any

from singer_sdk.exceptions import ConfigValidationError

from target_brevo.delivery.attributes import AttributeCatalog
from target_brevo.delivery.contacts import ContactDelivery
from target_brevo.mapping.contacts import ContactRules
from target_brevo.mapping.identity import IdentityRules
from target_brevo.mapping.values import can_hold
from target_brevo.sinks.base import DeliverySink


class ContactsSink(DeliverySink):
    """Upserts a contact per record, with its mapped attributes (created in Brevo when missing)."""

    report_as = "contacts"

    identity: IdentityRules
    rules: ContactRules
    attributes: AttributeCatalog
    delivery: ContactDelivery

    def setup(self) -> None:
        super().setup()
        impossible = [source for source in self.rules.attributes if not can_hold(self.schema, source)]
        if impossible:
            raise ConfigValidationError(
                f"property_mapping for stream {self.stream_name!r}",
                errors=[f"property_mapping.{source}: the stream's schema has no such field" for source in impossible],
            )
        self._types = self.attributes.types_for(self.rules.attributes, self.schema)
        self._ensured: set[str] = set()

    def handle(self, record: dict[str, Any]) -> None:
        if not self.admitted(record):
            return
        contact = self.rules.to_row(record, self.identity.read(record), self._types)
        self.report.count_mapped(self.rules.attributes, contact.filled)
        for name in contact.row["attributes"].keys() - self._ensured:
            self.attributes.ensure(name, self._types.get(name, "text"))
            self._ensured.add(name)
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
