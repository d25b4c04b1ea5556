"""The emulated Amplitude organization: what the admin routes and the seeder act on."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

from sandbox.amplitude import config
from sandbox.amplitude.project import Project

REGIONS = ("us", "eu")


class Organization:
    """One project per data center (its own keys and store) and the settings they share."""

    def __init__(self, data_dir: Path | None, options: dict[str, Any], keys: dict[str, tuple[str, str]]) -> None:
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sandbox-amplitude-")
            data_dir = Path(self._tmp.name)
        self.data_dir = Path(data_dir) / "amplitude"
        self._start_options = config.validated(config.DEFAULTS, options)
        self._settings = dict(self._start_options)
        self._lock = threading.Lock()
        self.projects = {
            region: Project(region, self.data_dir / f"{region}.sqlite3", self.config, *keys[region])
            for region in REGIONS
        }

    def config(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._settings)

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._settings = config.validated(self._settings, changes)
            return dict(self._settings)

    def reset(self) -> None:
        """Empty every project and restore the start-up settings."""
        with self._lock:
            self._settings = dict(self._start_options)
        for project in self.projects.values():
            project.reset()

    def close(self) -> None:
        for project in self.projects.values():
            project.store.close()
