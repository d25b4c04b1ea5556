"""tap-brevo against the sandbox's Brevo emulator: `tap-brevo-webhooks ensure` registers the tap's endpoints
(validated against the official spec, idempotent), a simulated transactional send pushes Brevo's webhooks to the
running tap, every simulated event becomes one record; the statistics pull of the same events gives the same
event_ids; a simulated campaign's events arrive on the marketing endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from brevo_support import STRICT_WARNINGS
from tap_brevo.events import canonical_webhook_event

pytestmark = STRICT_WARNINGS

RATES = {"opened": 0.6, "click": 0.3, "hard_bounce": 0.1, "soft_bounce": 0.1, "unsubscribed": 0.1}


def ensure(sandbox: Any, tmp_path: Path, url: str, *extra: str) -> str:
    config = tmp_path / "hooks-config.json"
    config.write_text(json.dumps({"api_key": sandbox.brevo["api_key"], "api_url": sandbox.brevo["api"],
                                  "auth_token": "sandbox-hook-token-1"}))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "tap_brevo.webhooks_cli", "ensure", "--url", url, "--config", str(config), *extra],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def brevo_post(sandbox: Any, path: str, body: dict[str, Any]) -> Any:
    answer = requests.post(sandbox.brevo["api"] + path, json=body, headers={"api-key": sandbox.brevo["api_key"]},
                           timeout=30)  # fmt: skip
    assert answer.status_code < 300, answer.text
    return answer.json() if answer.content else None


def test_webhooks_and_pull_against_the_sandbox(sandbox, brevo_tap, tmp_path: Path) -> None:
    tap = brevo_tap(
        auth_token="sandbox-hook-token-1",
        contact_lookup=True,
        contact_attributes=["FIRSTNAME"],
        api_key=sandbox.brevo["api_key"],
        api_url=sandbox.brevo["api"],
    ).start()
    base = f"{tap.url}/brevo"
    folder = brevo_post(sandbox, "/contacts/folders", {"name": "tap-brevo"})
    list_id = brevo_post(sandbox, "/contacts/lists", {"name": "Readers", "folderId": folder["id"]})["id"]
    for n in range(10):
        contact = {"email": f"reader{n}@example.com", "ext_id": f"amp-user-{n}", "attributes": {"FIRSTNAME": f"R{n}"}}
        brevo_post(sandbox, "/contacts", {**contact, "listIds": [list_id]})
        time.sleep(0.15)  # the /contacts bucket: 10 requests/s
    assert ensure(sandbox, tmp_path, base).count("created") == 2
    assert ensure(sandbox, tmp_path, base).count("is up to date") == 2

    emails = [f"buyer{n}@example.com" for n in range(40)]
    sent = sandbox.admin("POST", "brevo/simulate/transactional", json={
        "emails": emails, "subject": "Receipt", "template_id": 5, "tags": ["receipts"], "rates": RATES,
        "seed": 7, "spread_seconds": 30,
    })  # fmt: skip
    campaign = sandbox.admin("POST", "brevo/simulate/campaign", json={
        "list_id": list_id, "name": "Autumn", "rates": {"opened": 0.5, "click": 0.2}, "seed": 3, "spread_seconds": 30,
    })  # fmt: skip
    expected = len(sent["events"]) + len(campaign["events"])
    tap.wait_until(lambda: len(tap.records()) >= expected, timeout=60)
    assert tap.stop() == 0
    records = tap.records()
    assert len(records) == expected == len({r["event_id"] for r in records})
    assert Counter(r["event"] for r in records) == Counter(
        canonical_webhook_event(e["event"]) for e in sent["events"] + campaign["events"]
    )
    marketing = [r for r in records if r["channel"] == "marketing"]
    assert {r["campaign_id"] for r in marketing} == {campaign["campaign_id"]}
    assert {r["campaign_name"] for r in marketing} == {"Autumn"}
    # Enrichment: the readers are contacts with an ext_id; the transactional buyers are not contacts at all.
    for record in marketing:
        n = record["email"].removeprefix("reader").removesuffix("@example.com")
        assert (record["ext_id"], record["contact_attributes"]) == (f"amp-user-{n}", {"FIRSTNAME": f"R{n}"})
        assert isinstance(record["contact_id"], int)
    assert {(r["ext_id"], r["contact_attributes"]) for r in records if r["channel"] == "transactional"} == {
        (None, None)
    }
    calls = sandbox.requests_log("brevo")["counts"]["brevo"]
    # The directory: one page of GET /contacts for all of them (again, at most every 30 s, for an email it lacks),
    # never one call per email.
    assert 1 <= calls["GET /v3/contacts"] <= 2 and "GET /v3/contacts/{identifier}" not in calls
    webhook_ids = {r["event_id"]: r for r in records if r["channel"] == "transactional"}
    assert all(r["event_time"].endswith("+00:00") and r["tags"] == ["receipts"] for r in webhook_ids.values())

    # The report of the same transactional events: the same event_ids, in a pull-only run.
    puller = brevo_tap(
        receive_webhooks=False,
        pull_transactional=True,
        api_key=sandbox.brevo["api_key"],
        api_url=sandbox.brevo["api"],
        start_date=(datetime.now(UTC) - timedelta(days=2)).isoformat(),
    ).start(wait_listening=False)
    assert puller.wait_exit() == 0, puller.stderr
    pulled = puller.records()
    assert pulled and {r["source"] for r in pulled} == {"statistics"}
    missing = [r for r in pulled if r["event_id"] not in webhook_ids]
    assert missing == []
    for record in pulled:
        hook = webhook_ids[record["event_id"]]
        assert (record["event"], record["message_id"], record["email"]) == (hook["event"], hook["message_id"],
                                                                           hook["email"])  # fmt: skip
    assert puller.states()[-1]["bookmarks"]["statistics"]["event_time"]
    assert sandbox.brevo["api_key"] not in puller.stderr + tap.stderr
