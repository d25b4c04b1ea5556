"""The Amplitude emulator assembled: the organization, each data center's API and ingestion services, the admin routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from sandbox.amplitude.cohorts import S3_PREFIX
from sandbox.amplitude.limits import ConcurrencyLimit
from sandbox.amplitude.organization import Organization
from sandbox.amplitude.routes import (
    ADMIN_OPERATIONS,
    API_OPERATIONS,
    INGEST_OPERATIONS,
    WEBHOOK_ADMIN_OPERATIONS,
    Handler,
)
from sandbox.amplitude.seed import seed_in_process
from sandbox.amplitude.webhooks import Webhooks
from sandbox.amplitude.wire import json_response


class AmplitudeEmulator:
    """The Amplitude side of the sandbox (the `Emulator` protocol): API and ingestion services per data center."""

    name = "amplitude"

    def __init__(self, settings: Any) -> None:
        options = (settings.options or {}).get("amplitude", {})
        us_keys = (settings.amplitude_api_key, settings.amplitude_secret_key)
        eu_keys = (settings.amplitude_eu_api_key or us_keys[0], settings.amplitude_eu_secret_key or us_keys[1])
        self.organization = Organization(settings.data_dir, options, {"us": us_keys, "eu": eu_keys})
        self.webhooks = Webhooks(self.organization.projects, settings.faults)
        self.apps: dict[str, ASGIApp] = {}
        for region, project in self.organization.projects.items():
            suffix = "_eu" if region == "eu" else ""
            api = Starlette(routes=_routes(API_OPERATIONS, project))
            self.apps[f"amplitude_api{suffix}"] = ConcurrencyLimit(
                api, project.gate, S3_PREFIX, lambda: self.config()["api_delay_ms"] / 1000
            )
            ingest = Starlette(routes=_routes(INGEST_OPERATIONS, project), exception_handlers={404: _invalid_path})
            ingest.state.on_accepted = self.webhooks.on_accepted  # see ingest.announce_accepted
            self.apps[f"amplitude_ingest{suffix}"] = ingest

    def services(self) -> dict[str, ASGIApp]:
        return dict(self.apps)

    def reset(self) -> None:
        self.webhooks.reset()
        self.organization.reset()

    def seed(self, params: dict[str, Any]) -> dict[str, Any]:
        return seed_in_process(params, self.organization.projects, self.apps)

    def config(self) -> dict[str, Any]:
        return self.organization.config()

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        return self.organization.configure(changes)

    def admin_routes(self) -> list[BaseRoute]:
        return _routes(ADMIN_OPERATIONS, self.organization) + _routes(WEBHOOK_ADMIN_OPERATIONS, self.webhooks)

    def close(self) -> None:
        self.webhooks.close()
        self.organization.close()


def _routes(operations: dict[str, dict[str, Handler]], state: Any) -> list[BaseRoute]:
    """One route per path of an operations table, its handlers called with `state`."""
    return [Route(path, _endpoint(by_method, state), methods=list(by_method)) for path, by_method in operations.items()]


def _endpoint(by_method: dict[str, Handler], state: Any) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        handler = by_method.get(request.method) or by_method["GET"]  # Starlette routes HEAD to GET
        return await handler(state, request)

    return endpoint


async def _invalid_path(request: Request, exc: Exception) -> Response:
    return json_response({"code": 400, "error": "Invalid request path"}, 400)
