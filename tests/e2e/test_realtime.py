"""The real-time path end to end: `meltano run tap-amplitude-streaming target-brevo-realtime` as a service, the
sandbox's Amplitude pushing to it (Webhooks Streaming with duplicates, Cohort Webhooks), Brevo's emulator
receiving; then the hourly export over the same hours on the same ledger sends nothing again.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import requests

from e2e.support import Pipeline, stop_group, wait_for

SECRET = "Bearer e2e-" + uuid.uuid4().hex
MAPPINGS = {
    "EVENT_MAPPING": {"Sign Up": "customer_created", "Purchase": "order_completed"},
    "PROPERTY_MAPPING": {"email": "email", "first_name": "FIRSTNAME", "plan": "PLAN"},
    "LISTS": {"power_users": 11},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def realtime_env(p: Pipeline, port: int) -> dict[str, str]:
    """The streaming tap on `port` and target-brevo-realtime, sharing the export target's ledger."""
    work = p.workdir
    env = {
        "TAP_AMPLITUDE_STREAMING_SECRET": SECRET,
        "TAP_AMPLITUDE_STREAMING_PORT": str(port),
        "TAP_AMPLITUDE_STREAMING_SPOOL_PATH": str(work / "spool.sqlite3"),
        "TAP_AMPLITUDE_STREAMING_DELIVERED_STATE_FILE": str(work / "delivered.json"),
        "TAP_AMPLITUDE_STREAMING_MAX_BODY_BYTES": "200000",
        "TARGET_BREVO_REALTIME_API_URL": p.sandbox.brevo["api"],
        "TARGET_BREVO_REALTIME_API_KEY": p.sandbox.brevo["api_key"],
        "TARGET_BREVO_REALTIME_LEDGER_PATH": p.env["TARGET_BREVO_LEDGER_PATH"],  # one ledger for both paths
        "TARGET_BREVO_REALTIME_PRIVACY_STORE_PATH": p.env["TARGET_BREVO_PRIVACY_STORE_PATH"],
        "TARGET_BREVO_REALTIME_STATE_ACK_FILE": str(work / "delivered.json"),
        "TARGET_BREVO_REALTIME_SUMMARY_FILE": str(work / "realtime-summary.json"),
        "TARGET_BREVO_REALTIME_REJECTS_FILE": str(work / "realtime-rejects.jsonl"),
    }
    for setting, value in MAPPINGS.items():
        env[f"TARGET_BREVO_REALTIME_{setting}"] = json.dumps(value)
        env[f"TARGET_BREVO_{setting}"] = json.dumps(value)
    return env


def start_service(p: Pipeline, env: dict[str, str]) -> subprocess.Popen[str]:
    # --force, as the README's service does: after a hard kill Meltano still records the run as running
    service = p.start("run", "--force", "tap-amplitude-streaming", "target-brevo-realtime", **env)
    port = env["TAP_AMPLITUDE_STREAMING_PORT"]
    assert wait_for(lambda: health(port) is not None, timeout=120), "the receiver never answered /health"
    return service


def health(port: str) -> dict | None:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
    except requests.RequestException:
        return None


def sandbox_now_ms(p: Pipeline) -> int:
    return int(datetime.fromisoformat(p.sandbox.admin("GET", "clock")["now"]).timestamp() * 1000)


