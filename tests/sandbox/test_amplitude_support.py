"""Helpers shared by the Amplitude emulator tests (no tests here)."""

from __future__ import annotations

import gzip
import io
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import requests
from sandbox.process import SandboxProcess


def ingest(
    sb: SandboxProcess, events: list[dict[str, Any]], region: str = "us", path: str = "/2/httpapi", **extra: Any
) -> requests.Response:
    base = sb.amplitude["ingest_eu" if region == "eu" else "ingest"]
    return requests.post(base + path, json={"api_key": sb.amplitude["api_key"], "events": events, **extra}, timeout=30)


def api_get(sb: SandboxProcess, path: str, region: str = "us", auth: Any = "ok", **params: Any) -> requests.Response:
    base = sb.amplitude["api_eu" if region == "eu" else "api"]
    if auth == "ok":
        auth = (sb.amplitude["api_key"], sb.amplitude["secret_key"])
    return requests.get(base + path, params=params, auth=auth, timeout=60, allow_redirects=False)


def api_post(sb: SandboxProcess, path: str, body: Any, region: str = "us") -> requests.Response:
    base = sb.amplitude["api_eu" if region == "eu" else "api"]
    return requests.post(base + path, json=body, auth=(sb.amplitude["api_key"], sb.amplitude["secret_key"]), timeout=30)


def sandbox_now(sb: SandboxProcess) -> datetime:
    return datetime.fromisoformat(sb.admin("GET", "clock")["now"])


def hour_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H")


def export_recent(sb: SandboxProcess, region: str = "us", auth: Any = "ok", hours_back: int = 2) -> requests.Response:
    """Export the hours around the sandbox's now (data just ingested, with export_latency_hours=-1)."""
    now = sandbox_now(sb)
    start, end = now - timedelta(hours=hours_back), now + timedelta(hours=1)
    return api_get(sb, "/api/2/export", region=region, auth=auth, start=hour_of(start), end=hour_of(end))


def read_zip(content: bytes) -> dict[str, list[dict[str, Any]]]:
    """Entry name -> decoded events, in entry order."""
    archive = zipfile.ZipFile(io.BytesIO(content))
    return {
        name: [orjson.loads(line) for line in gzip.decompress(archive.read(name)).splitlines()]
        for name in archive.namelist()
    }


def all_events(content: bytes) -> list[dict[str, Any]]:
    return [event for events in read_zip(content).values() for event in events]
