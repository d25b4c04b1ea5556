"""Request validation against the served OpenAPI spec (openapi-core), as Brevo's 400 bodies.

`check_request` returns the typed query and path parameters (defaults applied) or raises a
`BrevoError`: `missing_parameter` for an absent required field, `out_of_range` for a bound
(maximum, maxItems...), `invalid_parameter` for anything else.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from sandbox.brevo.errors import BrevoError
from sandbox.brevo.spec import load_spec, openapi

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

# openapi-core and jsonschema are imported on first use: they take ~0.4 s, which the emulator
# spends in a warm-up thread while the servers start.
HOST = "https://api.brevo.com"
# Formats of the spec openapi-core does not know and so refuses to unmarshal (its issue #515):
# plain strings (GET /companies?linkedDealsIds is an `objectID`).
UNKNOWN_FORMATS = {"objectID": str}
RANGE_KEYWORDS = {
    "maximum",
    "minimum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "maxItems",
    "minItems",
    "maxLength",
    "minLength",
    "maxProperties",
    "minProperties",
}


def _describe(error: ValidationError) -> tuple[str, str]:
    """(Brevo code, message) for one jsonschema error."""
    from jsonschema.exceptions import best_match

    if error.context:
        error = best_match(error.context) or error
    where = ".".join(str(p) for p in error.absolute_path)
    message = f"{where}: {error.message}" if where else error.message
    if error.validator == "required":
        return "missing_parameter", message
    if error.validator in RANGE_KEYWORDS:
        return "out_of_range", message
    return "invalid_parameter", message


def _as_brevo_error(exc: Exception) -> BrevoError:
    cause = exc.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if schema_errors:
        code, message = _describe(next(iter(schema_errors)))
        name = getattr(exc, "name", None)
        if name:
            message = f"{name}: {message}"
        return BrevoError(400, code, message)
    kind = type(exc).__name__
    name = getattr(exc, "name", None) or getattr(cause, "name", None)
    if "Missing" in kind or "Missing" in type(cause).__name__:
        return BrevoError(400, "missing_parameter", f"{name or 'request body'} is required")
    if name:
        return BrevoError(400, "invalid_parameter", f"Invalid value for parameter {name}")
    return BrevoError(400, "invalid_parameter", str(exc) or "Invalid request")


def check_request(
    method: str,
    path: str,
    query: list[tuple[str, str]],
    body: bytes | None,
    content_type: str = "application/json",
) -> dict[str, Any]:
    """Validate one /v3 request; returns {"query": {...}, "path": {...}} typed by the spec."""
    from openapi_core.testing import MockRequest
    from werkzeug.datastructures import ImmutableMultiDict

    request = MockRequest(
        HOST,
        method.lower(),
        path,
        args=ImmutableMultiDict(query),  # type: ignore[arg-type]
        headers={"api-key": "checked-before-validation"},
        data=body,
        content_type=content_type,
    )
    # Unmarshalling a whole body is ~50x slower than validating it: unmarshal only the parameters
    # (typed, with defaults), validate the rest.
    result = _parameters_unmarshaller().unmarshal(request)
    if result.errors:
        raise _as_brevo_error(result.errors[0])
    from openapi_core.exceptions import OpenAPIError

    try:
        openapi().validate_request(request)
    except OpenAPIError as exc:
        raise _as_brevo_error(exc) from None
    return {"query": dict(result.parameters.query), "path": dict(result.parameters.path)}


@cache
def _parameters_unmarshaller() -> Any:
    from openapi_core.unmarshalling.request.unmarshallers import V30RequestParametersUnmarshaller

    return V30RequestParametersUnmarshaller(openapi().spec, extra_format_unmarshallers=UNKNOWN_FORMATS)


@cache
def _event_validator() -> Any:
    from openapi_schema_validator import OAS30Validator, oas30_format_checker

    return OAS30Validator(load_spec()["components"]["schemas"]["sandboxEvent"], format_checker=oas30_format_checker)


def event_schema_errors(event: Any) -> list[str]:
    """Messages for one /events/batch item checked against the /events body schema.

    The widened `event_properties` schema accepts any JSON value but null, and checking each
    property against its six-way anyOf costs more than the rest of a 200-event batch: that one
    rule is checked here directly, the rest of the event by the schema.
    """
    if isinstance(event, dict) and isinstance(event.get("event_properties"), dict):
        nulls = [key for key, value in event["event_properties"].items() if value is None]
        if nulls:
            return [f"event_properties.{nulls[0]}: None is not valid under any of the given schemas"]
        event = {**event, "event_properties": {}}
    return [_describe(e)[1] for e in _event_validator().iter_errors(event)]
