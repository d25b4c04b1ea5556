"""Amplitude emulator (placeholder until its issue lands: every route answers 404)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette


class _Placeholder:
    name = "amplitude"

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def services(self):
        names = {"amplitude": ["amplitude_api", "amplitude_api_eu", "amplitude_ingest", "amplitude_ingest_eu"], "brevo": ["brevo"]}
        return {n: Starlette() for n in names[self.name]}

    def reset(self) -> None: ...
    def seed(self, params): return {}
    def config(self): return {}
    def configure(self, changes): return {}
    def admin_routes(self): return []


def create(settings: Any) -> _Placeholder:
    return _Placeholder(settings)
