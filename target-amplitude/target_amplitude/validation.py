"""Records checked against their stream schema by fastjsonschema, compiled once per schema: the SDK's default
(jsonschema) took three quarters of the target's time per record. Formats are not checked (as the SDK's default
does not), defaults are never written into the record, and a schema fastjsonschema cannot compile is checked by
the SDK's validator instead."""

from __future__ import annotations

from typing import Any

import fastjsonschema
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks.core import BaseJSONSchemaValidator, JSONSchemaValidator


class CompiledValidator(BaseJSONSchemaValidator):
    def __init__(self, schema: dict[str, Any]) -> None:
        super().__init__(schema)
        self._validate = fastjsonschema.compile(schema, use_default=False, use_formats=False)

    def validate(self, record: dict[str, Any]) -> None:
        try:
            self._validate(record)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise InvalidRecord(exc.message, record) from exc


def validator_for(schema: dict[str, Any]) -> BaseJSONSchemaValidator:
    try:
        return CompiledValidator(schema)
    except fastjsonschema.JsonSchemaDefinitionException:
        return JSONSchemaValidator(schema)
