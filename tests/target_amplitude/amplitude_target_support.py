"""Helpers for the target-amplitude tests: `email_events` records, an in-process run, the Export read-back."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import requests
from target_amplitude.target import TargetAmplitude

STREAM = "email_events"
S = {"type": ["string", "null"]}
I = {"type": ["integer", "null"]}
T = {"type": ["string", "null"], "format": "date-time"}
EMAIL_EVENTS_SCHEMA = {
    "type": "object",
    "properties": {
        "event_id": {"type": "string"}, "event": S, "channel": S, "source": S, "email": S, "contact_id": I,
        "ext_id": S, "contact_attributes": {"type": ["object", "null"]}, "campaign_id": I, "campaign_name": S,
        "template_id": I, "message_id": S, "subject": S, "link": S, "reason": S,
        "tags": {"type": "array", "items": {"type": "string"}}, "list_ids": {"type": "array", "items": {"type": "integer"}},
        "event_time": T, "received_at": T,
    },
}  # fmt: skip
BASE_TIME = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def email_event(n: int, event: str = "opened", *, email: str | None = None, **fields: Any) -> dict[str, Any]:
    """A `tap-brevo` email_events record; `n` makes its event_id (and time) distinct."""
    moment = BASE_TIME + timedelta(seconds=n)
    canonical = f"mk|42|{email or f'person{n % 7}@example.com'}|{event}|{int(moment.timestamp())}|{n}"
    record = {
        "event_id": hashlib.sha256(canonical.encode()).hexdigest()[:32],
        "event": event,
        "channel": "marketing",
        "source": "webhook",
        "email": email or f"person{n % 7}@example.com",
        "contact_id": 1000 + n,
        "ext_id": None,
        "contact_attributes": None,
        "campaign_id": 42,
        "campaign_name": "November news",
        "template_id": None,
        "message_id": None,
        "subject": "News",
        "link": "https://example.com/a" if event == "click" else None,
        "reason": None,
        "tags": ["news"],
        "list_ids": [7],
        "event_time": moment.isoformat().replace("+00:00", "Z"),
        "received_at": moment.isoformat(),
    }
    record.update(fields)
    return record


def messages(records: list[dict[str, Any]], *, states: bool = True) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": STREAM, "schema": EMAIL_EVENTS_SCHEMA, "key_properties": ["event_id"]}
    ]
    for index, record in enumerate(records):
        out.append({"type": "RECORD", "stream": STREAM, "record": record})
        if states and (index + 1) % 10 == 0:
            out.append({"type": "STATE", "value": {"bookmarks": {STREAM: {"n": index + 1}}}})
    if states:
        out.append({"type": "STATE", "value": {"bookmarks": {STREAM: {"n": len(records), "done": True}}}})
    return out


@dataclass
class TargetRun:
    summary: dict[str, Any]
    states: list[dict[str, Any]]
    rejects: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None


def run_target(config: dict[str, Any], lines: list[dict[str, Any]]) -> TargetRun:
    """The target in this process on `lines`; its STATE output, summary and rejects (an error is kept, not raised)."""
    text = "".join(json.dumps(message) + "\n" for message in lines)
    out = io.StringIO()
    target = TargetAmplitude(config=config, validate_config=True)
    error = None
    with contextlib.redirect_stdout(out):
        try:
            target.listen(file_input=io.StringIO(text))
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            error = exc
    states = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]  # the SDK writes bare values
    rejects_path = Path(config["rejects_file"])
    rejects = [json.loads(line) for line in rejects_path.read_text().splitlines()] if rejects_path.exists() else []
    return TargetRun(target.summary, states, rejects, error)


def exported(sandbox: Any) -> list[dict[str, Any]]:
    """Every event the sandbox's Export API returns for the hours around its clock."""
    now = datetime.fromisoformat(sandbox.admin("GET", "clock")["now"]).astimezone(UTC)
    window = {
        "start": (now - timedelta(hours=2)).strftime("%Y%m%dT%H"),
        "end": (now + timedelta(hours=1)).strftime("%Y%m%dT%H"),
    }
    response = requests.get(
        sandbox.amplitude["api"] + "/api/2/export",
        params=window,
        auth=(sandbox.amplitude["api_key"], sandbox.amplitude["secret_key"]),
        timeout=60,
    )
    if response.status_code == 404:
        return []
    assert response.status_code == 200, response.text
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    return [
        orjson.loads(line) for name in archive.namelist() for line in gzip.decompress(archive.read(name)).splitlines()
    ]


def by_insert_id(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        out.setdefault(event["$insert_id"], []).append(event)
    return out


def ingest_statuses(sandbox: Any) -> dict[str, int]:
    """Status -> count of this test's `POST /2/httpapi` and `/batch` requests, from the sandbox's request log."""
    log = sandbox.requests_log("amplitude_ingest", limit=1_000_000)
    counts: dict[str, int] = {}
    for call in log.get("recent", []):
        if call["path"] in ("/2/httpapi", "/batch"):
            counts[str(call["status"])] = counts.get(str(call["status"]), 0) + 1
    return counts
