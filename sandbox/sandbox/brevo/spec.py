"""Brevo's OpenAPI spec as the emulator serves it: the vendored file, pruned and overlaid.

`openapi.yaml` is Brevo's official spec (3.0.1, Feb 2026 snapshot), vendored unchanged. At load
time we keep only the paths the emulator serves and apply `OVERLAY` for what is newer than the
spec or where its schema contradicts its own text and the docs (see the reference's "Newer than
SPEC" section). Parsing 1 MB of YAML takes ~0.5 s, so the result is cached as JSON, keyed by a
hash of the spec, the served paths and the overlay.
"""

from __future__ import annotations

import copy
import hashlib
import os
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import yaml

SPEC_FILE = Path(__file__).with_name("openapi.yaml")
OVERLAY_VERSION = "5"  # bump when the overlay changes (invalidates caches)

SERVED_PATHS = (
    "/account",
    "/contacts",
    "/contacts/{identifier}",
    "/contacts/import",
    "/contacts/batch",
    "/contacts/attributes",
    "/contacts/attributes/{attributeCategory}/{attributeName}",
    "/contacts/folders",
    "/contacts/folders/{folderId}",
    "/contacts/folders/{folderId}/lists",
    "/contacts/lists",
    "/contacts/lists/{listId}",
    "/contacts/lists/{listId}/contacts",
    "/contacts/lists/{listId}/contacts/add",
    "/contacts/lists/{listId}/contacts/remove",
    "/processes",
    "/processes/{processId}",
    "/companies",
    "/companies/import",
    "/companies/link-unlink/{id}",
    "/companies/{id}",
    "/crm/attributes",
    "/crm/attributes/companies",
    "/events",
    "/orders/status",
    "/orders/status/batch",
    "/smtp/log/{identifier}",
    "/ecommerce/activate",
    "/ecommerce/config/displayCurrency",
    "/webhooks",
    "/webhooks/{webhookId}",
    "/smtp/statistics/events",
)

COMPANY_IMPORT_PROCESS = "COMPANY_IMPORT"  # a chosen name: the spec names no company import process
_ERROR_MODEL = {"$ref": "#/components/schemas/errorModel"}
_JSON_ERROR = {"content": {"application/json": {"schema": _ERROR_MODEL}}}

