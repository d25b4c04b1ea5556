"""A new user's first hour, through the README's commands only ("Start with your own data"): an EU project,
two event types, their own property names, one mirrored list; dry run, run, rejects; then the two common
mistakes (a key of the wrong region, a wrong Brevo key) fail fast with what to fix.

The walk runs in a copy of the project (its own meltano.yml, Meltano database, outputs), sharing the installed
virtualenvs, and `make sandbox` on the dev environment's fixed ports, as a user would.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import orjson
import pytest
import requests
import yaml

from e2e.support import REPO, stop_group, wait_for

DEV_PORTS = range(27801, 27806)
BREVO_ADMIN = "http://127.0.0.1:27805/_sandbox"
AMPLITUDE_ADMIN = "http://127.0.0.1:27801/_sandbox"


def readme_block(heading: str) -> list[str]:
    """The first ```sh block under `heading` in README.md, one command per line."""
    text = (REPO / "README.md").read_text()
    section = text[text.index(f"## {heading}") :]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert block, f"no sh block under {heading}"
    return [line for line in block.group(1).replace("\\\n", " ").splitlines() if line.strip()]


def project_copy(root: Path) -> Path:
    """A project of its own: meltano.yml and the Makefile copied, sources and installed environments linked."""
    root.mkdir()
    for name in ("meltano.yml", "Makefile"):
        shutil.copy(REPO / name, root / name)
    for name in ("tap-amplitude", "target-brevo", "tap-brevo", "target-amplitude", "sandbox", "webhook-receiver", "target-common",
                 "requirements.txt", ".venv"):  # fmt: skip
        (root / name).symlink_to(REPO / name)
    (root / ".meltano").mkdir()
    for kind in ("extractors", "loaders"):
        (root / ".meltano" / kind).symlink_to(REPO / ".meltano" / kind)
    return root


def user_env(project: Path) -> dict[str, str]:
    """A shell as a new user has it: the project's virtualenv first on PATH, no test settings around."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MELTANO_", "TAP_", "TARGET_"))}
    env["PATH"] = f"{project / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


def ports_free() -> bool:
    for port in DEV_PORTS:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return False
    return True


class Shell:
    """Runs README lines one by one in the project, keeping `export`ed variables as a shell would."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.env = user_env(project)
        self.transcript: list[str] = []

    def run(self, line: str, *, check: bool = True, **extra: str) -> subprocess.CompletedProcess[str]:
        if line.startswith("export "):
            for word in shlex.split(line)[1:]:
                name, _, value = word.partition("=")
                self.env[name] = value
            return subprocess.CompletedProcess(line, 0, "", "")
        result = subprocess.run(
            ["bash", "-c", line],
            cwd=self.project,
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        self.transcript.append(f"$ {line}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        if check and result.returncode != 0:
            raise AssertionError(f"`{line}` exited {result.returncode}:\n{result.stderr[-5000:]}")
        return result

    def background(self, line: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["bash", "-c", line.rstrip(" &").split("#")[0]],
            cwd=self.project,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )


def wait_for_line(proc: subprocess.Popen[str], marker: str, timeout: float = 240) -> str:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} from make sandbox:\n{''.join(seen)[-4000:]}")


def brevo(path: str) -> dict:
    return requests.get(f"{BREVO_ADMIN}/brevo/{path}", timeout=30).json()


def export_calls() -> int:
    log = requests.get(f"{AMPLITUDE_ADMIN}/requests", params={"limit": 0}, timeout=30).json()
    return sum(counts.get("GET /api/2/export", 0) for counts in log["counts"].values())


def test_a_new_users_first_hour_through_the_readme(tmp_path: Path, installed_plugins: None) -> None:
    if not ports_free():
        pytest.fail("ports 27801-27805 are taken (a `make sandbox` or `make demo` running?): stop it and re-run")
    started = time.monotonic()
    project = project_copy(tmp_path / "project")
    shell = Shell(project)
    lines = readme_block("Start with your own data")
    copy, sandbox_line, export_line, *configure, dry_run, run, show_summary, show_rejects = lines
    assert sandbox_line.startswith("make sandbox APP=") and export_line.startswith("export ")

    shell.run(copy)
    app = yaml.safe_load((project / "my-app.yaml").read_text())
    app["region"] = "eu"  # the user's edit: an EU project
    (project / "my-app.yaml").write_text(yaml.safe_dump(app))
    sandbox = shell.background(sandbox_line)
    try:
        seeded = wait_for_line(sandbox, "app seeded")
        vip_size = int(re.search(r"vip_customers \((\d+)\)", seeded).group(1))  # type: ignore[union-attr]
        shell.run(export_line)
        for line in configure:
            shell.run(line)
        base = yaml.safe_load((project / "meltano.yml").read_text())
        target = next(p for p in base["plugins"]["loaders"] if p["name"] == "target-brevo")["config"]
        assert target["event_mapping"] == {"Account Created": "signed_up", "Order Completed": "order_completed"}

        # Dry run: a plan by event type, and nothing written
        shell.run(dry_run)
        planned = orjson.loads((project / "output" / "brevo-summary.json").read_bytes())
        assert planned["dry_run"] is True
        sent_types = {t for t, c in planned["event_types"].items() if c.get("would_send")}
        assert sent_types and sent_types <= {"Account Created", "Order Completed"}
        assert planned["event_types"]["Page View"] == {"seen": planned["event_types"]["Page View"]["seen"],
                                                       "skipped_unmapped": planned["event_types"]["Page View"]["seen"]}  # fmt: skip
        assert brevo("stats")["contacts"] == 0 and brevo("stats")["events"] == 0

        # The run: what was set is what ran
        shell.run(run)
        summary = orjson.loads(shell.run(show_summary).stdout)
        assert summary["completed"] is True and summary["dry_run"] is False
        sent = {t for t, c in summary["event_types"].items() if c.get("sent")}
        assert sent == sent_types
        assert set(summary["property_mapping"]) == {"firstName", "subscription_tier", "phone"}
        stored = {e["event_name"] for e in brevo("events?limit=1000")["events"]}
        assert stored <= {"signed_up", "order_completed"} and stored
        [vip] = [x for x in brevo("lists")["lists"] if x["name"] == "VIP customers"]
        assert vip["uniqueSubscribers"] == vip_size
        contact = brevo("contacts?limit=1")["contacts"][0]
        assert {"FIRSTNAME", "PLAN"} <= set(contact["attributes"])
        rejects = [orjson.loads(line) for line in shell.run(show_rejects).stdout.splitlines()]
        assert rejects and all(r["run_id"] == summary["run_id"] and r["reason"] for r in rejects)
        assert any("phone" in r["reason"] for r in rejects)

        # A clean run reads clean
        shell.run(run)
        assert shell.run(show_rejects).stdout == ""
        walk_seconds = time.monotonic() - started

        # Mistake 1: the US keys against the EU project
        wrong_region = shell.run(
            run, check=False, TAP_AMPLITUDE_API_KEY="sandbox-amplitude-api-key",
            TAP_AMPLITUDE_SECRET_KEY="sandbox-amplitude-secret-key",
        )  # fmt: skip
        assert wrong_region.returncode != 0
        assert "the other data center" in wrong_region.stderr and "data_center is EU" in wrong_region.stderr

        # Mistake 2: a wrong Brevo key stops the run before the tap exports anything
        exports_before = export_calls()
        wrong_key = shell.run(run, check=False, TARGET_BREVO_API_KEY="xkeysib-not-the-key")
        assert wrong_key.returncode != 0
        assert "Brevo refused the api_key" in wrong_key.stderr
        assert "xkeysib-not-the-key" not in wrong_key.stderr + wrong_key.stdout
        assert export_calls() == exports_before
        print(f"new-user walk: {walk_seconds:.0f} s to the second clean run; {len(rejects)} rejects in the first run")
    finally:
        stop_group(sandbox, signal.SIGINT)
        wait_for(ports_free, timeout=30)
