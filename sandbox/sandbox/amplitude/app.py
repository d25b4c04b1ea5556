"""The Amplitude emulator: two projects (US, EU data centers), four services, admin routes."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from sandbox.amplitude import config
from sandbox.amplitude.cohorts import S3_PREFIX, cohort_routes
from sandbox.amplitude.export import export_routes, parse_hour
from sandbox.amplitude.ingest import ingest_routes
from sandbox.amplitude.limits import ConcurrencyLimit
from sandbox.amplitude.project import Project
from sandbox.amplitude.users import user_routes
from sandbox.amplitude.wire import json_response

REGIONS = ("us", "eu")


async def _invalid_path(request: Request, exc: Exception) -> Response:
    return json_response({"code": 400, "error": "Invalid request path"}, 400)


class AmplitudeEmulator:
    name = "amplitude"

    def __init__(self, settings: Any) -> None:
        data_dir = settings.data_dir
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sandbox-amplitude-")
            data_dir = Path(self._tmp.name)
        self.data_dir = Path(data_dir) / "amplitude"
        self._start_options = config.validated(config.DEFAULTS, (settings.options or {}).get("amplitude", {}))
        self._settings = dict(self._start_options)
        self._lock = threading.Lock()
        self.projects = {
            region: Project(
                region,
                self.data_dir / f"{region}.sqlite3",
                self.config,
                settings.amplitude_api_key,
                settings.amplitude_secret_key,
            )
            for region in REGIONS
        }
        self.apps: dict[str, ASGIApp] = {}
        for region in REGIONS:
            project = self.projects[region]
            suffix = "_eu" if region == "eu" else ""
            api = Starlette(routes=[*export_routes(project), *cohort_routes(project), *user_routes(project)])
            ingest = Starlette(routes=ingest_routes(project), exception_handlers={404: _invalid_path})
            self.apps[f"amplitude_api{suffix}"] = ConcurrencyLimit(
                api, project.gate, S3_PREFIX, lambda: self.config()["api_delay_ms"] / 1000
            )
            self.apps[f"amplitude_ingest{suffix}"] = ingest

    # -- Emulator protocol -------------------------------------------------------------------

    def services(self) -> dict[str, ASGIApp]:
        return dict(self.apps)

    def reset(self) -> None:
        with self._lock:
            self._settings = dict(self._start_options)
        for project in self.projects.values():
            project.reset()

    def seed(self, params: dict[str, Any]) -> dict[str, Any]:
        from sandbox import seed

        return seed.seed_in_process(self, params)

    def config(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._settings)

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._settings = config.validated(self._settings, changes)
            return dict(self._settings)

    def admin_routes(self) -> list[BaseRoute]:
        async def stats(request: Request) -> Response:
            return json_response({region: p.store.counts() for region, p in self.projects.items()})

        async def corrupt_gzip(request: Request) -> Response:
            if request.method == "POST":
                try:
                    body = await request.json()
                    hour = parse_hour(body.get("hour"))
                    project = self.projects[body.get("region", "us")]
                    count = int(body.get("count", 1))
                except (ValueError, KeyError, AttributeError, TypeError):
                    hour = None
                if hour is None or count < 1:
                    return json_response(
                        {"error": 'expected {"hour": "YYYYMMDDTHH", "region": "us"|"eu", "count": n >= 1}'}, 400
                    )
                with project._fault_lock:
                    project.corrupt_gzip[hour] = project.corrupt_gzip.get(hour, 0) + count
                return json_response(
                    {"hour": body["hour"], "region": project.region, "count": project.corrupt_gzip[hour]}, 201
                )
            if request.method == "DELETE":
                for project in self.projects.values():
                    with project._fault_lock:
                        project.corrupt_gzip.clear()
                return Response(status_code=204)
            return json_response(
                {region: {str(h): n for h, n in p.corrupt_gzip.items()} for region, p in self.projects.items()}
            )

        return [
            Route("/stats", stats, methods=["GET"]),
            Route("/corrupt-gzip", corrupt_gzip, methods=["GET", "POST", "DELETE"]),
        ]

    def close(self) -> None:
        for project in self.projects.values():
            project.store.close()
