"""Record validation against the stream schema with fastjsonschema (compiled once per schema).

The SDK's default validator (jsonschema) took half to three quarters of a target's CPU per record; the
compiled validator checks the same schema (formats not checked, as the SDK does by default) and
never writes defaults into the record. A schema fastjsonschema cannot compile falls back to the SDK's.
"""

from __future__ import annotations

from typing import Any

import fastjsonschema
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks.core import BaseJSONSchemaValidator, JSONSchemaValidator


class CompiledValidator(BaseJSONSchemaValidator):
    """Validates records against the stream schema, compiled once by fastjsonschema."""

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
