"""Helpers for the end-to-end tests: run Meltano, read what the sandbox holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox.process import SandboxProcess

from demo import project

REPO = Path(__file__).resolve().parents[2]
MELTANO = str(Path(sys.executable).with_name("meltano"))
BREVO_LISTS = [f"List {i}" for i in range(1, 10)] + ["Active users", "Power users", "Churning users"]
SEED_START = datetime(2026, 3, 2, tzinfo=UTC)


DEMO_ENVIRONMENT = "demo"  # the sandbox and the demo app's mappings: what these tests run


def plugin_config(kind: str, name: str, environment: str = DEMO_ENVIRONMENT) -> dict[str, Any]:
    """A plugin's config as `meltano run` in `environment` sees it (the demo's, by default)."""
    return project.plugin_config(kind, name, environment)


@dataclass
class Pipeline:
    sandbox: SandboxProcess
    workdir: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [MELTANO, *args],
            check=False,  # checked below, with the end of stderr in the message
            cwd=REPO,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            log = self.workdir / "meltano-failed.log"
            log.write_text(result.stderr)
            raise AssertionError(
                f"meltano {' '.join(args)} exited {result.returncode} (whole log: {log}):\n{result.stderr[-6000:]}"
            )
        return result

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [MELTANO, *args],
            cwd=REPO,
            env={**self.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    # -- what the sandbox holds --------------------------------------------------------------------
    def brevo(self, path: str, **params: Any) -> Any:
        return self.sandbox.admin("GET", f"brevo/{path}", **params)

    def all_pages(self, path: str, key: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self.brevo(path, limit=1000, offset=len(found))[key]
            found.extend(page)
            if len(page) < 1000:
                return found

    def list_members(self, list_id: int) -> set[str]:
        return {m.get("ext_id") or m.get("email") for m in self.brevo(f"lists/{list_id}/members")["members"]}

    def seed_app(self, **params: Any) -> dict[str, Any]:
        """The simulated app sends events through the ingestion API, then Amplitude's latency passes."""
        result = self.sandbox.seed("amplitude", **params)
        self.advance_past(datetime.fromisoformat(result["end"]))
        return result

    def advance_past(self, moment: datetime) -> None:
        hour = moment.replace(minute=0, second=0, microsecond=0)
        self.sandbox.admin("PUT", "clock", json={"now": (hour + timedelta(hours=4, minutes=1)).isoformat()})


def stop_group(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Stop `meltano run` and its plugins the way an orchestrator or Ctrl-C would."""
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_for(predicate, timeout: float = 60, every: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False
