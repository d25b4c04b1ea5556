"""Helpers for tap-amplitude tests against the sandbox: seed through the ingest API at chosen sandbox times,
run the tap as a real subprocess, and read its Singer output."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

DAY = datetime(2024, 3, 2, tzinfo=UTC)
EXPORT_STREAMS = ("events", "users", "revenue")


def at(h: float, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=h)


def set_clock(sandbox, moment: datetime) -> None:
    sandbox.admin("PUT", "clock", json={"now": moment.isoformat()})


def ingest(sandbox, events: list[dict[str, Any]], *, region: str = "us", when: datetime | None = None) -> None:
    """Send events through HTTP V2; with `when`, the sandbox clock is moved there first (server_upload_time)."""
    if when is not None:
        set_clock(sandbox, when)
    host = sandbox.amplitude["ingest_eu" if region == "eu" else "ingest"]
    for start in range(0, len(events), 1000):
        response = requests.post(
            f"{host}/2/httpapi",
            json={"api_key": sandbox.amplitude["api_key"], "events": events[start : start + 1000]},
            timeout=30,
        )
        assert response.status_code == 200, response.text


def make_events(n: int, when: datetime, *, prefix: str = "e", users: int = 3, **extra: Any) -> list[dict[str, Any]]:
    ms = int(when.timestamp() * 1000)
    return [
        {
            "user_id": f"user-{i % users:04d}",
            "device_id": f"device-{i % users:04d}",
            "event_type": extra.get("event_type", "view"),
            "time": ms + i,
            "insert_id": f"{prefix}-{when:%Y%m%d%H}-{i}",
            "session_id": ms - (i % 2) * 1000,
            **{k: v for k, v in extra.items() if k != "event_type"},
        }
        for i in range(n)
    ]


def base_config(sandbox, **overrides: Any) -> dict[str, Any]:
    return {
        "api_key": sandbox.amplitude["api_key"],
        "secret_key": sandbox.amplitude["secret_key"],
        "api_url": sandbox.amplitude["api"],
        "start_date": DAY.isoformat(),
        "retry_backoff_seconds": 0.01,
        "max_retries": 3,
        "cohort_poll_interval": 0.05,
        **overrides,
    }


@dataclass
class TapRun:
    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def state(self) -> dict[str, Any] | None:
        return self.states[-1] if self.states else None


_CATALOG: dict[str, Any] = {}


def catalog(selected: tuple[str, ...] | set[str], deselected: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """The tap's discovered catalog with `selected` streams selected and the (stream, field)s of `deselected` not."""
    if not _CATALOG:
        _CATALOG.update(_discover())
    result = json.loads(json.dumps(_CATALOG))
    for entry in result["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in selected
            elif (entry["tap_stream_id"], meta["breadcrumb"][-1]) in deselected:
                meta["metadata"]["selected"] = False
    return result


def _discover() -> dict[str, Any]:
    """`--discover` with placeholder keys, its config in a directory of its own (test sessions run side by side)."""
    with tempfile.TemporaryDirectory(prefix="tap-amplitude-discover-") as workdir:
        config = Path(workdir) / "config.json"
        config.write_text(json.dumps({"api_key": "x", "secret_key": "y", "start_date": "2024-01-01T00:00:00Z"}))
        out = subprocess.run(
            [sys.executable, "-m", "tap_amplitude", "--config", str(config), "--discover"],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(out.stdout)


def run_tap(
    tmp_path: Path,
    config: dict[str, Any],
    *,
    streams: tuple[str, ...] = ("events",),
    state: dict[str, Any] | None = None,
    timeout: float = 120,
    deselected: tuple[tuple[str, str], ...] = (),
) -> TapRun:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(catalog(streams, deselected)))
    args = [sys.executable, "-m", "tap_amplitude", "--config", str(config_file), "--catalog", str(catalog_file)]
    if state is not None:
        state_file = tmp_path / "state.json"
        state_file.write_text(json.dumps(state))
        args += ["--state", str(state_file)]
    done = subprocess.run(args, check=False, capture_output=True, text=True, timeout=timeout)
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return TapRun(done.returncode, done.stdout, done.stderr, messages)


def bookmark(run_or_state: TapRun | dict[str, Any] | None) -> str | None:
    state = run_or_state.state if isinstance(run_or_state, TapRun) else run_or_state
    return ((state or {}).get("bookmarks", {}).get("events") or {}).get("replication_key_value")


def export_calls(sandbox, service: str = "amplitude_api") -> int:
    counts = sandbox.requests_log(service)["counts"]
    counts = counts.get(service, counts)
    return sum(v for k, v in counts.items() if "/api/2/export" in k)


# SDK deprecations fail these tests (the tap must not use deprecated APIs); the SDK's Python end-of-life
# FutureWarning is only a calendar reminder and must not break the suite on a date.
STRICT_WARNINGS = [
    pytest.mark.filterwarnings("error::singer_sdk.helpers._compat.SingerSDKDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::singer_sdk.helpers._compat.SingerSDKPythonEOLWarning"),
]


def request_deletion(sandbox, user_ids: list[str], *, region: str = "us", requester: str = "privacy-desk") -> dict:
    """Ask the sandbox's User Privacy API to delete these users (one request: mind its 1 request/s limit);
    the answer names the job's day and each user's amplitude_id."""
    response = requests.post(
        f"{sandbox.amplitude['api_eu' if region == 'eu' else 'api']}/api/2/deletions/users",
        json={"user_ids": user_ids, "requester": requester},
        auth=(sandbox.amplitude["api_key"], sandbox.amplitude["secret_key"]),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()
