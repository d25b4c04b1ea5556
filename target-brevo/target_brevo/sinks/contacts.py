"""contacts: records -> Brevo contacts, upserted in bulk through /contacts/import."""

from __future__ import annotations

import logging
from typing import Any

from target_brevo.imports import import_contacts
from target_brevo.mapping import PHONE_ATTRIBUTES, InvalidValue, coerce_attribute, get_path
from target_brevo.sinks.base import BrevoSink

LOGGER = logging.getLogger("target_brevo.contacts")


class ContactsSink(BrevoSink):
    kind = "contacts"
    priority = 10

    def setup(self) -> None:
        super().setup()
        self._types: dict[str, str] | None = None
        self._attribute_mapping = {
            source: target.upper()
            for source, target in self.runtime.settings.property_mapping.items()
            if target.lower() not in ("email", "ext_id")
        }

    def attribute_types(self) -> dict[str, str]:
        if self._types is None:
            self._types = self.runtime.attributes.ensure(self._attribute_mapping, self.schema)
        return self._types

    def prepare(self, record: dict[str, Any]) -> dict[str, Any]:
        settings = self.runtime.settings
        email, ext_id = self.identity(record)
        types = self.attribute_types()
        attributes: dict[str, Any] = {}
        for source, name in self._attribute_mapping.items():
            value = get_path(record, source)
            if value is None or value == "":
                continue
            try:
                attributes[name] = coerce_attribute(name, value, types.get(name, "text"), settings.default_region)
            except InvalidValue as exc:
                self.runtime.report.count(self.kind, f"attribute_dropped:{name}")
                LOGGER.debug("Dropping %s of %s: %s", name, self.stream_name, exc)
        if ext_id:
            attributes["EXT_ID"] = ext_id
        if not email and not ext_id and not any(name in attributes for name in PHONE_ATTRIBUTES):
            raise InvalidValue("no identifier: the record has no valid email, ext_id or phone")
        row: dict[str, Any] = {"attributes": attributes}
        if email:
            row["email"] = email
        return row

    def deliver(self, items: list[dict[str, Any]]) -> None:
        rows = _merge(items)
        report = self.runtime.report
        report.count(self.kind, "merged_duplicates", len(items) - len(rows))
        if self.runtime.settings.dry_run:
            report.count(self.kind, "would_upsert", len(rows))
            return
        list_id = self.runtime.lists.contacts_list_id()
        accepted = import_contacts(self.runtime, rows, [list_id], obj=self.kind, stream=self.stream_name)
        report.count(self.kind, "upserted", accepted)


def _identity_key(row: dict[str, Any]) -> str:
    attributes = row.get("attributes") or {}
    if row.get("email"):
        return "e:" + row["email"]
    if attributes.get("EXT_ID"):
        return "x:" + str(attributes["EXT_ID"])
    return "p:" + str(next(attributes[name] for name in PHONE_ATTRIBUTES if name in attributes))


def _merge(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per contact: Brevo counts repeats within an import as duplicates, so later records win."""
    merged: dict[str, dict[str, Any]] = {}
    for row in items:
        key = _identity_key(row)
        if key in merged:
            merged[key]["attributes"].update(row["attributes"])
        else:
            merged[key] = {**row, "attributes": dict(row["attributes"])}
    return list(merged.values())
