"""contacts: records -> Brevo contacts, upserted in bulk through /contacts/import."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from target_brevo.chunking import KeyedBatch
from target_brevo.imports import ENVELOPE_BYTES
from target_brevo.jsonsafe import encoded as keep_encoded
from target_brevo.mapping import PHONE_ATTRIBUTES, InvalidValue, coerce_attribute, get_path
from target_brevo.sinks.base import RequestBatchSink

LOGGER = logging.getLogger("target_brevo.contacts")


class ContactsSink(RequestBatchSink):
    kind = "contacts"
    priority = 10

    def setup(self) -> None:
        super().setup()
        settings = self.runtime.settings
        self._types: dict[str, str] | None = None
        self._attribute_mapping = {
            source: target.upper()
            for source, target in settings.property_mapping.items()
            if target.lower() not in ("email", "ext_id")
        }
        # encoded import rows by contact identity: a full import body is sent at once
        self._batch: KeyedBatch[bytes] = KeyedBatch(max_rows=settings.import_max_rows,
                                                    max_bytes=settings.import_max_bytes, envelope_bytes=ENVELOPE_BYTES)

    def attribute_types(self) -> dict[str, str]:
        if self._types is None:
            self._types = self.runtime.attributes.ensure(self._attribute_mapping, self.schema)
        return self._types

    def prepare(self, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        settings = self.runtime.settings
        email, ext_id = self.identity(record)
        types = self.attribute_types()
        attributes: dict[str, Any] = {}
        refused: list[tuple[str, str]] = []
        for source, name in self._attribute_mapping.items():
            value = get_path(record, source)
            if value is None or value == "":
                continue
            try:
                attributes[name] = coerce_attribute(name, value, types.get(name, "text"), settings.default_region)
            except InvalidValue as exc:
                refused.append((name, _why(name, value, exc, settings.default_region)))
        if ext_id:
            attributes["EXT_ID"] = ext_id
        if not email and not ext_id and not any(name in attributes for name in PHONE_ATTRIBUTES):
            detail = "".join(f"; {why}" for _, why in refused)
            raise InvalidValue(f"no identifier: the record has no valid email, ext_id or phone{detail}")
        # The contact is still worth sending without the value Brevo cannot take: report the value.
        for name, why in refused:
            self.runtime.report.reject(self.kind, self.stream_name, self.record_key(record),
                                       f"{why}; contact sent without {name}", record,
                                       outcome=f"attribute_rejected:{name}", attribute=name)
        row: dict[str, Any] = {"attributes": attributes}
        if email:
            row["email"] = email
        return _identity_key(row), row

    def buffer(self, item: tuple[str, dict[str, Any]]) -> None:
        key, row = item
        batch = self._batch
        if key in batch:
            # one row per contact: Brevo counts repeats within an import as duplicates; later values win
            self.runtime.report.count(self.kind, "merged_duplicates")
            earlier = orjson.loads(batch.items[key])
            earlier["attributes"].update(row["attributes"])
            row = {**earlier, **{k: v for k, v in row.items() if k != "attributes"}}
        encoded = keep_encoded(row)
        size = len(encoded) + 1
        if not self._enqueue(key, encoded, size):
            self.runtime.report.reject(self.kind, self.stream_name, key, f"contact row is {size} bytes, over import_max_bytes",
                                       row)

    def _send_batch(self) -> None:
        rows = self._batch.take()
        report = self.runtime.report
        if self.runtime.settings.dry_run:
            report.count(self.kind, "would_upsert", len(rows))
            return
        list_id = self.runtime.lists.contacts_list_id()
        accepted = self.runtime.imports.send(rows, [list_id], obj=self.kind, stream=self.stream_name)
        report.count(self.kind, "upserted", accepted)


def _why(name: str, value: Any, exc: InvalidValue, region: str | None) -> str:
    shown = str(value)[:60]
    if name in PHONE_ATTRIBUTES:
        return (f"invalid phone number for {name}: {shown!r} is not a valid E.164 number "
                f"(default_region {region or 'not set'})")
    return f"invalid value for {name}: {exc}"


def _identity_key(row: dict[str, Any]) -> str:
    attributes = row.get("attributes") or {}
    if row.get("email"):
        return "e:" + row["email"]
    if attributes.get("EXT_ID"):
        return "x:" + str(attributes["EXT_ID"])
    return "p:" + str(next(attributes[name] for name in PHONE_ATTRIBUTES if name in attributes))
