"""Amplitude Export API over HTTP: auth, ranges, latency horizon, zip layout, limits, faults, EU, persistence."""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import requests
from sandbox.process import SandboxProcess, running
from test_amplitude_support import all_events, api_get, export_recent, hour_of, ingest, read_zip, sandbox_now


@pytest.fixture
def amp(sandbox: SandboxProcess) -> SandboxProcess:
    sandbox.configure("amplitude", export_latency_hours=-1)
    return sandbox


def _error(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["metadata"]["details"]


def test_credentials_give_documented_403(amp: SandboxProcess) -> None:
    key = amp.amplitude["api_key"]
    assert _error(export_recent(amp, auth=None)) == (403, "Invalid API Key")
    assert _error(export_recent(amp, auth=("wrong-key", amp.amplitude["secret_key"]))) == (403, "Invalid API Key")
    response = export_recent(amp, auth=(key, "wrong-secret"))
    assert response.json() == {
        "error": {
            "http_code": 403,
            "type": "unspecified",
            "metadata": {"details": "Invalid API/Secret Key combination"},
        }
    }


@pytest.mark.parametrize(
    "params",
    [
        {"start": "20240101T00"},
        {"start": "2024-01-01", "end": "20240101T05"},
        {"start": "20240101T25", "end": "20240102T00"},
        {"start": "20240102T00", "end": "20240101T00"},
        {"start": "20220101T00", "end": "20240101T00"},
    ],
)
def test_bad_ranges_give_400(amp: SandboxProcess, params: dict) -> None:
    response = api_get(amp, "/api/2/export", **params)
    assert response.status_code == 400
    assert response.json()["error"]["http_code"] == 400 and response.json()["error"]["type"] == "invalid"


def test_empty_window_is_404_text(amp: SandboxProcess) -> None:
    response = export_recent(amp)
    assert response.status_code == 404
    assert response.text == "Raw data files were not found."
    assert response.headers["content-type"].startswith("text/plain")


def test_zip_layout_partitions_order_and_fields(amp: SandboxProcess) -> None:
    amp.configure("amplitude", export_partition_events=2)
    assert ingest(amp, [{"user_id": f"user-{i:04d}", "event_type": f"e{i}"} for i in range(5)]).status_code == 200
    assert ingest(amp, [{"user_id": "user-9999", "event_type": "later"}]).status_code == 200
    response = export_recent(amp)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert response.content[:4] == b"PK\x03\x04"
    entries = read_zip(response.content)
    pid = amp.admin("GET", "amplitude/config")["project_id"]
    now = sandbox_now(amp)
    prefix = f"{pid}/{pid}_{now:%Y-%m-%d}_{now.hour}#"
    assert list(entries) == [prefix + "0.json.gz", prefix + "1.json.gz", prefix + "2.json.gz"]
    assert [len(v) for v in entries.values()] == [2, 2, 2]
    events = [e for v in entries.values() for e in v]
    keys = [(e["server_upload_time"], e["uuid"]) for e in events]
    assert keys == sorted(keys) and events[-1]["event_type"] == "later"
    assert len({e["uuid"] for e in events}) == 6


def test_latency_horizon_follows_sandbox_clock(sandbox: SandboxProcess) -> None:
    assert sandbox.admin("GET", "amplitude/config")["export_latency_hours"] == 2
    assert ingest(sandbox, [{"user_id": "user-1001", "event_type": "x"}]).status_code == 200
    received = sandbox_now(sandbox)
    window = {"start": hour_of(received - timedelta(hours=1)), "end": hour_of(received + timedelta(hours=1))}
    assert api_get(sandbox, "/api/2/export", **window).status_code == 404  # not yet exportable
    top_of_hour = received.replace(minute=0, second=0, microsecond=0)
    sandbox.admin("PUT", "clock", json={"now": (top_of_hour + timedelta(hours=2, minutes=59)).isoformat()})
    assert api_get(sandbox, "/api/2/export", **window).status_code == 404  # 2 h after the hour ended: not yet
    sandbox.admin("PUT", "clock", json={"now": (top_of_hour + timedelta(hours=3, seconds=1)).isoformat()})
    response = api_get(sandbox, "/api/2/export", **window)
    assert response.status_code == 200 and len(all_events(response.content)) == 1
    assert parsedate_to_datetime(response.headers["date"]) >= top_of_hour + timedelta(hours=3)


def test_size_limit_400_and_timeout_504(amp: SandboxProcess) -> None:
    ingest(amp, [{"user_id": "user-1001", "event_type": "x"}] * 3)
    amp.configure("amplitude", export_max_bytes=100)
    response = export_recent(amp)
    assert response.status_code == 400 and "4GB" in response.json()["error"]["metadata"]["details"]
    amp.configure("amplitude", export_max_bytes=10**9, export_timeout_bytes=100)
    assert export_recent(amp).json()["error"]["http_code"] == 504
    amp.configure("amplitude", export_timeout_bytes=0)
    assert export_recent(amp).status_code == 200


def test_generic_fault_and_corrupt_gzip_member(amp: SandboxProcess) -> None:
    ingest(amp, [{"user_id": f"user-{i:04d}", "event_type": "x", "event_properties": {"i": i}} for i in range(50)])
    amp.fault(action="status", path="/api/2/export", status=504, body={"error": {"http_code": 504}}, count=1)
    assert export_recent(amp).status_code == 504
    hour = hour_of(sandbox_now(amp))
    amp.admin("POST", "amplitude/corrupt-gzip", json={"hour": hour, "count": 1})
    broken = export_recent(amp)
    archive = zipfile.ZipFile(io.BytesIO(broken.content))
    assert archive.testzip() is None  # the zip itself is valid (CRCs match)
    [name] = archive.namelist()
    with pytest.raises((OSError, EOFError, zlib.error)):
        gzip.decompress(archive.read(name))
    assert len(all_events(export_recent(amp).content)) == 50  # consumed: the next export is clean


def test_eu_is_a_separate_project(amp: SandboxProcess) -> None:
    assert ingest(amp, [{"user_id": "user-eu-1", "event_type": "eu only"}], region="eu").status_code == 200
    assert export_recent(amp).status_code == 404
    [event] = all_events(export_recent(amp, region="eu").content)
    assert event["event_type"] == "eu only"
    assert event["app"] == amp.admin("GET", "amplitude/config")["project_id_eu"]


def test_store_survives_restart_with_same_data_dir(tmp_path: Path) -> None:
    args = ("--data-dir", str(tmp_path), "--amplitude-api-key", "k" * 32, "--amplitude-secret-key", "s" * 32,
            "--set", "amplitude.export_latency_hours=-1")  # fmt: skip
    with running(*args) as first:
        assert ingest(first, [{"user_id": "user-1001", "event_type": "kept"}]).status_code == 200
    with running(*args) as second:
        assert [e["event_type"] for e in all_events(export_recent(second).content)] == ["kept"]
        assert second.admin("GET", "amplitude/config")["export_latency_hours"] == -1
