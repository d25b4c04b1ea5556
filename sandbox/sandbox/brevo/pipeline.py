"""The /v3 request pipeline every Brevo operation goes through.

api-key check (401) -> rate limit of its scope (429) -> body size cap (400 out_of_range) -> JSON
(or multipart/form-data) parse and OpenAPI validation (400) -> handler. Every response carries
the scope's x-sib-ratelimit-* headers; an unknown path answers 404, a known path with another
method 405.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.brevo import ratelimit
from sandbox.brevo.account import Account
from sandbox.brevo.api import Call, Reply
from sandbox.brevo.errors import BrevoError, out_of_range
from sandbox.brevo.routes import Operation
from sandbox.brevo.validation import check_request

log = logging.getLogger("sandbox.brevo")

PREFIX = "/v3"
UNAUTHORIZED = {"code": "unauthorized", "message": "Key not found"}
TOO_MANY = {"code": "too_many_requests", "message": "Too many requests"}
BAD_JSON = "Input must be a valid JSON object"
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
MAX_FORM_PART = 64 * 1024 * 1024  # Starlette's 1 MB default would refuse a CSV sent as a plain field
Endpoint = Callable[[Request], Awaitable[Response]]


def v3_routes(account: Account, operations: dict[str, dict[str, Operation]]) -> list[BaseRoute]:
    """One route per path of `operations` (relative to /v3), then a catch-all for 404 and 405."""
    known: list[Route] = [
        Route(PREFIX + path, _operation_endpoint(account, by_method), methods=list(by_method))
        for path, by_method in operations.items()
    ]
    return [*known, Route(PREFIX + "/{rest:path}", _unknown_endpoint(account, known), methods=ALL_METHODS)]


def _json(status: int, body: Any, headers: dict[str, str]) -> Response:
    if body is None:
        return Response(status_code=status, headers=headers)
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


def _authorised(account: Account, request: Request) -> bool:
    key = request.headers.get("api-key")
    if key is None:
        auth = request.headers.get("authorization", "")
        key = auth[7:] if auth.lower().startswith("bearer ") else None
    return key == account.api_key


def _gate(account: Account, request: Request, path: str) -> tuple[Response | None, dict[str, str]]:
    """Auth then rate limit: (an error response or None, the rate-limit headers)."""
    scope = ratelimit.scope_of(request.method, path)
    if not _authorised(account, request):
        _, headers = account.limiter.hit(scope, consume=False)
        return _json(401, UNAUTHORIZED, headers), headers
    allowed, headers = account.limiter.hit(scope)
    if not allowed:
        return _json(429, TOO_MANY, headers), headers
    return None, headers


def _operation_endpoint(account: Account, by_method: dict[str, Operation]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        denied, headers = _gate(account, request, request.url.path[len(PREFIX) :])
        if denied is not None:
            return denied
        operation = by_method[request.method]
        raw = await request.body()
        try:
            form = await _form_fields(request) if operation.multipart else None
            status, body = await run_in_threadpool(_handle, account, request, operation, raw, form)
        except BrevoError as exc:
            status, body = exc.status, exc.body()
        except Exception:
            log.exception("Brevo emulator failed on %s %s", request.method, request.url.path)
            status, body = 500, {"code": "internal_error", "message": "Internal server error"}
        return _json(status, body, headers)

    return endpoint


async def _form_fields(request: Request) -> dict[str, bytes] | None:
    """A multipart/form-data body's fields (files read whole), or None if it has another content type
    (the spec validation then names the expected one)."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return None
    try:
        form = await request.form(max_part_size=MAX_FORM_PART)
    except (HTTPException, MultiPartException):
        raise BrevoError(400, "invalid_parameter", "The body is not valid multipart/form-data") from None
    fields = {}
    for name, value in form.multi_items():
        fields[name] = value.encode() if isinstance(value, str) else await value.read()
    return fields


def _handle(
    account: Account, request: Request, operation: Operation, raw: bytes, form: dict[str, bytes] | None = None
) -> Reply:
    if operation.max_bytes is not None and len(raw) > operation.max_bytes:
        raise out_of_range(operation.too_large)
    body = None
    if operation.multipart:
        body = form
    elif raw:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BrevoError(400, "invalid_parameter", BAD_JSON) from None
    query: dict[str, Any] = dict(request.query_params)
    if operation.validate:
        params = check_request(
            request.method,
            request.url.path,
            list(request.query_params.multi_items()),
            raw or None,
            request.headers.get("content-type", "application/json"),
        )
        query = params["query"]
    if operation.multipart and body is None:
        raise BrevoError(400, "invalid_parameter", "The body must be multipart/form-data")
    call = Call(account, dict(request.path_params), query, body, list(request.query_params.multi_items()))
    return operation.handler(call)


def _unknown_endpoint(account: Account, known: list[Route]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        path = "/" + request.path_params["rest"]
        denied, headers = _gate(account, request, path)
        if denied is not None:
            return denied
        if any(route.path_regex.match(request.url.path) for route in known):
            message = f"{request.method} Method is not allowed on this path"
            return _json(405, {"code": "method_not_allowed", "message": message}, headers)
        message = f"Invalid route: {request.method} {PREFIX}{path}"
        return _json(404, {"code": "document_not_found", "message": message}, headers)

    return endpoint
