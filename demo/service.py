"""The demo environment's services, run the way systemd or Kubernetes would: their own process group, ready once
their receiver answers `GET /health`, stopped with SIGTERM. The real-time path (`meltano run tap-amplitude-streaming
target-brevo-realtime`) and the closed loop (`meltano run tap-brevo target-amplitude`). Their settings are read
from meltano.yml's environment, the one place they are declared.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from demo.project import plugin_config

TAP = "tap-amplitude-streaming"
TARGET = "target-brevo-realtime"
# The receiver's credential setting, per tap: what a sender must present.
SECRET_SETTING = {"tap-amplitude-streaming": "secret", "tap-brevo": "auth_token"}
STREAM_PATH = "/amplitude/stream"  # the tap's default path_prefix, which meltano.yml leaves as it is
STOP_TIMEOUT_SECONDS = 45  # the target finishes its input within 30 s of a SIGTERM (its own cap)
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class ServiceSettings:
    port: int
    secret: str
    spool_path: Path
    delivered_state_file: Path
    summary_file: Path
    tap: str = TAP
    target: str = TARGET

    @classmethod
    def from_project(cls, repo: Path, environment: str, tap: str = TAP, target: str = TARGET) -> ServiceSettings:
        project_file = repo / "meltano.yml"
        tap_config = plugin_config("extractors", tap, environment, project_file)
        target_config = plugin_config("loaders", target, environment, project_file)
        return cls(
            port=int(tap_config["port"]),
            secret=str(tap_config[SECRET_SETTING[tap]]),
            spool_path=repo / tap_config["spool_path"],
            delivered_state_file=repo / tap_config["delivered_state_file"],
            summary_file=repo / target_config["summary_file"],
            tap=tap,
            target=target,
        )

    @property
    def stream_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{STREAM_PATH}"


class ServiceError(RuntimeError):
    """The service could not start or stop as it should; the message says what to look at."""


class Service:
    """`start()` it, then `stop()` it (SIGTERM); `ensure_stopped()` in a `finally`."""

    def __init__(self, meltano: Path, repo: Path, environment: str, settings: ServiceSettings, log_file: Path) -> None:
        self.command = [str(meltano), f"--environment={environment}", "run", "--force", settings.tap, settings.target]
        self.repo = repo
        self.settings = settings
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None
        self.http = requests.Session()

    def start(self, timeout: float = 60) -> float:
        """Start the service and wait until its receiver answers; the seconds that took."""
        port = self.settings.port
        if not port_is_free(port):
            raise ServiceError(
                f"port {port} ({self.settings.tap}'s port in meltano.yml) is taken: another receiver or an "
                "earlier demo still runs. Stop it (or wait a minute) and retry."
            )
        self.settings.summary_file.unlink(missing_ok=True)  # so that only this run's summary is read
        started = time.monotonic()
        with open(self.log_file, "wb") as log:
            # --force: after a hard kill Meltano still records the run as running, and would refuse a new one
            self.process = subprocess.Popen(
                self.command, cwd=self.repo, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        while self.health() is None:
            if self.process.poll() is not None:
                raise ServiceError(f"the service exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() - started > timeout:
                self.stop()
                raise ServiceError(f"the service did not answer /health within {timeout:.0f} s")
            time.sleep(POLL_SECONDS)
        return time.monotonic() - started

    def health(self) -> dict[str, Any] | None:
        """The receiver's `GET /health` (pending, last_seq), or None while it does not answer."""
        try:
            response = self.http.get(f"http://127.0.0.1:{self.settings.port}/health", timeout=2)
            return response.json() if response.status_code == 200 else None
        except requests.RequestException:
            return None

    def wait_until_drained(self, timeout: float = 15) -> dict[str, Any]:
        """Wait until the spool holds nothing: every item received was delivered to Brevo, then pruned."""
        deadline = time.monotonic() + timeout
        while True:
            health = self.health()
            if health is not None and health["pending"] == 0:
                return health
            if time.monotonic() > deadline:
                raise ServiceError(f"the spool still holds items after {timeout:.0f} s: {health}\n{self.log_tail()}")
            time.sleep(POLL_SECONDS)

    def stop(self) -> float:
        """SIGTERM to the process group (Meltano and both plugins), as an orchestrator stops a service; seconds."""
        assert self.process is not None
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise ServiceError(
                f"the service ignored SIGTERM for {STOP_TIMEOUT_SECONDS} s and was killed:\n{self.log_tail()}"
            ) from None
        return time.monotonic() - started

    def ensure_stopped(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ServiceError):  # killed then; the error being handled says more
                self.stop()

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return "\n".join(text.splitlines()[-lines:]) + f"\n(full log: {self.log_file})"


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the receiver's server binds it
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
