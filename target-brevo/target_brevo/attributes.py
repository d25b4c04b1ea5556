"""Contact attributes: read Brevo's list once, create the mapped ones that are missing."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from target_brevo.client import BrevoError
from target_brevo.mapping import IDENTIFIER_ATTRIBUTES, attribute_type_from_schema, schema_at

if TYPE_CHECKING:
    from target_brevo.runtime import Runtime

LOGGER = logging.getLogger("target_brevo.attributes")


class AttributeRegistry:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._types: dict[str, str] | None = None

    def known(self) -> dict[str, str]:
        if self._types is None:
            response = self.runtime.client.call("GET", "/contacts/attributes")
            if not response.ok:
                raise BrevoError(f"GET /contacts/attributes: {response.status} {response.error_message}", status=response.status)
            self._types = {
                str(a.get("name", "")).upper(): str(a.get("type") or "text")
                for a in (response.body or {}).get("attributes", [])
            }
        return self._types

    def ensure(self, mapping: dict[str, str], schema: dict[str, Any]) -> dict[str, str]:
        """Brevo type of every attribute `mapping` targets, creating the missing ones when allowed."""
        settings = self.runtime.settings
        known = self.known()
        types: dict[str, str] = {}
        for source, target in mapping.items():
            name = target.upper()
            if name in ("EMAIL",):
                continue
            if name in known:
                types[name] = known[name]
                continue
            wanted = settings.attribute_types.get(name) or attribute_type_from_schema(schema_at(schema, source))
            if name in IDENTIFIER_ATTRIBUTES:
                types[name] = "text"
                continue
            if not settings.create_missing_attributes:
                LOGGER.warning("Brevo has no contact attribute %s and create_missing_attributes is off: "
                               "Brevo will ignore its values", name)
                types[name] = wanted
                continue
            if settings.dry_run:
                self.runtime.report.count("attributes", "would_create")
                LOGGER.info("Dry run: would create contact attribute %s (%s)", name, wanted)
            else:
                response = self.runtime.client.call(
                    "POST", "/contacts/attributes/{attributeCategory}/{attributeName}",
                    path_params={"attributeCategory": "normal", "attributeName": name}, json={"type": wanted},
                )
                if not response.ok and response.error_code != "duplicate_parameter":
                    raise BrevoError(f"creating contact attribute {name} ({wanted}): {response.status} {response.error_message}",
                                     status=response.status)
                self.runtime.report.count("attributes", "created")
                LOGGER.info("Created Brevo contact attribute %s (%s)", name, wanted)
            known[name] = wanted
            types[name] = wanted
        return types