def ingest(p: Pipeline, events: list[dict[str, Any]]) -> float:
    """Send events through Amplitude's HTTP V2 API; returns when it accepted them."""
    response = requests.post(
        p.sandbox.amplitude["ingest"] + "/2/httpapi",
        json={"api_key": p.sandbox.amplitude["api_key"], "events": events},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return time.monotonic()


def event(p: Pipeline, user: str, event_type: str, **fields: Any) -> dict[str, Any]:
    return {"user_id": user, "event_type": event_type, "insert_id": str(uuid.uuid4()), "time": sandbox_now_ms(p),
            **fields}  # fmt: skip


def brevo_events(p: Pipeline) -> Counter:
    return Counter((e["event_name"], e.get("contact_id")) for e in p.all_pages("events", "events"))


def destinations(p: Pipeline, port: int, *, duplicate_rate: float, cohort_ids: list[str] | None = None) -> None:
    base = f"http://127.0.0.1:{port}/amplitude"
    headers = {"Authorization": SECRET}
    p.sandbox.admin("POST", "amplitude/destinations/webhook", json={
        "url": base + "/stream", "headers": headers, "push_delay_seconds": 0, "send_users": True,
        "duplicate_rate": duplicate_rate,
    })  # fmt: skip
    if cohort_ids:
        p.sandbox.admin("POST", "amplitude/destinations/cohort-webhook", json={
            "url": base + "/cohorts", "headers": headers, "cohort_ids": cohort_ids, "cadence": "realtime",
        })  # fmt: skip


def upload_cohort(p: Pipeline, name: str, user_ids: list[str]) -> str:
    body = {"name": name, "app_id": p.sandbox.admin("GET", "amplitude/config")["project_id"], "id_type": "BY_USER_ID",
            "ids": user_ids, "owner": "e2e@example.com", "published": True}  # fmt: skip
    response = requests.post(
        p.sandbox.amplitude["api"] + "/api/3/cohorts/upload",
        json=body,
        auth=(p.sandbox.amplitude["api_key"], p.sandbox.amplitude["secret_key"]),
        timeout=30,
    )
    return response.json()["cohortId"]


def change_cohort(p: Pipeline, cohort_id: str, operation: str, user_ids: list[str]) -> None:
    body = {"cohort_id": cohort_id, "memberships": [{"ids": user_ids, "id_type": "BY_NAME", "operation": operation}]}
    requests.post(
        p.sandbox.amplitude["api"] + "/api/3/cohorts/membership",
        json=body,
        auth=(p.sandbox.amplitude["api_key"], p.sandbox.amplitude["secret_key"]),
        timeout=30,
    ).raise_for_status()


def compute_cohorts(p: Pipeline) -> None:
    p.sandbox.admin("POST", "amplitude/destinations/cohort-webhook/compute", json={"region": "us"})


def test_events_users_orders_and_cohort_changes_reach_brevo_within_seconds_each_once(pipeline: Pipeline) -> None:
    p = pipeline
    p.sandbox.configure("amplitude", cohort_request_seconds=0)
    port = free_port()
    env = realtime_env(p, port)
    service = start_service(p, env)
    try:
        users = [f"rt-user-{i}" for i in range(3)]
        destinations(p, port, duplicate_rate=1.0)  # every push twice
        identifies = [
            event(p, u, "$identify", user_properties={"$set": {"email": f"{u}@example.com", "first_name": f"N{i}",
                                                               "plan": "pro"}})
            for i, u in enumerate(users)
        ]  # fmt: skip
        ingest(p, identifies)
        cohort_id = upload_cohort(p, "power_users", users[:2])  # of users Amplitude knows
        destinations(p, port, duplicate_rate=1.0, cohort_ids=[cohort_id])
        accepted = ingest(p, [event(p, u, "Sign Up") for u in users])
        purchase = {"price": 19.5, "quantity": 2, "revenue": 39.0, "productId": "sku-1", "revenueType": "purchase"}
        ingest(p, [event(p, users[0], "Purchase", **purchase), event(p, users[1], "Purchase", **purchase)])

        assert wait_for(lambda: sum(brevo_events(p).values()) >= 5, timeout=60), brevo_events(p)
        latency = time.monotonic() - accepted
        time.sleep(3)  # the duplicates had every chance to arrive
        landed = brevo_events(p)
        assert sum(landed.values()) == 5 and set(landed.values()) == {1}, landed
        assert p.sandbox.admin("GET", "amplitude/deliveries", limit=1)["counters"]["duplicates"] >= 5
        print(f"real-time: 3 sign-ups in Brevo {latency:.1f} s after HTTP V2 accepted them")

        assert wait_for(lambda: p.brevo("stats")["contacts"] == 3, timeout=30)
        contact = p.brevo(f"contacts/{users[0]}@example.com")
        assert contact["attributes"]["FIRSTNAME"] == "N0" and contact["attributes"]["PLAN"] == "pro"
        assert wait_for(lambda: len(p.all_pages("orders", "orders")) == 2, timeout=30)
        assert all(o["historical"] is False for o in p.all_pages("orders", "orders")), "live orders fire automations"

        compute_cohorts(p)
        assert wait_for(lambda: p.list_members(11) == set(users[:2]), timeout=30), p.list_members(11)
        change_cohort(p, cohort_id, "REMOVE", [users[1]])
        change_cohort(p, cohort_id, "ADD", [users[2]])
        compute_cohorts(p)
        assert wait_for(lambda: p.list_members(11) == {users[0], users[2]}, timeout=30), p.list_members(11)

        # Refused with the reason, nothing kept
        before = health(str(port))
        stream = f"http://127.0.0.1:{port}/amplitude/stream"
        assert (
            requests.post(
                stream, json={"event_type": "x"}, headers={"Authorization": "Bearer no"}, timeout=5
            ).status_code
            == 401
        )
        bad = requests.post(stream, data=b"{not json", headers={"Authorization": SECRET}, timeout=5)
        assert bad.status_code == 400 and bad.json()["error"]
        big = requests.post(stream, data=b"[" + b"1," * 150_000 + b"1]", headers={"Authorization": SECRET}, timeout=5)
        assert big.status_code == 413
        assert health(str(port))["last_seq"] == before["last_seq"]  # type: ignore[index]
    finally:
        stop_group(service, signal.SIGTERM, timeout=60)  # what systemd or Kubernetes does
        output = service.stdout.read() if service.stdout else ""
    # Stopped cleanly: the tap drained its spool, the target finished its input and emitted the last STATE.
    # (Meltano itself reports the signal: "The process was terminated".)
    realtime_summary = json.loads((p.workdir / "realtime-summary.json").read_text())
    assert realtime_summary["completed"] is True, output[-5000:]
    assert json.loads((p.workdir / "delivered.json").read_text())["bookmarks"]["spool"]["seq"] == before["last_seq"]  # type: ignore[index]

    # The hourly export over the same hours, on the same ledger: nothing is sent twice.
    clock = datetime.fromisoformat(p.sandbox.admin("GET", "clock")["now"])
    p.advance_past(clock)
    p.env["TAP_AMPLITUDE_START_DATE"] = (clock - timedelta(hours=2)).isoformat()
    p.run("run", "tap-amplitude", "target-brevo", TAP_AMPLITUDE_COHORT_IDS='["power_users"]',
          **{k: v for k, v in env.items() if k.startswith("TARGET_BREVO_")})  # fmt: skip
    export_summary = json.loads((p.workdir / "summary.json").read_text())
    assert export_summary["event_types"]["Sign Up"]["seen"] == 3
    assert export_summary["event_types"]["Sign Up"].get("sent", 0) == 0
    assert sum(brevo_events(p).values()) == 5


def test_a_killed_pipeline_loses_no_acknowledged_event(pipeline: Pipeline) -> None:
    p = pipeline
    port = free_port()
    env = realtime_env(p, port)
    service = start_service(p, env)
    destinations(p, port, duplicate_rate=0.0)
    users = [f"kill-user-{i}" for i in range(5)]
    ingest(p, [event(p, u, "$identify", user_properties={"$set": {"email": f"{u}@example.com"}}) for u in users])
    sent = 0
    for _round in range(4):
        ingest(p, [event(p, u, "Sign Up") for u in users] + [event(p, u, "Purchase", price=1.0) for u in users])
        sent += 10
    os_kill_group(service)
    # Amplitude keeps pushing while the service is down: those pushes fail and are retried later.
    ingest(p, [event(p, u, "Purchase", price=2.0) for u in users])
    sent += 5
    service = start_service(p, env)
    try:
        offset = p.sandbox.admin("GET", "clock")["offset_seconds"]
        p.sandbox.admin("PUT", "clock", json={"offset_seconds": offset + 60})  # the failed pushes' retry is due
        assert wait_for(lambda: sum(brevo_events(p).values()) >= sent, timeout=90), sum(brevo_events(p).values())
        time.sleep(2)
        names = Counter(e["event_name"] for e in p.all_pages("events", "events"))
        assert names["customer_created"] >= 20 and names["order_completed"] >= 25
        # at most the one batch that was in flight at the kill is repeated (Brevo events have no idempotency key)
        assert sum(names.values()) - sent <= 200
    finally:
        stop_group(service, signal.SIGTERM, timeout=60)


def os_kill_group(proc: subprocess.Popen[str]) -> None:
    stop_group(proc, signal.SIGKILL, timeout=30)
