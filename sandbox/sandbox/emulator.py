"""What the server needs from each emulator (Amplitude, Brevo)."""

from __future__ import annotations

from typing import Any, Protocol

from starlette.routing import BaseRoute
from starlette.types import ASGIApp


class Emulator(Protocol):
    """An emulated vendor: one or more services (one port each) over a shared store."""

    name: str

    def services(self) -> dict[str, ASGIApp]:
        """Service name -> ASGI app, e.g. {"brevo": app}. Each service gets its own port."""

    def reset(self) -> None:
        """Forget all data and restore the default configuration."""

    def seed(self, params: dict[str, Any]) -> dict[str, Any]:
        """Load seed data; returns a summary of what was created."""

    def config(self) -> dict[str, Any]:
        """The current emulator settings (latencies, limits, plans...)."""

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change settings at run time; returns the new settings. Raises ValueError on bad input."""

    def admin_routes(self) -> list[BaseRoute]:
        """Extra inspection routes, mounted under /_sandbox/<name>/."""
