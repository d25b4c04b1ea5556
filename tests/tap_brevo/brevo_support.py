"""Helpers for the tap-brevo tests: the tap as a real process (a free loopback port, a spool in a temp directory,
its Singer messages read from stdout), and Brevo webhook bodies. (No __init__.py in this directory: a `tap_brevo`
package here would shadow the real one.)"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

TOKEN = "brevo-hook-token-5c1e"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
LISTENING = re.compile(r"Receiving Brevo webhooks on (http://\S+):")
STRICT_WARNINGS = [
    pytest.mark.filterwarnings("error::singer_sdk.helpers._compat.SingerSDKDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::singer_sdk.helpers._compat.SingerSDKPythonEOLWarning"),
]


def transactional(n: int, event: str = "delivered", **fields: Any) -> dict[str, Any]:
    """A transactional webhook body as Brevo documents it (`date` in Paris time, `ts_epoch` in milliseconds)."""
    return {
        "event": event,
        "email": f"User{n}@Example.com",
        "id": 1234,
        "date": "2024-03-02 11:00:05",
        "ts": 1709373605,
        "message-id": f"<20240302.{n}@smtp-relay.mailin.fr>",
        "ts_event": 1709373605,
        "subject": "Your order",
        "tag": "orders",
        "sending_ip": "185.41.28.109",
        "ts_epoch": 1709373605250 + n,
        "template_id": 7,
        "tags": ["orders"],
        "contact_id": 0,
        **fields,
    }


def marketing(n: int, event: str = "opened", **fields: Any) -> dict[str, Any]:
    """A marketing webhook body (campaign events)."""
    return {
        "id": 99,
        "camp_id": 42,
        "email": f"reader{n}@example.com",
        "campaign name": "Spring sale",
        "date_sent": "2024-03-02 10:00:00",
        "date_event": "2024-03-02 11:00:05",
        "event": event,
        "tag": "",
        "ts_sent": 1709370000,
        "ts_event": 1709373605 + n,
        "ts": 1709373605 + n,
        **fields,
    }


class BrevoTap:
    """One run of the `tap-brevo` CLI; its stdout messages are collected as they arrive."""

    def __init__(self, workdir: Path, **config: Any) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.spool_path = workdir / "spool.sqlite3"
        self.config = {
            "auth_token": TOKEN,
            "port": 0,
            "spool_path": str(self.spool_path),
            "contact_directory_path": str(workdir / "contacts.sqlite3"),
            "progress_interval_seconds": 1,
            **config,
        }
        self.messages: list[dict[str, Any]] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._runs = 0

    def start(self, state: dict[str, Any] | None = None, *, wait_listening: bool = True) -> BrevoTap:
        self._runs += 1
        run = self.workdir / f"run{self._runs}"
        run.mkdir()
        config_file = run / "config.json"
        config_file.write_text(json.dumps(self.config))
        args = [sys.executable, "-m", "tap_brevo", "--config", str(config_file)]
        if state is not None:
            (run / "state.json").write_text(json.dumps(state))
            args += ["--state", str(run / "state.json")]
        self.stderr_path = run / "stderr.log"
        self.messages = []
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr)
        threading.Thread(target=self._read_stdout, args=(self.proc,), daemon=True).start()
        if wait_listening:
            deadline = time.monotonic() + 30
            while not (match := LISTENING.search(self.stderr)):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the tap did not start listening:\n{self.stderr}")
                time.sleep(0.02)
            self.url = match.group(1)
        return self

    def _read_stdout(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.messages.append(json.loads(line))

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        time.sleep(0.1)  # the reader thread takes the last lines
        return code

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        time.sleep(0.1)
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return requests.post(
            f"{self.url}/brevo/{path}",
            data=data,
            headers={"Content-Type": "application/json", **(BEARER if headers is None else headers)},
            timeout=10,
            **kwargs,
        )

    def records(self) -> list[dict[str, Any]]:
        return [m["record"] for m in list(self.messages) if m["type"] == "RECORD"]

    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in list(self.messages) if m["type"] == "STATE"]

    def spool_seqs(self) -> list[int]:
        with sqlite3.connect(self.spool_path) as connection:
            return [seq for (seq,) in connection.execute("SELECT seq FROM spool ORDER BY seq")]

    def wait_until(self, condition: Callable[[], bool], timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; stderr:\n{self.stderr}")
            time.sleep(0.02)


def spool_state(seq: int) -> dict[str, Any]:
    return {"bookmarks": {"spool": {"seq": seq}}}
