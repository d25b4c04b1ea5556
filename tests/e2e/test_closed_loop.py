"""The closed loop end to end: `meltano run --force tap-brevo target-amplitude` as a service, Brevo's emulator
pushing campaign and transactional webhooks to it (every push twice, one push failing and retried on Brevo's
schedule), Amplitude's emulator read back through its Export API by insert_id; then the hourly pull
(`meltano run brevo-statistics-to-amplitude`) on the same ledger, throttling and a 413, and a bad token.

One sandbox and one Meltano project state for the module. The Amplitude emulator keeps every event it is sent
(`insert_id_window_days: 0`: no deduplication on its side), so an event exported twice was sent twice.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sandbox.process import SandboxProcess
from sandbox_per_test import SandboxForOneTest

from e2e.support import DEMO_ENVIRONMENT, MELTANO, REPO, Pipeline, stop_group, wait_for

TOKEN = "e2e-brevo-" + uuid.uuid4().hex
PLUGINS = ("tap-brevo", "tap-brevo-statistics", "target-amplitude", "target-amplitude-statistics")
INSTALLED = (("extractors", "tap-brevo"), ("loaders", "target-amplitude"))  # the others reuse these virtualenvs
READERS = [(f"Reader{i}@Example.com", f"amp-user-{i:03d}") for i in range(8)]  # on the list "Closed loop" (id 1)
HEAVY = ("heavy@example.com", "amp-heavy-reader")  # alone on the list "Heavy reader" (id 2)
EXT_IDS = {email.lower(): ext_id for email, ext_id in [*READERS, HEAVY]}
# target-amplitude's default event mapping (canonical Brevo event -> Amplitude event_type)
EVENT_TYPES = {
    "request": "Email Sent", "delivered": "Email Delivered", "opened": "Email Opened", "click": "Email Link Clicked",
    "hard_bounce": "Email Bounced", "soft_bounce": "Email Bounced", "spam": "Email Marked As Spam",
    "unsubscribed": "Email Unsubscribed", "blocked": "Email Blocked",
}  # fmt: skip
USER_PROPERTY_SETS = {"unsubscribed": "email_unsubscribed", "hard_bounce": "email_hard_bounced"}
MARKETING_SPELLINGS = {"unsubscribe": "unsubscribed"}


# -- expectations from the emulator's truth (the simulations' `events`), by the email_events contract ---------------


@dataclass(frozen=True)
class Expected:
    insert_id: str
    event: str  # canonical
    user_id: str
    seconds: int
    properties: dict[str, Any]


def _event_id(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _link_part(event: str, link: str | None) -> str:
    return f"|{link or ''}" if event == "click" else ""  # a link scanner clicks every link of a message at once


def expected_marketing(payload: dict[str, Any]) -> Expected | None:
    event = MARKETING_SPELLINGS.get(payload["event"], payload["event"])
    if event not in EVENT_TYPES:
        return None
    email, seconds = payload["email"].lower(), int(payload["ts_event"])
    properties = {
        "channel": "marketing", "campaign_id": payload["camp_id"], "campaign_name": payload["campaign name"],
        "tags": [payload["tag"]], "source": "webhook",
    }  # fmt: skip
    if payload.get("URL"):
        properties["link"] = payload["URL"]
    if payload.get("reason"):
        properties["reason"] = payload["reason"]
    insert_id = "brevo-" + _event_id(
        f"mk|{payload['camp_id']}|{email}|{event}|{seconds}{_link_part(event, payload.get('URL'))}"
    )
    return Expected(insert_id, event, EXT_IDS[email], seconds, properties)


def expected_transactional(payload: dict[str, Any], source: str = "webhook") -> Expected | None:
    event = payload["event"]
    if event not in EVENT_TYPES:
        return None
    seconds = int(payload["ts_epoch"]) // 1000
    properties = {
        "channel": "transactional", "template_id": payload.get("template_id"), "message_id": payload["message-id"],
        "subject": payload["subject"], "tags": payload["tags"], "source": source, "link": payload.get("link"),
        "reason": payload.get("reason"),
    }  # fmt: skip
    email, link = payload["email"].lower(), _link_part(event, payload.get("link"))
    insert_id = "brevo-" + _event_id(f"tx|{payload['message-id']}|{email}|{event}|{seconds}{link}")
    properties = {k: v for k, v in properties.items() if v is not None}
    return Expected(insert_id, event, EXT_IDS[email], seconds, properties)


def expectations(campaigns: list[dict[str, Any]], sends: list[dict[str, Any]]) -> dict[str, Expected]:
    found = [expected_marketing(e) for c in campaigns for e in c["events"]]
    found += [expected_transactional(e) for s in sends for e in s["events"]]
    return {e.insert_id: e for e in found if e is not None}


# -- the Amplitude side ---------------------------------------------------------------------------------------------


def exported(sandbox: SandboxProcess) -> list[dict[str, Any]]:
    """Every event the Export API returns for the day around the sandbox clock."""
    now = datetime.fromisoformat(sandbox.admin("GET", "clock")["now"]).astimezone(UTC)
    window = {"start": (now - timedelta(hours=6)).strftime("%Y%m%dT%H"), "end": (now + timedelta(hours=3)).strftime("%Y%m%dT%H")}  # fmt: skip
    response = requests.get(
        sandbox.amplitude["api"] + "/api/2/export",
        params=window,
        auth=(sandbox.amplitude["api_key"], sandbox.amplitude["secret_key"]),
        timeout=60,
    )
    if response.status_code == 404:  # nothing in the window
        return []
    assert response.status_code == 200, response.text
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    return [
        json.loads(line) for name in archive.namelist() for line in gzip.decompress(archive.read(name)).splitlines()
    ]


def brevo_insert_ids(sandbox: SandboxProcess) -> Counter[str]:
    return Counter(e["$insert_id"] for e in exported(sandbox) if str(e.get("$insert_id")).startswith("brevo-"))


def ingest_statuses(sandbox: SandboxForOneTest) -> Counter[str]:
    log = sandbox.requests_log("amplitude_ingest", limit=1_000_000)
    return Counter(str(call["status"]) for call in log["recent"] if call["path"] == "/2/httpapi")


def assert_each_arrived_once(exported_events: list[dict[str, Any]], wanted: dict[str, Expected]) -> dict[str, Any]:
    events = [e for e in exported_events if e.get("$insert_id") in wanted]
    counts = Counter(e["$insert_id"] for e in events)
    assert set(counts) == set(wanted), f"missing: {sorted(set(wanted) - set(counts))[:5]}"
    assert set(counts.values()) == {1}, [i for i, n in counts.items() if n > 1][:5]
    return {e["$insert_id"]: e for e in events}


# -- the module's pipeline ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(port: int) -> dict[str, Any] | None:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
    except requests.RequestException:
        return None


@dataclass
class Loop:
    p: Pipeline
    port: int
    service_env: dict[str, str]
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def sandbox(self) -> SandboxForOneTest:
        return self.p.sandbox  # type: ignore[return-value]

    @property
    def delivered_file(self) -> Path:
        return self.p.workdir / "brevo-delivered.json"

    def start_service(self) -> subprocess.Popen[str]:
        # --force, as the README's service does: after a hard kill Meltano still records the run as running
        service = self.p.start("run", "--force", "tap-brevo", "target-amplitude", **self.service_env)
        if not wait_for(lambda: health(self.port) is not None, timeout=120):
            stop_group(service, signal.SIGKILL)
            raise AssertionError(f"the receiver never answered /health:\n{service.stdout.read()[-5000:]}")  # type: ignore[union-attr]
        return service

    def webhooks_command(self, command: str) -> str:
        return self.p.run("invoke", f"tap-brevo:{command}", **self.service_env).stdout

    def simulate(self, kind: str, **body: Any) -> dict[str, Any]:
        return self.sandbox.admin("POST", f"brevo/simulate/{kind}", json=body)

    def deliveries(self) -> dict[str, Any]:
        return self.sandbox.admin("GET", "brevo/webhook-deliveries", limit=100_000)

    def move_clock(self, seconds: float) -> None:
        offset = self.sandbox.admin("GET", "clock")["offset_seconds"]
        self.sandbox.admin("PUT", "clock", json={"offset_seconds": offset + seconds})


def project_env(sandbox: SandboxProcess, work: Path, port: int) -> tuple[dict[str, str], dict[str, str]]:
    """(Meltano's environment for every command, the overrides of the service and its webhooks commands)."""
    base = {
        **os.environ,
        "MELTANO_ENVIRONMENT": DEMO_ENVIRONMENT,
        "MELTANO_DATABASE_URI": f"sqlite:///{work / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    service = {
        "TAP_BREVO_PORT": str(port),
        "TAP_BREVO_SPOOL_PATH": str(work / "brevo-spool.sqlite3"),
        "TAP_BREVO_DELIVERED_STATE_FILE": str(work / "brevo-delivered.json"),
        "TAP_BREVO_AUTH_TOKEN": TOKEN,
        "TAP_BREVO_API_URL": sandbox.brevo["api"],
        "TAP_BREVO_API_KEY": sandbox.brevo["api_key"],
        "TAP_BREVO_CONTACT_LOOKUP": "true",
        "TAP_BREVO_CONTACT_DIRECTORY_PATH": str(work / "brevo-contacts.sqlite3"),
        "TAP_BREVO_PUBLIC_URL": f"http://127.0.0.1:{port}/brevo",
        "TARGET_AMPLITUDE_API_URL": sandbox.amplitude["ingest"],
        "TARGET_AMPLITUDE_API_KEY": sandbox.amplitude["api_key"],
        "TARGET_AMPLITUDE_LEDGER_PATH": str(work / "amplitude-ledger.sqlite3"),
        "TARGET_AMPLITUDE_STATE_ACK_FILE": str(work / "brevo-delivered.json"),  # = tap-brevo's delivered_state_file
        "TARGET_AMPLITUDE_REJECTS_FILE": str(work / "amplitude-rejects.jsonl"),
        "TARGET_AMPLITUDE_SUMMARY_FILE": str(work / "amplitude-summary.json"),
        # Fractional settings from the environment (meltano.yml declares them as text)
        "TARGET_AMPLITUDE_FLUSH_INTERVAL_SECONDS": "0.5",
        "TARGET_AMPLITUDE_BACKOFF_BASE_SECONDS": "0.05",
        "TARGET_AMPLITUDE_THROTTLE_WAIT_SECONDS": "0.5",
    }
    return base, service


@pytest.fixture(scope="module")
def loop(sandbox_session: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> Loop:
    sandbox = SandboxForOneTest(sandbox_session)
    sandbox.reset()
    # What was ingested is exported at once; repeated insert_ids are kept (so a double send shows).
    sandbox.configure("amplitude", export_latency_hours=-1, insert_id_window_days=0)
    sandbox.seed("brevo", lists=["Closed loop", "Heavy reader"], contacts=[
        *({"email": email, "ext_id": ext_id, "listIds": [1]} for email, ext_id in READERS),
        {"email": HEAVY[0], "ext_id": HEAVY[1], "listIds": [2]},
    ])  # fmt: skip
    work = tmp_path_factory.mktemp("closed-loop")
    port = free_port()
    base, service = project_env(sandbox, work, port)
    # A .meltano of the module's own, the project's installed plugins linked in: its config files and catalogs are
    # not shared with other runs of the project on this machine, and `meltano install` (which empties
    # .meltano/run/<plugin>/) brings the plugins up to date without touching theirs.
    sys_dir = work / ".meltano"
    installed = {(kind, name): REPO / ".meltano" / kind / name for kind, name in INSTALLED}
    if not all((path / "venv").is_dir() for path in installed.values()):
        subprocess.run([MELTANO, "install", *PLUGINS], cwd=REPO, env=base, check=True, capture_output=True)
    for (kind, name), path in installed.items():
        (sys_dir / kind).mkdir(parents=True, exist_ok=True)
        (sys_dir / kind / name).symlink_to(path, target_is_directory=True)
    base["MELTANO_SYS_DIR_ROOT"] = str(sys_dir)
    subprocess.run([MELTANO, "install", *PLUGINS], cwd=REPO, env=base, check=True, capture_output=True)
    return Loop(Pipeline(sandbox, work, base), port, service)


@pytest.fixture(scope="module")
def webhooks_delivered(loop: Loop) -> Loop:
    """Scenario 1 played once: the service, the webhooks created twice, a campaign and transactional sends pushed
    with duplicates and one failed push retried on Brevo's schedule, the service stopped with SIGTERM."""
    r = loop.results
    service = loop.start_service()
    try:
        r["ensure"] = [loop.webhooks_command("ensure-webhooks") for _ in range(2)]
        r["webhooks"] = loop.sandbox.admin("GET", "brevo/webhooks")["webhooks"]
        # the first transactional push fails (503: Brevo retries at +10 min), every delivered push arrives twice
        loop.sandbox.fault(action="status", service="brevo_webhooks", path="/brevo/transactional", status=503)
        loop.sandbox.fault(action="duplicate", service="brevo_webhooks", path="/brevo/*", count=1_000_000)
        r["campaign"] = loop.simulate(
            "campaign", list_id=1, name="November news", tag="newsletter", seed=7, spread_seconds=600,
            rates={"hard_bounce": 0.15, "opened": 0.8, "click": 0.5, "unsubscribed": 0.3, "spam": 0.1},
        )  # fmt: skip
        r["transactional"] = loop.simulate(
            "transactional", emails=[e for e, _ in READERS[:4]], subject="Your receipt", template_id=12,
            tags=["receipt"], seed=3, spread_seconds=600, rates={"soft_bounce": 0.25, "opened": 1, "click": 0.5},
        )  # fmt: skip
        r["expected"] = expectations([r["campaign"]], [r["transactional"]])

        def failed_push() -> dict[str, Any] | None:
            return next((d for d in loop.deliveries()["deliveries"] if d["status"] == 503), None)

        assert wait_for(lambda: failed_push() is not None, timeout=30), loop.deliveries()["counters"]
        r["failed_push"] = failed_push()
        loop.move_clock(601)  # Brevo's first retry (+10 min) is due
        assert wait_for(lambda: (c := loop.deliveries()["counters"])["pending"] == 0
                        and c["delivered"] == c["submitted"], timeout=60), loop.deliveries()["counters"]  # fmt: skip
        r["deliveries"] = loop.deliveries()
        arrived = wait_for(lambda: set(r["expected"]) <= set(brevo_insert_ids(loop.sandbox)), timeout=90, every=1)
        assert arrived, f"{len(set(r['expected']) - set(brevo_insert_ids(loop.sandbox)))} events never arrived"
        # pruned while running: the target's delivered-state file covers every spooled item
        r["drained"] = wait_for(lambda: health(loop.port)["pending"] == 0, timeout=30)  # type: ignore[index]
        r["health"] = health(loop.port)
    finally:
        loop.sandbox.admin("DELETE", "faults")
        stop_group(service, signal.SIGTERM, timeout=60)  # what systemd or Kubernetes does
        r["output"] = service.stdout.read() if service.stdout else ""
        (loop.p.workdir / "service.log").write_text(r["output"])  # kept for a failure's diagnosis
    r["exported"] = exported(loop.sandbox)  # before the other scenarios add theirs
    summary = loop.p.workdir / "amplitude-summary.json"  # read now: the service's next run writes it again
    r["summary"] = json.loads(summary.read_text()) if summary.exists() else None
    r["delivered_state"] = json.loads(loop.delivered_file.read_text()) if loop.delivered_file.exists() else None
    return loop


@pytest.fixture(scope="module")
def running_service(webhooks_delivered: Loop) -> Iterator[Loop]:
    """The service again (after scenario 1 stopped it), for the throttling and bad-token scenarios."""
    service = webhooks_delivered.start_service()
    try:
        yield webhooks_delivered
    finally:
        stop_group(service, signal.SIGTERM, timeout=60)
        output = service.stdout.read() if service.stdout else ""
        (webhooks_delivered.p.workdir / "service-again.log").write_text(output)  # kept for a failure's diagnosis


def statistics_env(loop: Loop) -> dict[str, str]:
    """The hourly pull's plugins (inheriting tap-brevo's and target-amplitude's settings) on the sandbox and the
    webhook service's ledger."""
    work = loop.p.workdir
    return {
        "TAP_BREVO_STATISTICS_API_URL": loop.sandbox.brevo["api"],
        "TAP_BREVO_STATISTICS_API_KEY": loop.sandbox.brevo["api_key"],
        "TAP_BREVO_STATISTICS_AUTH_TOKEN": TOKEN,
        "TAP_BREVO_STATISTICS_CONTACT_LOOKUP": "true",
        "TAP_BREVO_STATISTICS_CONTACT_DIRECTORY_PATH": str(work / "brevo-contacts.sqlite3"),
        "TARGET_AMPLITUDE_STATISTICS_API_URL": loop.sandbox.amplitude["ingest"],
        "TARGET_AMPLITUDE_STATISTICS_API_KEY": loop.sandbox.amplitude["api_key"],
        "TARGET_AMPLITUDE_STATISTICS_LEDGER_PATH": loop.service_env["TARGET_AMPLITUDE_LEDGER_PATH"],  # one ledger
        "TARGET_AMPLITUDE_STATISTICS_REJECTS_FILE": str(work / "statistics-rejects.jsonl"),
        "TARGET_AMPLITUDE_STATISTICS_SUMMARY_FILE": str(work / "statistics-summary.json"),
    }


# -- the scenarios --------------------------------------------------------------------------------------------------


def test_every_pushed_engagement_event_reaches_amplitude_once(webhooks_delivered: Loop) -> None:
    loop, r = webhooks_delivered, webhooks_delivered.results
    # the webhooks: created by the first ensure, left alone by the second (found by URL)
    first, second = r["ensure"]
    assert "created transactional webhook" in first and "created marketing webhook" in first, first
    assert second.count("is up to date") == 2, second
    assert sorted((h["type"], h["url"]) for h in r["webhooks"]) == [
        ("marketing", f"http://127.0.0.1:{loop.port}/brevo/marketing"),
        ("transactional", f"http://127.0.0.1:{loop.port}/brevo/transactional"),
    ]
    assert TOKEN not in first + second

    # what the simulations made: every kind the default mapping sends, and some it skips
    kinds = Counter(e.event for e in r["expected"].values())
    assert {"delivered", "opened", "click", "unsubscribed", "hard_bounce", "request", "soft_bounce"} <= set(kinds)
    assert any(e["event"] == "unique_opened" for e in r["transactional"]["events"])  # not sent by default
    # Brevo's side: every delivered push sent twice, the failed one retried on its schedule
    counters = r["deliveries"]["counters"]
    assert counters["failed"] == 0 and counters["retried"] == 1
    assert counters["duplicates"] == counters["delivered"] == counters["submitted"]
    retried = [d for d in r["deliveries"]["deliveries"] if d["key"] == r["failed_push"]["key"] and d["status"] == 200]
    assert retried and all(d["attempt"] == 2 for d in retried), retried

    # Amplitude's side: each expected event once, and nothing else from Brevo
    found = assert_each_arrived_once(r["exported"], r["expected"])
    assert {e["$insert_id"] for e in r["exported"] if e["$insert_id"].startswith("brevo-")} == set(r["expected"])
    set_for = {
        (e.user_id, USER_PROPERTY_SETS[e.event]) for e in r["expected"].values() if e.event in USER_PROPERTY_SETS
    }
    for insert_id, want in r["expected"].items():
        got = found[insert_id]
        assert got["user_id"] == want.user_id and got["event_type"] == EVENT_TYPES[want.event], got
        assert got["event_properties"] == want.properties, (want, got["event_properties"])
        assert got["event_time"].startswith(datetime.fromtimestamp(want.seconds, UTC).strftime("%Y-%m-%d %H:%M:%S"))
        for event, prop in USER_PROPERTY_SETS.items():
            if want.event == event:
                assert got["user_properties"].get(prop) is True, got
            elif (want.user_id, prop) not in set_for:
                assert prop not in got["user_properties"], got  # only ever set by that user's own event

    print(f"closed loop: {len(r['expected'])} events ({dict(kinds)}) each once in Amplitude from "
          f"{counters['requests']} pushes ({counters['duplicates']} duplicates, {counters['retried']} retried)")  # fmt: skip
    # stopped cleanly, the spool drained through the target's delivered-state file
    assert r["drained"], r["health"]
    summary = r["summary"]
    assert summary is not None and summary["completed"] is True, r["output"][-5000:]
    assert summary["sent"] == len(r["expected"]) and summary["rejected"] == 0, summary
    assert r["delivered_state"]["bookmarks"]["spool"]["seq"] == r["health"]["last_seq"]
    assert TOKEN not in r["output"] and loop.sandbox.amplitude["api_key"] not in r["output"]


def test_the_pull_sends_only_what_no_webhook_brought(webhooks_delivered: Loop) -> None:
    loop = webhooks_delivered
    pushed_transactional = {
        i for i, e in loop.results["expected"].items() if e.properties["channel"] == "transactional"
    }
    before = brevo_insert_ids(loop.sandbox)
    removed = loop.webhooks_command("remove-webhooks")
    try:
        assert removed.count("removed") == 2, removed
        unheard = loop.simulate(
            "transactional", emails=[e for e, _ in READERS[5:8]], subject="Password reset", template_id=31,
            tags=["account"], seed=11, spread_seconds=300, rates={"opened": 1, "click": 1},
        )  # fmt: skip
        assert unheard["webhooks"] == []  # nobody to push to: only the report knows these
        expected = {
            e.insert_id: e for p in unheard["events"] if (e := expected_transactional(p, source="statistics")) is not None
        }  # fmt: skip
        loop.p.run("run", "brevo-statistics-to-amplitude", **statistics_env(loop))
    finally:
        loop.webhooks_command("ensure-webhooks")
    after = brevo_insert_ids(loop.sandbox)
    assert after - before == Counter(list(expected)), "the pull sent exactly the events no webhook brought"
    assert all(after[i] == 1 for i in pushed_transactional)
    found = assert_each_arrived_once(exported(loop.sandbox), expected)
    for insert_id, want in expected.items():
        got = found[insert_id]
        assert got["user_id"] == want.user_id and got["event_type"] == EVENT_TYPES[want.event], got
        assert got["event_properties"]["source"] == "statistics" and got["event_properties"]["message_id"]
    summary = json.loads((loop.p.workdir / "statistics-summary.json").read_text())
    mapped_pushed = len(pushed_transactional)
    assert summary["sent"] == len(expected) and summary["duplicates_skipped"] == mapped_pushed, summary
    print(f"pull: {summary['sent']} sent, {summary['duplicates_skipped']} already brought by the webhooks")


def test_throttling_and_a_413_still_deliver_every_event_once(running_service: Loop) -> None:
    loop = running_service
    sandbox = loop.sandbox
    sandbox.configure("amplitude", rate_limit_scale=0.01)  # HTTP V2: 30 eps -> 1, i.e. 30 per user per 30-s bucket
    try:
        now = datetime.fromisoformat(sandbox.admin("GET", "clock")["now"]).astimezone(UTC)
        bucket = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        sandbox.admin("PUT", "clock", json={"now": bucket.isoformat()})  # a fresh throttle bucket
        statuses_before = ingest_statuses(sandbox)
        # The first request is slow, so the others' events pile up behind it; the second, carrying them, gets 413
        # (a 413 on a request of one event would reject that event, as Amplitude means it: too large alone).
        sandbox.fault(action="latency", service="amplitude_ingest", path="/2/httpapi", latency_ms=4000)
        sandbox.fault(action="status", service="amplitude_ingest", path="/2/httpapi", status=413,
                      body={"code": 413, "error": "Payload too large"})  # fmt: skip

        def next_bucket_after_a_429() -> None:
            wait_for(lambda: ingest_statuses(sandbox)["429"] > statuses_before["429"], timeout=60, every=0.1)
            sandbox.admin("PUT", "clock", json={"now": (bucket + timedelta(seconds=31)).isoformat()})

        def campaign(n: int) -> dict[str, Any]:
            return loop.simulate("campaign", list_id=2, name=f"Daily tip {n}", tag="tips", seed=n, spread_seconds=20,
                                 rates={"opened": 1, "click": 1})  # fmt: skip

        mover = threading.Thread(target=next_bucket_after_a_429)
        mover.start()
        campaigns = [campaign(0)]
        assert wait_for(lambda: len(sandbox.admin("GET", "faults")["faults"]) == 1, timeout=30)  # the slow one is out
        campaigns += [campaign(n) for n in range(1, 12)]
        expected = expectations(campaigns, [])
        assert len(expected) == 36 and {e.user_id for e in expected.values()} == {HEAVY[1]}  # past 30 in a bucket
        arrived = wait_for(lambda: set(expected) <= set(brevo_insert_ids(sandbox)), timeout=90, every=1)
        mover.join(timeout=60)
        assert arrived, f"{len(set(expected) - set(brevo_insert_ids(sandbox)))} of 36 events never arrived"
        assert_each_arrived_once(exported(sandbox), expected)
        statuses = ingest_statuses(sandbox) - statuses_before
        assert statuses["413"] == 1 and statuses["429"] >= 1, statuses
        print(f"throttling: 36 events of one user, HTTP V2 answers {dict(statuses)}")
    finally:
        sandbox.admin("DELETE", "faults")
        sandbox.configure("amplitude", rate_limit_scale=1.0)


def test_a_bad_token_gets_401_and_nothing_is_kept(running_service: Loop) -> None:
    loop = running_service
    assert wait_for(lambda: health(loop.port)["pending"] == 0, timeout=30)  # type: ignore[index] # at rest first
    before_health, before_amplitude = health(loop.port), brevo_insert_ids(loop.sandbox)
    body = {"event": "opened", "email": READERS[0][0], "message-id": "<forged@example.com>", "subject": "x",
            "ts_epoch": int(time.time() * 1000)}  # fmt: skip
    url = f"http://127.0.0.1:{loop.port}/brevo/transactional"
    for headers in ({"Authorization": "Bearer wrong-" + TOKEN}, {"Authorization": "Basic d3Jvbmc6d3Jvbmc="}, {}):
        answer = requests.post(url, json=body, headers=headers, timeout=5)
        assert answer.status_code == 401 and answer.json() == {"error": "unauthorized"}, answer.text
        assert TOKEN not in answer.text
    time.sleep(2)  # a flush had every chance to happen
    after = health(loop.port)
    assert after["last_seq"] == before_health["last_seq"] and after["pending"] == before_health["pending"]  # type: ignore[index]
    assert brevo_insert_ids(loop.sandbox) == before_amplitude
