"""The demo's closed loop: a campaign goes to the power users' list (the cohort target-brevo keeps in sync), Brevo
pushes its deliveries, opens, clicks, bounces and unsubscribes to tap-brevo (webhooks), and target-amplitude makes
them Amplitude events on the same users' timelines: read back here through Amplitude's Export API.

The webhooks are created the way a user creates them, `meltano invoke tap-brevo:ensure-webhooks`, once per chapter
(it finds its own and changes nothing the second time).
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sandbox.process import SandboxProcess

from demo.report import table
from demo.service import Service, ServiceError

POWER_USERS_LIST = 11  # meltano.yml demo `lists`: power_users -> 11
RATES = {"delivered": 1.0, "opened": 0.6, "click": 0.25, "unsubscribed": 0.03, "hard_bounce": 0.02, "soft_bounce": 0.02}
PUSH_TIMEOUT_SECONDS = 60
POLL_SECONDS = 0.2
EXPORT_LATENCY = timedelta(hours=3)  # past the sandbox's export latency, as the next chapter needs anyway

Meltano = Callable[..., subprocess.CompletedProcess[str]]


def run(sandbox: SandboxProcess, service: Service, chapter: int, meltano: Meltano, environment: str) -> datetime:
    """The closed loop, with the service already started; returns the sandbox clock at its end."""
    settings = service.settings
    first_seq = service.wait_until_drained()["last_seq"]
    public_url = f"http://127.0.0.1:{settings.port}/brevo"
    ensure = meltano(
        f"--environment={environment}", "invoke", "tap-brevo:ensure-webhooks",
        env={"TAP_BREVO_PUBLIC_URL": public_url}, quiet=True, check=False,
    )  # fmt: skip
    if ensure.returncode != 0:
        raise ServiceError(f"tap-brevo:ensure-webhooks failed:\n{ensure.stdout}{ensure.stderr}")
    print(
        f"    meltano --environment={environment} invoke tap-brevo:ensure-webhooks (TAP_BREVO_PUBLIC_URL={public_url}):"
    )
    for line in ensure.stdout.strip().splitlines():
        print(f"      {line}")

    sent_at = _sandbox_now(sandbox)
    campaign = sandbox.admin(
        "POST", "brevo/simulate/campaign",
        json={"list_id": POWER_USERS_LIST, "name": f"Power users, chapter {chapter}", "tag": "demo",
              "rates": RATES, "seed": chapter, "spread_seconds": 1800},
    )  # fmt: skip
    brevo_events = Counter(event["event"] for event in campaign["events"])
    print(
        f"    Brevo sent campaign {campaign['campaign_id']} to {campaign['recipients']} power users (list "
        f"{POWER_USERS_LIST}): " + ", ".join(f"{name} {n}" for name, n in sorted(brevo_events.items()))
    )
    pushes = _wait_for_pushes(sandbox, service)
    drained = service.wait_until_drained(timeout=PUSH_TIMEOUT_SECONDS)
    stop_seconds = service.stop()
    summary = json.loads(settings.summary_file.read_text())
    if not summary.get("completed"):
        raise ServiceError(f"target-amplitude did not complete:\n{service.log_tail()}")
    print(
        f"    Brevo pushed them in {pushes['requests']} webhook requests; tap-brevo spooled "
        f"{drained['last_seq'] - first_seq} items (seq {first_seq + 1}-{drained['last_seq']}), 0 pending; stopped "
        f"with SIGTERM in {stop_seconds:.1f} s. target-amplitude: "
        f"{summary.get('sent', 0)} sent in {summary.get('requests', 0)} HTTP V2 requests, "
        f"{summary.get('skipped', 0)} skipped (no Amplitude event for them), {summary.get('rejected', 0)} rejected"
    )

    now = _sandbox_now(sandbox) + EXPORT_LATENCY
    sandbox.admin("PUT", "clock", json={"now": now.isoformat()})
    ours = [
        event
        for event in exported_events(sandbox, sent_at - timedelta(hours=1), now)
        if (event.get("event_properties") or {}).get("campaign_id") == campaign["campaign_id"]
    ]
    print(f"\n  Back in Amplitude (Export API, clock moved on {EXPORT_LATENCY.seconds // 3600} h for its latency):")
    counts = Counter(event["event_type"] for event in ours)
    print(table([[name, str(n)] for name, n in sorted(counts.items())], ["event_type", "events"]))
    print("\n  A few of them, on the users' own timelines (user_id = the contact's ext_id = the Amplitude user):")
    sample = sorted(ours, key=lambda e: (e["event_type"], e["user_id"]))[:: max(1, len(ours) // 5)][:5]
    rows = [
        [e["user_id"], e["event_type"], e["event_time"][:19], (e.get("event_properties") or {}).get("link") or ""]
        for e in sample
    ]
    print(table(rows, ["user_id", "event_type", "event_time", "link"]))
    unsubscribed = sum(1 for e in ours if (e.get("user_properties") or {}).get("email_unsubscribed") is True)
    print(f"    {unsubscribed} users now carry the user property email_unsubscribed = true")
    return now


def _wait_for_pushes(sandbox: SandboxProcess, service: Service) -> dict[str, Any]:
    """Until Brevo's emulator has pushed everything (pending 0); its delivery counters."""
    deadline = time.monotonic() + PUSH_TIMEOUT_SECONDS
    while True:
        counters = sandbox.admin("GET", "brevo/webhook-deliveries", limit=0)["counters"]
        if counters["pending"] == 0:
            return counters
        if time.monotonic() > deadline:
            raise ServiceError(f"Brevo's pushes still pending after {PUSH_TIMEOUT_SECONDS} s: {counters}\n"
                               + service.log_tail())  # fmt: skip
        time.sleep(POLL_SECONDS)


def exported_events(sandbox: SandboxProcess, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every event Amplitude's Export API gives for the hours from `start` to `end` (UTC)."""
    response = sandbox.http.get(
        sandbox.amplitude["api"] + "/api/2/export",
        params={"start": start.astimezone(UTC).strftime("%Y%m%dT%H"), "end": end.astimezone(UTC).strftime("%Y%m%dT%H")},
        auth=(sandbox.amplitude["api_key"], sandbox.amplitude["secret_key"]),
        timeout=120,
    )
    if response.status_code == 404:
        return []
    if response.status_code != 200:
        raise ServiceError(f"Amplitude's Export API answered {response.status_code}: {response.text[:200]}")
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    return [
        orjson.loads(line)
        for name in archive.namelist()
        for line in gzip.GzipFile(fileobj=io.BytesIO(archive.read(name))).read().splitlines()
        if line.strip()
    ]


def _sandbox_now(sandbox: SandboxProcess) -> datetime:
    return datetime.fromisoformat(sandbox.admin("GET", "clock")["now"])
