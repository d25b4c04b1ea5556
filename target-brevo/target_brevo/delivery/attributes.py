"""Contact attributes: Brevo's list read once, the mapped ones that are missing created before the first import."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from target_brevo.brevo.api import BrevoApi
from target_brevo.mapping.contacts import BUILT_IN_ATTRIBUTES
from target_brevo.mapping.values import attribute_type_from_schema, schema_at
from target_brevo.report import RunReport

LOGGER = logging.getLogger("target_brevo.attributes")


@dataclass
class AttributeCatalog:
    """The Brevo type of every attribute the mapping writes, creating missing ones when allowed."""

    api: BrevoApi
    report: RunReport
    configured_types: dict[str, str]
    create_missing: bool
    dry_run: bool
    _known: dict[str, str] | None = field(default=None, init=False)

    def types_for(self, mapping: dict[str, str], schema: dict[str, Any]) -> dict[str, str]:
        """Brevo type of every attribute `mapping` (source path -> attribute) writes: Brevo's own for the
        attributes it has; for the others the configured one, else one derived from the stream schema."""
        if self._known is None:
            self._known = self.api.attribute_types()
        types: dict[str, str] = {}
        for source, name in mapping.items():
            if name in self._known:
                types[name] = self._known[name]
            elif name in BUILT_IN_ATTRIBUTES:
                types[name] = "text"
            else:
                types[name] = self.configured_types.get(name) or attribute_type_from_schema(schema_at(schema, source))
        return types

    def ensure(self, name: str, attribute_type: str) -> None:
        """Create the attribute in Brevo if it is missing: called once a mapped value for it is seen, so a
        mapping that never matches creates nothing."""
        if self._known is None:
            self._known = self.api.attribute_types()
        if name in self._known or name in BUILT_IN_ATTRIBUTES:
            return
        self._known[name] = attribute_type
        if not self.create_missing:
            LOGGER.warning(
                "Brevo has no contact attribute %s and create_missing_attributes is off: Brevo will ignore its values",
                name,
            )
        elif self.dry_run:
            self.report.count("attributes", "would_create")
            LOGGER.info("Dry run: would create contact attribute %s (%s)", name, attribute_type)
        else:
            self.api.create_attribute(name, attribute_type)
            self.report.count("attributes", "created")
            LOGGER.info("Created Brevo contact attribute %s (%s)", name, attribute_type)
