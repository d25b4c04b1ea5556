"""meltano.yml as `meltano --environment=NAME` reads it, for the demo, the tests and the benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent


def plugin_config(kind: str, name: str, environment: str, project_file: Path = REPO / "meltano.yml") -> dict[str, Any]:
    """A plugin's own config (not what it inherits) with the environment's values over the base config's;
    object values merge key by key, as Meltano merges object settings."""
    project = yaml.safe_load(project_file.read_text())
    base = next(p for p in project["plugins"][kind] if p["name"] == name).get("config", {})
    env = next(e for e in project["environments"] if e["name"] == environment)
    overrides = next((p for p in env["config"]["plugins"].get(kind, []) if p["name"] == name), {})
    return merged(base, overrides.get("config", {}))


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
