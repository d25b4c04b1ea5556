"""The demo: a simulated app sends events to the sandbox's Amplitude, `meltano run` moves them to the
sandbox's Brevo, and a report shows what landed. Then the live section: the real-time service
(`tap-amplitude-streaming target-brevo-realtime`) takes a few events pushed the moment the app sends them. Then
the closed loop: a campaign to the power users' list, whose opens and clicks come back into Amplitude as events
(`tap-brevo target-amplitude`, Brevo's webhooks).
Each run continues the app's story: the next run sends only new events, and the pipeline delivers only
those (the live ones included: the export sees them again, the shared ledger keeps them out).

The sandbox keeps its data in `.demo/sandbox/` between runs, on the fixed ports of meltano.yml's
`demo` environment (whose mappings the run uses); Meltano keeps the bookmark (state id
`demo:tap-amplitude-to-target-brevo`) in `.meltano/`. `make demo-reset` starts over.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox.amplitude import seed
from sandbox.process import SandboxProcess, start

from demo import closed_loop, live, report
from demo.service import Service, ServiceError, ServiceSettings, port_is_free

REPO = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO / ".demo"
STORY = DEMO_DIR / "story.json"
OUTPUT = REPO / "output"
ENVIRONMENT = "demo"
STATE_ID = f"{ENVIRONMENT}:tap-amplitude-to-target-brevo"
REALTIME_STATE_ID = f"{ENVIRONMENT}:tap-amplitude-streaming-to-target-brevo-realtime"
LOOP_STATE_ID = f"{ENVIRONMENT}:tap-brevo-to-target-amplitude"
MELTANO = Path(sys.executable).with_name("meltano")

# Must match meltano.yml's demo (and dev) environment.
PORTS = {
    "amplitude_api": 27801,
    "amplitude_api_eu": 27802,
    "amplitude_ingest": 27803,
    "amplitude_ingest_eu": 27804,
    "brevo": 27805,
}
KEYS = ["--amplitude-api-key", "sandbox-amplitude-api-key", "--amplitude-secret-key", "sandbox-amplitude-secret-key",
        "--amplitude-eu-api-key", "sandbox-eu-amplitude-api-key",
        "--amplitude-eu-secret-key", "sandbox-eu-amplitude-secret-key",
        "--brevo-api-key", "xkeysib-sandbox-dev-key"]  # fmt: skip
# The account's existing lists: the cohorts map to 10, 11 and 12 (meltano.yml `lists`).
BREVO_LISTS = ["Newsletter", "Product updates", "Webinar attendees", "Beta testers", "Partners", "Events 2026",
               "Trial users", "Customers EU", "Customers US", "Active users", "Power users", "Churning users"]  # fmt: skip

FIRST_RUN = {"users": 3000, "events": 36000, "days": 3.0}
NEXT_RUN = {"new_users": 150, "events": 9000, "days": 0.5}


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def meltano(
    *args: str, env: dict[str, str] | None = None, check: bool = True, quiet: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MELTANO), *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        check=check,
        text=True,
        capture_output=quiet,
    )


def load_story() -> dict[str, Any] | None:
    return json.loads(STORY.read_text()) if STORY.exists() else None


def start_over() -> None:
    """Forget the demo's sandbox data, Meltano bookmarks, delivery ledger and streaming spool (in .demo/) and
    reports."""
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    shutil.rmtree(OUTPUT, ignore_errors=True)
    for state_id in (STATE_ID, REALTIME_STATE_ID, LOOP_STATE_ID):
        meltano(f"--environment={ENVIRONMENT}", "state", "clear", "--force", state_id, check=False, quiet=True)


def check_ports_free(ports: list[int]) -> None:
    """Fail before anything starts, naming the port, rather than halfway through."""
    taken = [port for port in ports if not port_is_free(port)]
    if taken:
        raise SystemExit(
            f"make demo needs ports {min(ports)}-{max(ports)} on 127.0.0.1; taken: {', '.join(map(str, taken))}. "
            "Another sandbox, receiver or test may be using them: stop it (or wait a minute) and retry."
        )


def start_sandbox() -> SandboxProcess:
    args = ["--data-dir", str(DEMO_DIR / "sandbox"), *KEYS]
    for service, port in PORTS.items():
        args += ["--port", f"{service}={port}"]
    try:
        return start(*args, ready_file=DEMO_DIR / "ready.json", log_file=DEMO_DIR / "sandbox.log")
    except RuntimeError as exc:
        raise SystemExit(
            f"{exc}\nIs another sandbox already using ports {min(PORTS.values())}-{max(PORTS.values())}? Stop it and retry."
        ) from exc


def service_section(
    settings: ServiceSettings, log_name: str, section: str, receiving: str, body: Callable[[Service], datetime]
) -> datetime:
    """Start a service (`meltano run <tap> <target>`, until SIGTERM), run `body` with it, make sure it stopped;
    what `body` returns (the sandbox clock at the section's end)."""
    service = Service(MELTANO, REPO, ENVIRONMENT, settings, DEMO_DIR / log_name)
    try:
        ready = service.start()
        print(
            f"    meltano --environment={ENVIRONMENT} run {settings.tap} {settings.target}: a service (runs until "
            f"SIGTERM), {receiving} on port {settings.port} after {ready:.1f} s; its log: "
            f"{service.log_file.relative_to(REPO)}"
        )
        return body(service)
    except ServiceError as exc:
        raise SystemExit(f"{section}: {exc}") from exc
    finally:
        service.ensure_stopped()


def simulate_app(sandbox: SandboxProcess, story: dict[str, Any] | None) -> dict[str, Any]:
    """First run: three days of a new product's life. Later runs: the next twelve hours."""
    if story is None:
        begin = (datetime.now(UTC) - timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)
        story = {"runs": 0, "began": begin.isoformat(), "until": begin.isoformat(), "users": 0}
        params = {"seed": 42, **FIRST_RUN, "start": begin.isoformat()}
    else:
        params = {"seed": 42, "users": story["users"] + NEXT_RUN["new_users"], "returning_users": story["users"],
                  "events": NEXT_RUN["events"], "days": NEXT_RUN["days"], "start": story["clock"],
                  "chapter": story["runs"]}  # fmt: skip
    if story["runs"] == 0:
        sandbox.seed("brevo", lists=BREVO_LISTS)
    result = seed.seed_over_http(sandbox.info, params)
    story["runs"] += 1
    story["users"] = params["users"]
    story["until"] = result["end"]
    print(f"    the app sent {result['events']:,} events from {result['users']:,} users "
          f"({result['start'][:16]} .. {result['end'][:16]} UTC); cohorts: "
          + ", ".join(f"{name} {c['size']}" for name, c in result["cohorts"].items()))  # fmt: skip
    return story


def let_export_latency_pass(sandbox: SandboxProcess, story: dict[str, Any]) -> None:
    """Amplitude exports an hour ~2 h after it ends: move the sandbox clock past that."""
    until = datetime.fromisoformat(story["until"])
    ready_at = until.replace(minute=0, second=0, microsecond=0) + timedelta(hours=4, minutes=5)
    sandbox.admin("PUT", "clock", json={"now": ready_at.isoformat()})
    story["clock"] = ready_at.isoformat()  # the next chapter starts here: server time never goes back
    print(f"    sandbox clock set to {ready_at:%Y-%m-%d %H:%M} UTC (the export latency has passed)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--reset", action="store_true", help="forget earlier demo runs and start over")
    args = parser.parse_args(argv)
    started = time.monotonic()
    realtime = ServiceSettings.from_project(REPO, ENVIRONMENT)
    loop = ServiceSettings.from_project(REPO, ENVIRONMENT, tap="tap-brevo", target="target-amplitude")
    check_ports_free([*PORTS.values(), realtime.port, loop.port])
    if args.reset:
        start_over()
    story = load_story()
    if story is None:
        start_over()
    DEMO_DIR.mkdir(exist_ok=True)

    step("Installing the Meltano plugins (tap-amplitude, tap-amplitude-streaming, tap-brevo, target-brevo, "
         "target-amplitude)")  # fmt: skip
    meltano("install", "extractor", "tap-amplitude", "tap-amplitude-streaming", "tap-brevo", quiet=True)
    # target-brevo-realtime inherits target-brevo, and its venv
    meltano("install", "loader", "target-brevo", "target-amplitude", quiet=True)

    step("Starting the sandbox (Amplitude and Brevo emulators on 127.0.0.1)")
    sandbox = start_sandbox()
    try:
        chapter = (story or {}).get("runs", 0) + 1
        step(f"Chapter {chapter}: the simulated app sends events through Amplitude's HTTP V2 API")
        before = report.snapshot(sandbox)
        story = simulate_app(sandbox, story)
        let_export_latency_pass(sandbox, story)

        step(f"meltano --environment={ENVIRONMENT} run tap-amplitude target-brevo")
        run_started = time.monotonic()
        result = meltano(f"--environment={ENVIRONMENT}", "run", "tap-amplitude", "target-brevo", check=False,
                         env={"TAP_AMPLITUDE_START_DATE": story["began"]})  # fmt: skip
        seconds = time.monotonic() - run_started
        if result.returncode != 0:
            raise SystemExit(f"meltano run failed (exit {result.returncode}); see the log above")
        STORY.write_text(json.dumps(story, indent=2))

        step(f"What landed in Brevo (meltano run took {seconds:.1f} s)")
        report.print_report(sandbox, before, OUTPUT)

        step("Live: the app sends events now; Amplitude pushes them (Webhooks Streaming), they reach Brevo in seconds")
        live_started = time.monotonic()
        # The next chapter starts after the live events: the sandbox's server time never goes back.
        story["clock"] = service_section(
            realtime, "realtime.log", "live section", "receiving", lambda service: live.run(sandbox, service, chapter)
        ).isoformat()
        STORY.write_text(json.dumps(story, indent=2))
        print(f"    (the live section took {time.monotonic() - live_started:.1f} s)")

        step("Closed loop: a campaign to the power users; Brevo's webhooks bring opens and clicks back into Amplitude")
        loop_started = time.monotonic()
        story["clock"] = service_section(
            loop, "closed-loop.log", "closed loop", "receiving Brevo's webhooks",
            lambda service: closed_loop.run(sandbox, service, chapter, meltano, ENVIRONMENT),
        ).isoformat()  # fmt: skip
        STORY.write_text(json.dumps(story, indent=2))
        print(f"    (the closed loop took {time.monotonic() - loop_started:.1f} s)")
    finally:
        sandbox.stop()
    print(f"\nDemo finished in {time.monotonic() - started:.0f} s. Run `make demo` again for the next chapter "
          "(new events only); `make demo-reset` starts over.")  # fmt: skip


if __name__ == "__main__":
    main()
