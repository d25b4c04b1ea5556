"""The Brevo emulator assembled: the account, the /v3 routes through the pipeline, the admin routes."""

from __future__ import annotations

import threading
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from sandbox.brevo import admin, simulation_admin
from sandbox.brevo.account import Account
from sandbox.brevo.pipeline import v3_routes
from sandbox.brevo.routes import ADMIN_OPERATIONS, OPERATIONS, SIMULATION_ADMIN_OPERATIONS
from sandbox.brevo.seed import seed
from sandbox.brevo.validation import check_request


class BrevoEmulator:
    """The Brevo side of the sandbox (the `Emulator` protocol): one service, `brevo`, over one account."""

    name = "brevo"

    def __init__(self, settings: Any) -> None:
        self.account = Account(
            settings.brevo_api_key,
            settings.data_dir / "brevo.sqlite3",
            settings.options.get("brevo", {}),
            getattr(settings, "faults", None),
        )
        # openapi-core takes ~0.4 s to import: warm it up while the servers start.
        threading.Thread(target=check_request, args=("GET", "/v3/contacts", [], None), daemon=True).start()
        self.app = Starlette(routes=v3_routes(self.account, OPERATIONS))

    def services(self) -> dict[str, ASGIApp]:
        return {"brevo": self.app}

    def reset(self) -> None:
        self.account.reset()

    def seed(self, params: dict[str, Any]) -> dict[str, Any]:
        return seed(self.account.store, params)

    def config(self) -> dict[str, Any]:
        return self.account.config()

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        return self.account.configure(changes)

    def admin_routes(self) -> list[BaseRoute]:
        return [
            Route(path, admin.endpoint(self.account, by_method), methods=list(by_method))
            for path, by_method in ADMIN_OPERATIONS.items()
        ] + [
            Route(path, simulation_admin.endpoint(self.account, by_method), methods=list(by_method))
            for path, by_method in SIMULATION_ADMIN_OPERATIONS.items()
        ]

    def close(self) -> None:
        self.account.close()
