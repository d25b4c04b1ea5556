"""The delivered-state file: the last STATE this target emitted, for a tap that prunes what it covers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from target_common.files import write_atomically


def acknowledge(path: Path, state: dict[str, Any]) -> None:
    """Replace `path` with `state` in one step: a reader sees the old STATE or the new, never a part."""
    write_atomically(path, orjson.dumps(state) + b"\n")
