"""An erasure end to end: a user deleted through Amplitude's User Privacy API leaves Brevo on the next
`meltano run` and never comes back: not on a re-run, not on a backfill of the hours that hold them, not
through the real-time path."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from datetime import datetime, timedelta

import requests

from e2e.support import Pipeline, stop_group, wait_for
from e2e.test_realtime import destinations, event, free_port, ingest, realtime_env, start_service

ERASED, KEPT = "erase-me", "keep-me"
TARGET = {
    "MELTANO_ENVIRONMENT": "dev",  # the user's own mappings (and no demo cohorts)
    "TARGET_BREVO_EVENT_MAPPING": json.dumps({"Sign Up": "customer_created", "Purchase": "order_completed"}),
    "TARGET_BREVO_SEND_OLD_EVENTS": "true",  # the export sees these events hours later: send them anyway
}


def brevo_api(p: Pipeline, path: str) -> requests.Response:
    """Brevo's own API (not the sandbox's admin view)."""
    return requests.get(p.sandbox.brevo["api"] + path, headers={"api-key": p.sandbox.brevo["api_key"]}, timeout=10)


def emails_in_brevo(p: Pipeline) -> set[str]:
    return {c["email"] for c in brevo_api(p, "/contacts?limit=1000").json()["contacts"]}


def events_of(p: Pipeline) -> Counter:
    return Counter(e["identifiers"].get("email_id") for e in p.all_pages("events", "events"))


def request_deletion(p: Pipeline, user_id: str) -> dict:
    amplitude = p.sandbox.amplitude
    for _attempt in range(5):  # 1 request/s per project: the tap's last listing may have just used the second
        response = requests.post(
            amplitude["api"] + "/api/2/deletions/users",
            json={"user_ids": [user_id], "requester": "privacy@company.example", "include_mapped_user_ids": True},
            auth=(amplitude["api_key"], amplitude["secret_key"]),
            timeout=10,
        )
        if response.status_code != 429:
            break
        time.sleep(1.1)
    assert response.status_code == 200, response.text
    return response.json()


def summary(p: Pipeline, name: str = "summary.json") -> dict:
    return json.loads((p.workdir / name).read_text())


def test_an_erased_user_leaves_brevo_and_never_comes_back(pipeline: Pipeline) -> None:
    p = pipeline
    identify = [
        event(p, u, "$identify", user_properties={"$set": {"email": f"{u}@example.com", "first_name": u}})
        for u in (ERASED, KEPT)
    ]
    ingest(p, identify + [event(p, u, "Sign Up") for u in (ERASED, KEPT)])
    clock = datetime.fromisoformat(p.sandbox.admin("GET", "clock")["now"])
    p.env["TAP_AMPLITUDE_START_DATE"] = (clock - timedelta(hours=2)).isoformat()
    p.advance_past(clock)
    p.run("run", "tap-amplitude", "target-brevo", **TARGET)
    assert {f"{ERASED}@example.com", f"{KEPT}@example.com"} <= emails_in_brevo(p)
    signups = events_of(p)
    assert signups[f"{ERASED}@example.com"] == 1

    # The privacy team deletes the user in Amplitude; the next scheduled run erases them from Brevo.
    job = request_deletion(p, ERASED)
    assert job["status"] == "staging" and len(job["amplitude_ids"]) == 1
    p.run("run", "tap-amplitude", "target-brevo", **TARGET)
    erasure = summary(p)["objects"]["deletions"]
    assert erasure["erased"] == 1 and erasure["contacts_deleted"] == 1, erasure
    assert brevo_api(p, f"/contacts/{ERASED}@example.com").status_code == 404
    assert f"{ERASED}@example.com" not in emails_in_brevo(p)
    assert f"{KEPT}@example.com" in emails_in_brevo(p)
    rejected = (p.workdir / "rejects.jsonl").read_text()
    assert ERASED not in rejected and ERASED not in json.dumps(summary(p))

    # A re-run lists the job again (its status moves on for weeks): nothing more happens.
    p.run("run", "tap-amplitude", "target-brevo", **TARGET)
    assert summary(p)["objects"]["deletions"] == {"already_erased": 1}
    assert f"{ERASED}@example.com" not in emails_in_brevo(p)

    # A backfill of the hours that hold the user's identify and events, under its own state id.
    p.run("run", "--state-id-suffix=backfill", "tap-amplitude", "target-brevo", **TARGET)
    backfill = summary(p)["objects"]
    assert backfill["contacts"]["dropped_erased"] == 1 and backfill["events"]["dropped_erased"] >= 1, backfill
    assert f"{ERASED}@example.com" not in emails_in_brevo(p)
    assert events_of(p) == signups, "no event of the erased user was sent again (nor any other)"

    # The real-time path shares the privacy store: the user's new activity is dropped there too.
    port = free_port()
    service = start_service(p, {**realtime_env(p, port), **TARGET})
    try:
        destinations(p, port, duplicate_rate=0.0)
        ingest(p, [event(p, u, "Purchase", price=5.0, user_properties={"email": f"{u}@example.com"})
                   for u in (ERASED, KEPT)])  # fmt: skip
        assert wait_for(lambda: events_of(p)[f"{KEPT}@example.com"] == 2, timeout=60), events_of(p)
        time.sleep(2)  # the erased user's push arrived with the other one
    finally:
        stop_group(service, signal.SIGTERM, timeout=60)
    realtime = summary(p, "realtime-summary.json")["objects"]
    assert realtime["events"]["dropped_erased"] == 1, realtime
    assert events_of(p)[f"{ERASED}@example.com"] == 1
    assert f"{ERASED}@example.com" not in emails_in_brevo(p)
