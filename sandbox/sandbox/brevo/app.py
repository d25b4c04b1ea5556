"""The Brevo emulator: the /v3 request pipeline, its settings and its admin inspection routes.

Every /v3 request goes: api-key check (401) -> rate limit of its scope (429) -> body size cap
(400 out_of_range) -> JSON parse and OpenAPI validation (400) -> handler. Every response carries
the scope's x-sib-ratelimit-* headers.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.brevo import ratelimit
from sandbox.brevo.admin import admin_routes
from sandbox.brevo.api import OPERATIONS, Call
from sandbox.brevo.errors import BrevoError, out_of_range
from sandbox.brevo.imports import ImportWorker
from sandbox.brevo.store import Store
from sandbox.brevo.validation import check_request

log = logging.getLogger("sandbox.brevo")

PREFIX = "/v3"
DEFAULTS: dict[str, Any] = {
    "import_delay_seconds": 0.5,
    "plan": "general",
    "rate_limit_window_scale": 1.0,
    "rate_limits_enabled": True,
    "ecommerce_active": True,
}
UNAUTHORIZED = {"code": "unauthorized", "message": "Key not found"}
TOO_MANY = {"code": "too_many_requests", "message": "Too many requests"}
BAD_JSON = "Input must be a valid JSON object"
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"expected a boolean, got {value!r}")


def _number(minimum: float, strictly: bool = False):
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        number = float(value)
        if number < minimum or (strictly and number == minimum):
            raise ValueError(f"expected a number {'>' if strictly else '>='} {minimum}, got {value!r}")
        return number

    return parse


def _plan(value: Any) -> str:
    if value not in ratelimit.PLANS:
        raise ValueError(f"plan must be one of {', '.join(ratelimit.PLANS)}")
    return value


PARSERS = {
    "import_delay_seconds": _number(0),
    "plan": _plan,
    "rate_limit_window_scale": _number(0, strictly=True),
    "rate_limits_enabled": _bool,
    "ecommerce_active": _bool,
}


def _json(status: int, body: Any, headers: dict[str, str]) -> Response:
    if body is None:
        return Response(status_code=status, headers=headers)
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


class BrevoEmulator:
    name = "brevo"

    def __init__(self, settings: Any) -> None:
        self.api_key: str = settings.brevo_api_key
        self.store = Store(settings.data_dir / "brevo.sqlite3")
        self.limiter = ratelimit.RateLimiter()
        self._startup = dict(settings.options.get("brevo", {}))
        self._config: dict[str, Any] = {}
        self._config_lock = threading.Lock()
        self._apply_config({**DEFAULTS, **self._startup})
        self.worker = ImportWorker(self.store)
        self.worker.start()
        # openapi-core takes ~0.4 s to import: warm it up while the servers start.
        threading.Thread(target=check_request, args=("GET", "/v3/contacts", [], None), daemon=True).start()
        self.app = Starlette(routes=self._routes())

    # ------------------------------------------------------------ Emulator protocol

    def services(self) -> dict[str, Any]:
        return {"brevo": self.app}

    def reset(self) -> None:
        self.store.reset()
        self.limiter.clear()
        self._apply_config({**DEFAULTS, **self._startup})

    def seed(self, params: dict[str, Any]) -> dict[str, Any]:
        from sandbox.brevo.seed import seed

        return seed(self.store, params)

    def config(self) -> dict[str, Any]:
        with self._config_lock:
            return dict(self._config)

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        unknown = set(changes) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown Brevo settings: {', '.join(sorted(unknown))} (known: {', '.join(DEFAULTS)})")
        self._apply_config({**self.config(), **changes})
        return self.config()

    def admin_routes(self) -> list[BaseRoute]:
        return admin_routes(self)

    def close(self) -> None:
        self.worker.stop()
        self.worker.join(timeout=5)
        self.store.close()

    def _apply_config(self, values: dict[str, Any]) -> None:
        unknown = set(values) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown Brevo settings: {', '.join(sorted(unknown))} (known: {', '.join(DEFAULTS)})")
        parsed = {key: PARSERS[key](value) for key, value in values.items()}
        with self._config_lock:
            self._config = parsed
        self.limiter.plan = parsed["plan"]
        self.limiter.window_scale = parsed["rate_limit_window_scale"]
        self.limiter.enabled = parsed["rate_limits_enabled"]

    # ------------------------------------------------------------ /v3 pipeline

    def _routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route(PREFIX + path, self._endpoint, methods=list(methods)) for path, methods in OPERATIONS.items()
        ]
        routes.append(Route(PREFIX + "/{rest:path}", self._unknown, methods=ALL_METHODS))
        return routes

    def _authorised(self, request: Request) -> bool:
        key = request.headers.get("api-key")
        if key is None:
            auth = request.headers.get("authorization", "")
            key = auth[7:] if auth.lower().startswith("bearer ") else None
        return key == self.api_key

    def _gate(self, request: Request, path: str) -> tuple[Response | None, dict[str, str]]:
        """Auth then rate limit: (an error response or None, the rate-limit headers)."""
        scope = ratelimit.scope_of(request.method, path)
        if not self._authorised(request):
            _, headers = self.limiter.hit(scope, consume=False)
            return _json(401, UNAUTHORIZED, headers), headers
        allowed, headers = self.limiter.hit(scope)
        if not allowed:
            return _json(429, TOO_MANY, headers), headers
        return None, headers

    async def _endpoint(self, request: Request) -> Response:
        template = request.scope["route"].path[len(PREFIX) :]
        path = request.url.path[len(PREFIX) :]
        denied, headers = self._gate(request, path)
        if denied is not None:
            return denied
        operation = OPERATIONS[template][request.method]
        raw = await request.body()
        try:
            status, body = await run_in_threadpool(self._handle, request, operation, raw)
        except BrevoError as exc:
            status, body = exc.status, exc.body()
        except Exception:
            log.exception("Brevo emulator failed on %s %s", request.method, request.url.path)
            status, body = 500, {"code": "internal_error", "message": "Internal server error"}
        return _json(status, body, headers)

    def _handle(self, request: Request, operation: Any, raw: bytes) -> tuple[int, Any]:
        if operation.max_bytes is not None and len(raw) > operation.max_bytes:
            raise out_of_range(operation.too_large)
        body = None
        if raw:
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
        return operation.handler(Call(self, dict(request.path_params), query, body))

    async def _unknown(self, request: Request) -> Response:
        path = "/" + request.path_params["rest"]
        denied, headers = self._gate(request, path)
        if denied is not None:
            return denied
        for route in self.app.routes[:-1]:
            if isinstance(route, Route) and route.path_regex.match(request.url.path):
                message = f"{request.method} Method is not allowed on this path"
                return _json(405, {"code": "method_not_allowed", "message": message}, headers)
        return _json(404, {"code": "document_not_found", "message": f"Invalid route: {request.method} {PREFIX}{path}"}, headers)
