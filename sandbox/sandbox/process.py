"""Start `sandbox serve` in a subprocess and talk to its admin API (used by tests, demo, benchmarks)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import requests


class SandboxProcess:
    """A running sandbox: `info` is the ready-file document; `admin(...)` calls `/_sandbox/...`."""

    def __init__(self, info: dict[str, Any], proc: subprocess.Popen[bytes] | None = None) -> None:
        self.info = info
        self.proc = proc
        self.http = requests.Session()

    @property
    def amplitude(self) -> dict[str, str]:
        return self.info["amplitude"]

    @property
    def brevo(self) -> dict[str, str]:
        return self.info["brevo"]

    @property
    def admin_url(self) -> str:
        return self.info["amplitude"]["api"] + "/_sandbox"

    def admin(self, method: str, path: str, json: Any = None, **params: Any) -> Any:
        response = self.http.request(
            method, f"{self.admin_url}/{path.lstrip('/')}", json=json, params=params or None, timeout=600
        )
        if response.status_code >= 400:
            raise RuntimeError(f"sandbox admin {method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def reset(self) -> None:
        self.admin("POST", "reset")

    def fault(self, **rule: Any) -> dict[str, Any]:
        return self.admin("POST", "faults", json=rule)

    def configure(self, emulator: str, **changes: Any) -> dict[str, Any]:
        return self.admin("PATCH", f"{emulator}/config", json=changes)

    def seed(self, emulator: str, **params: Any) -> dict[str, Any]:
        return self.admin("POST", f"{emulator}/seed", json=params)

    def requests_log(self, service: str | None = None, limit: int = 0) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if service:
            params["service"] = service
        return self.admin("GET", "requests", **params)

    def stop(self, timeout: float = 15) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def start(
    *extra_args: str,
    ready_file: Path | None = None,
    timeout: float = 60,
    log_file: Path | None = None,
) -> SandboxProcess:
    """Start `python -m sandbox serve` and wait until its ready file appears."""
    tmpdir = None
    if ready_file is None:
        tmpdir = tempfile.mkdtemp(prefix="sandbox-ready-")
        ready_file = Path(tmpdir) / "ready.json"
    with contextlib.suppress(FileNotFoundError):
        ready_file.unlink()
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--ready-file", str(ready_file), *extra_args],
        stdout=out,
        stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + timeout
    while not ready_file.exists():
        if proc.poll() is not None:
            raise RuntimeError(
                f"sandbox exited with {proc.returncode} before it was ready (see {log_file or 'its output'})"
            )
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"sandbox not ready after {timeout}s")
        time.sleep(0.05)
    return SandboxProcess(orjson.loads(ready_file.read_bytes()), proc)


@contextlib.contextmanager
def running(*extra_args: str, **kwargs: Any) -> Iterator[SandboxProcess]:
    sandbox = start(*extra_args, **kwargs)
    try:
        yield sandbox
    finally:
        sandbox.stop()