# One event of POST /events/batch, validated per item (so one bad event fails only its index).
BATCH_EVENTS_RESPONSE = {
    "type": "object",
    "required": ["status", "total_events", "successful_events", "failed_events", "errors"],
    "properties": {
        "status": {"type": "string"},
        "total_events": {"type": "integer"},
        "successful_events": {"type": "integer"},
        "failed_events": {"type": "integer"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["eventIndex", "message"],
                "properties": {
                    "eventIndex": {"type": "array", "items": {"type": "integer"}},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


def _apply_overlay(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    schemas = spec["components"]["schemas"]

    # event_properties: the text (and the docs) allow numbers and booleans; the schema forgets them.
    event_body = paths["/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    event_body["properties"]["event_properties"]["additionalProperties"]["anyOf"] += [
        {"type": "number"},
        {"type": "boolean"},
    ]
    schemas["sandboxEvent"] = event_body
    paths["/events"]["post"]["requestBody"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/sandboxEvent"
    }
    schemas["batchEventsResponse"] = BATCH_EVENTS_RESPONSE

    # POST /events/batch (2026-03-03). Items are checked one by one against sandboxEvent.
    paths["/events/batch"] = {
        "post": {
            "operationId": "createBatchEvents",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["events"],
                            "properties": {"events": {"type": "array", "items": {"type": "object"}}},
                        }
                    }
                },
            },
            "responses": {
                "202": {
                    "description": "Batch accepted",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["message", "count"],
                                "properties": {"message": {"type": "string"}, "count": {"type": "integer"}},
                            }
                        }
                    },
                },
                "207": {
                    "description": "Some events failed",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/batchEventsResponse"}}},
                },
                "400": {
                    "description": "Every event failed, or the batch is too large",
                    "content": {
                        "application/json": {
                            "schema": {"anyOf": [{"$ref": "#/components/schemas/batchEventsResponse"}, _ERROR_MODEL]}
                        }
                    },
                },
            },
        }
    }

    # forceMerge / getId on contact create (and forceMerge on update), brevo-python 5.1.0.
    def body_props(path: str, method: str) -> dict[str, Any]:
        return paths[path][method]["requestBody"]["content"]["application/json"]["schema"]["properties"]

    body_props("/contacts", "post").update(forceMerge={"type": "boolean"}, getId={"type": "boolean"})
    body_props("/contacts/{identifier}", "put").update(forceMerge={"type": "boolean"})
    body_props("/contacts/import", "post").update(
        consentGroupIds={"type": "array", "items": {"type": "integer", "format": "int64"}}
    )

    # Order products: quantity or quantityFloat, exactly one (checked in code).
    product = schemas["order"]["properties"]["products"]["items"]
    product["properties"]["quantityFloat"] = {"type": "number"}
    product["required"] = ["productId", "price"]

    # List add/remove: each oneOf branch names no required key, so every body would match every
    # branch and oneOf would always fail. Require the branch's key.
    for suffix in ("add", "remove"):
        body = paths[f"/contacts/lists/{{listId}}/contacts/{suffix}"]["post"]["requestBody"]
        for branch in body["content"]["application/json"]["schema"]["oneOf"]:
            branch["required"] = list(branch["properties"])
            branch["additionalProperties"] = False

    # postContactInfo: an empty array matches both oneOf branches, and extIds are not emails.
    info = schemas["postContactInfo"]["properties"]["contacts"]["properties"]
    for key in ("success", "failure"):
        info[key] = {
            "anyOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "array", "items": {"type": "integer", "format": "int64"}},
            ]
        }

    # POST /companies/import answers a processId, and /processes is the only API for processes,
    # but its name enum has no company import: the sandbox's name for one (a chosen name).
    process_schema = paths["/processes/{processId}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    listing_schema = paths["/processes"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    for schema in (process_schema, listing_schema["properties"]["processes"]["items"]):
        schema["properties"]["name"]["enum"].append(COMPANY_IMPORT_PROCESS)

    # The prose documents 404 "Object does not exist"; link-unlink lists no 404 although its
    # company may not exist (GET/PATCH/DELETE /companies/{id} list it).
    paths["/companies/link-unlink/{id}"]["patch"]["responses"]["404"] = {
        "description": "Company not found",
        **_JSON_ERROR,
    }

    # GET /webhooks?type=inbound lists inbound webhooks, but the webhook schema's type enum forgets that type.
    schemas["getWebhook"]["properties"]["type"]["enum"].append("inbound")

    # The prose documents 401 and 429 for every endpoint; the sandbox's chosen 404 for the
    # removed POST /contacts/batch.
    for item in paths.values():
        for method, op in item.items():
            if method in ("get", "post", "put", "delete", "patch"):
                op["responses"].setdefault("401", {"description": "Unauthorized", **_JSON_ERROR})
                op["responses"].setdefault("429", {"description": "Too Many Requests", **_JSON_ERROR})
    paths["/contacts/batch"]["post"]["responses"]["404"] = {"description": "Removed endpoint", **_JSON_ERROR}


def _build() -> dict[str, Any]:
    full = yaml.load(SPEC_FILE.read_bytes(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    spec = {k: v for k, v in full.items() if k != "paths"}
    spec["paths"] = {p: copy.deepcopy(full["paths"][p]) for p in SERVED_PATHS}
    _apply_overlay(spec)
    return spec


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "amplitude-brevo-sandbox"


@cache
def load_spec() -> dict[str, Any]:
    """The served spec as a dict (cached on disk; parse once per process)."""
    key = SPEC_FILE.read_bytes() + OVERLAY_VERSION.encode() + "\n".join(SERVED_PATHS).encode()
    digest = hashlib.sha256(key).hexdigest()[:16]
    path = _cache_dir() / f"brevo-openapi-{digest}.json"
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        pass
    spec = _build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(orjson.dumps(spec))
        tmp.replace(path)
    except OSError:
        pass  # a read-only home only costs the parse on the next start
    return spec


@cache
def openapi() -> Any:
    """The openapi-core `OpenAPI` object for the served spec.

    The spec itself is checked once by a test (tests/sandbox/test_brevo_spec.py), not at every
    start-up, which would cost ~0.5 s.
    """
    from openapi_core import Config, OpenAPI

    return OpenAPI.from_dict(load_spec(), config=Config(spec_validator_cls=None))
