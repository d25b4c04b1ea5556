"""The sandbox server itself: ready file, ports, admin API, fault injection, clock, shutdown."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import orjson
import pytest
import requests
from sandbox.process import SandboxProcess, running, start


def test_ready_file_lists_every_service_on_loopback(sandbox: SandboxProcess) -> None:
    amp, brevo = sandbox.amplitude, sandbox.brevo
    assert set(amp) == {"api", "api_eu", "ingest", "ingest_eu", "api_key", "secret_key", "api_key_eu", "secret_key_eu"}
    assert set(brevo) == {"api", "api_key"}
    urls = [amp["api"], amp["api_eu"], amp["ingest"], amp["ingest_eu"], brevo["api"]]
    assert all(u.startswith("http://127.0.0.1:") for u in urls)
    assert brevo["api"].endswith("/v3")
    assert len({u.split(":")[2].split("/")[0] for u in urls}) == 5, "each service has its own port"
    assert brevo["api_key"].startswith("xkeysib-")


def test_fixed_ports_and_keys(tmp_path: Path) -> None:
    free = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            free.append(s.getsockname()[1])
    with running(
        "--port",
        f"amplitude_api={free[0]}",
        "--port",
        f"brevo={free[1]}",
        "--amplitude-api-key",
        "k" * 32,
        "--amplitude-secret-key",
        "s" * 32,
        "--brevo-api-key",
        "xkeysib-test",
        ready_file=tmp_path / "ready.json",
    ) as sb:
        assert sb.amplitude["api"] == f"http://127.0.0.1:{free[0]}"
        assert sb.brevo["api"] == f"http://127.0.0.1:{free[1]}/v3"
        assert (sb.amplitude["api_key"], sb.amplitude["secret_key"], sb.brevo["api_key"]) == (
            "k" * 32,
            "s" * 32,
            "xkeysib-test",
        )
        assert (tmp_path / "ready.json").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stops_cleanly_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    sb = start(ready_file=tmp_path / "ready.json")
    port_url = sb.amplitude["api"]
    assert sb.proc is not None
    sb.proc.send_signal(sig)
    assert sb.proc.wait(15) == 0
    assert not (tmp_path / "ready.json").exists(), "the ready file is removed on shutdown"
    with pytest.raises(requests.ConnectionError):
        requests.get(port_url + "/_sandbox/requests", timeout=2)


def test_bad_port_spec_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "serve", "--port", "nope=1"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "SERVICE=PORT" in result.stderr


def test_status_fault_fires_count_times_then_clears(sandbox: SandboxProcess) -> None:
    url = sandbox.amplitude["api"] + "/api/2/events/list"
    rule = sandbox.fault(
        action="status",
        service="amplitude_api",
        path="/api/2/*",
        status=503,
        body={"error": "down"},
        headers={"Retry-After": "1"},
        count=2,
    )
    assert rule["count"] == 2
    for _ in range(2):
        r = requests.get(url, timeout=5)
        assert r.status_code == 503
        assert r.json() == {"error": "down"}
        assert r.headers["Retry-After"] == "1"
    assert sandbox.admin("GET", "faults") == {"faults": []}
    assert requests.get(url, timeout=5).status_code != 503


def test_fault_only_hits_its_service_and_method(sandbox: SandboxProcess) -> None:
    sandbox.fault(action="status", service="amplitude_api_eu", method="POST", path="*", status=500)
    assert requests.get(sandbox.amplitude["api_eu"] + "/anything", timeout=5).status_code != 500
    assert requests.get(sandbox.amplitude["api"] + "/anything", timeout=5).status_code != 500
    assert requests.post(sandbox.amplitude["api_eu"] + "/anything", timeout=5).status_code == 500


def test_reset_fault_drops_the_connection(sandbox: SandboxProcess) -> None:
    sandbox.fault(action="reset", path="/api/*")
    with pytest.raises(requests.ConnectionError):
        requests.get(sandbox.amplitude["api"] + "/api/2/events/list", timeout=5)
    log = sandbox.requests_log(limit=5)
    assert log["recent"][-1]["fault"] == "reset"


def test_latency_fault_delays_the_response(sandbox: SandboxProcess) -> None:
    sandbox.fault(action="latency", path="/x", latency_ms=300)
    started = time.monotonic()
    requests.get(sandbox.amplitude["api"] + "/x", timeout=5)
    assert time.monotonic() - started >= 0.3


def test_truncate_and_corrupt_change_the_body(sandbox: SandboxProcess) -> None:
    url = sandbox.amplitude["api"] + "/_not_a_route"
    full = requests.get(url, timeout=5).content
    assert len(full) > 4
    sandbox.fault(action="truncate", path="/_not_a_route", truncate_bytes=3)
    assert requests.get(url, timeout=5).content == full[:3]
    sandbox.fault(action="corrupt", path="/_not_a_route", corrupt_offset=0, corrupt_length=2)
    corrupted = requests.get(url, timeout=5).content
    assert len(corrupted) == len(full)
    assert corrupted[:2] == bytes(b ^ 0xFF for b in full[:2]) and corrupted[2:] == full[2:]


def test_invalid_fault_rule_is_rejected(sandbox: SandboxProcess) -> None:
    r = requests.post(sandbox.admin_url + "/faults", json={"action": "explode"}, timeout=5)
    assert r.status_code == 400 and "action must be one of" in r.json()["error"]
    r = requests.post(sandbox.admin_url + "/faults", json={"action": "status", "colour": "red"}, timeout=5)
    assert r.status_code == 400 and "colour" in r.json()["error"]


def test_request_log_counts_per_service_and_route(sandbox: SandboxProcess) -> None:
    for _ in range(3):
        requests.get(sandbox.amplitude["api"] + "/nothing/here", timeout=5)
    requests.get(sandbox.brevo["api"] + "/nothing", timeout=5)
    log = sandbox.requests_log()
    assert log["counts"]["amplitude_api"]["GET /nothing/here"] == 3
    assert sum(log["counts"]["brevo"].values()) == 1
    only_brevo = sandbox.requests_log(service="brevo")
    assert set(only_brevo["counts"]) == {"brevo"}
    requests.delete(sandbox.admin_url + "/requests", timeout=5)
    assert sandbox.requests_log()["total"] == 0


def test_admin_calls_are_not_logged_or_faulted(sandbox: SandboxProcess) -> None:
    sandbox.fault(action="status", path="*", status=500, count=5)
    assert sandbox.requests_log()["total"] == 0
    requests.delete(sandbox.admin_url + "/faults", timeout=5)


def test_clock_moves_and_sets_the_date_header(sandbox: SandboxProcess) -> None:
    sandbox.admin("PUT", "clock", json={"now": "2026-01-02T03:04:05Z"})
    r = requests.get(sandbox.brevo["api"] + "/nothing", timeout=5)
    server_now = parsedate_to_datetime(r.headers["Date"])
    assert abs(server_now.timestamp() - 1767323045) < 5
    assert sandbox.admin("GET", "clock")["now"].startswith("2026-01-02T03:04")
    bad = requests.put(sandbox.admin_url + "/clock", json={"now": "yesterday"}, timeout=5)
    assert bad.status_code == 400
    sandbox.reset()
    assert abs(sandbox.admin("GET", "clock")["offset_seconds"]) < 1


def test_emulator_config_round_trip(sandbox: SandboxProcess) -> None:
    for name in ("amplitude", "brevo"):
        config = sandbox.admin("GET", f"{name}/config")
        assert isinstance(config, dict)
        assert orjson.loads(orjson.dumps(config)) == config
