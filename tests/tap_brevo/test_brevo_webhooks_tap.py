"""tap-brevo receiving webhooks, as a real process: auth (bearer or basic), bodies kept whole or refused, durable
before the 200, records, STATE, resume after kill -9, SIGTERM; and both sources in one run (each event once)."""

from __future__ import annotations

import base64
import json
import re
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import requests
from brevo_fake import API_KEY
from brevo_support import (
    BEARER,
    STRICT_WARNINGS,
    TOKEN,
    marketing,
    spool_state,
    transactional,
)
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_brevo.events import from_statistics, from_webhook
from tap_brevo.tap import TapBrevo

pytestmark = STRICT_WARNINGS


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def run_cli(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "tap_brevo", *args], capture_output=True, check=True, text=True).stdout


def test_about_and_discover_need_no_config() -> None:
    settings = json.loads(run_cli("--about", "--format=json"))["settings"]["properties"]
    for name in ("auth_token", "basic_username", "basic_password", "api_key"):
        assert settings[name]["writeOnly"] is True
    for name in ("receive_webhooks", "pull_transactional", "idle_exit_seconds", "start_date", "contact_lookup",
                 "contact_attributes", "path_prefix", "spool_path", "delivered_state_file"):  # fmt: skip
        assert settings[name]["description"]
    (entry,) = json.loads(run_cli("--discover"))["streams"]
    assert (entry["tap_stream_id"], entry["key_properties"]) == ("email_events", ["event_id"])
    assert entry["schema"]["properties"]["event_time"]["format"] == "date-time"


def test_unauthorized_requests_get_401_and_nothing_is_kept(brevo_tap) -> None:
    tap = brevo_tap().start()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, basic("user", TOKEN)):
        for path in ("transactional", "marketing"):
            answer = tap.post(path, transactional(1), headers)
            assert (answer.status_code, answer.json()) == (401, {"error": "unauthorized"})
    assert tap.post("transactional", transactional(1), {"Authorization": f"bearer {TOKEN}"}).status_code == 200
    assert tap.stop() == 0
    assert tap.spool_seqs() == [1]
    assert len(tap.records()) == 1
    assert TOKEN not in tap.stderr


def test_basic_auth_from_the_webhook_url(brevo_tap) -> None:
    tap = brevo_tap(auth_token=None, basic_username="brevo", basic_password="p@ss:word").start()
    assert tap.post("marketing", marketing(1), basic("brevo", "wrong")).status_code == 401
    assert tap.post("marketing", marketing(1), basic("other", "p@ss:word")).status_code == 401
    assert tap.post("marketing", marketing(1), BEARER).status_code == 401  # no token configured
    # As a client sends the credentials of https://brevo:p%40ss%3Aword@host/...
    answer = requests.post(f"{tap.url}/brevo/marketing", json=marketing(2), auth=("brevo", "p@ss:word"), timeout=10)
    assert answer.status_code == 200
    assert tap.stop() == 0
    assert [r["email"] for r in tap.records()] == ["reader2@example.com"]
    assert "p@ss:word" not in tap.stderr and "basic auth expected" in tap.stderr


def test_no_credentials_means_no_receiver(brevo_tap) -> None:
    tap = brevo_tap(auth_token=None).start(wait_listening=False)
    assert tap.wait_exit() == 1
    assert "set auth_token, or basic_username and basic_password" in tap.stderr
    assert "Traceback" not in tap.stderr


def test_refused_bodies_leave_nothing(brevo_tap) -> None:
    tap = brevo_tap(max_body_bytes=3000).start()
    malformed = tap.post("transactional", b'{"event": ')
    assert malformed.status_code == 400 and malformed.json()["error"].startswith("malformed JSON")
    timeless = tap.post("marketing", {"event": "opened", "email": "x@y.io"})
    assert (timeless.status_code, timeless.json()) == (
        400,
        {"error": "no time: expected ts_epoch, ts_event, ts or date"},
    )
    assert tap.post("marketing", []).status_code == 400
    assert tap.post("marketing", [marketing(n) for n in range(30)]).status_code == 413
    assert tap.spool_seqs() == []
    assert tap.stop() == 0
    assert tap.records() == []


def test_a_bad_item_of_a_batch_is_skipped_and_the_others_kept(brevo_tap) -> None:
    tap = brevo_tap().start()
    mixed = tap.post("marketing", [marketing(1), {"event": "opened", "email": "x@y.io"}, 5, marketing(2)])
    assert (mixed.status_code, mixed.json()) == (200, {"accepted": 4})
    assert tap.stop() == 0
    assert sorted(r["email"] for r in tap.records()) == sorted([marketing(1)["email"], marketing(2)["email"]])
    assert "unreadable item (no time: expected ts_epoch, ts_event, ts or date): 1" in tap.stderr
    assert "unreadable item (expected an event object): 1" in tap.stderr
    counts = [int(n) for n in re.findall(r'"metric": ?"record_count", ?"value": ?(\d+)', tap.stderr)]
    assert sum(counts) == 2, "the SDK's record_count metric counts what the sources wrote"


def test_200_only_once_the_items_are_in_the_spool_file(brevo_tap) -> None:
    tap = brevo_tap().start()
    for n in range(1, 11):
        batch = [transactional(n, "request"), transactional(n, "delivered")]
        answer = tap.post("transactional", batch)
        assert (answer.status_code, answer.json()) == (200, {"accepted": 2})
        with sqlite3.connect(tap.spool_path) as connection:  # another connection: committed, not just queued
            kept = connection.execute("SELECT seq, kind, body FROM spool ORDER BY seq DESC LIMIT 2").fetchall()
        assert [(seq, kind) for seq, kind, _ in kept] == [(2 * n, "transactional"), (2 * n - 1, "transactional")]
        assert [orjson.loads(body) for _, _, body in kept[::-1]] == batch
    assert tap.stop() == 0


def test_every_spelling_single_and_batched_becomes_a_record(brevo_tap) -> None:
    tap = brevo_tap().start()
    bodies: list[tuple[str, Any]] = [
        ("transactional", transactional(1, "request")),
        (
            "transactional",
            [transactional(1, "delivered"), transactional(1, "unique_opened"), transactional(1, "click")],
        ),
        ("marketing", [marketing(1, "opened"), marketing(2, "hard_bounced"), marketing(3, "unsubscribe")]),
        ("marketing", {"event": "contact_deleted", "email": "gone@example.com", "id": 3, "ts": 1709373700}),
        ("transactional", transactional(9, "inbound_reply")),  # not a contract event: kept, then skipped
    ]
    for path, body in bodies:
        assert tap.post(path, body).status_code == 200
    tap.wait_until(lambda: len(tap.records()) == 8)
    assert tap.stop() == 0
    records = tap.records()
    assert [r["event"] for r in records] == [
        "request", "delivered", "unique_opened", "click", "opened", "hard_bounce", "unsubscribed", "contact_deleted",
    ]  # fmt: skip
    items = [(path, item) for path, body in bodies[:4] for item in (body if isinstance(body, list) else [body])]
    for record, (path, item) in zip(records, items, strict=True):
        expected = from_webhook(item, path, datetime.fromisoformat(record["received_at"]))
        assert record == expected
    assert "event inbound_reply: 1" in tap.stderr


def test_resume_after_kill_9_loses_nothing_acknowledged(brevo_tap) -> None:
    tap = brevo_tap(state_interval_seconds=0.2).start()
    for n in range(1, 6):
        assert tap.post("transactional", transactional(n)).status_code == 200
    tap.wait_until(lambda: bool(tap.states()) and tap.states()[-1]["bookmarks"]["spool"]["seq"] == 5)
    for n in range(6, 11):
        assert tap.post("transactional", transactional(n)).status_code == 200
    tap.stop(signal.SIGKILL)

    tap.start(state=spool_state(3))  # the target had delivered through seq 3
    tap.wait_until(lambda: len(tap.records()) == 7)
    assert tap.spool_seqs() == list(range(4, 11))
    assert tap.post("transactional", transactional(11)).status_code == 200
    tap.wait_until(lambda: len(tap.records()) == 8)
    assert tap.stop() == 0
    assert [r["message_id"] for r in tap.records()] == [transactional(n)["message-id"] for n in range(4, 12)]
    assert tap.states()[-1]["bookmarks"]["spool"] == {"seq": 11}


def test_sigterm_drains_and_exits_0(brevo_tap) -> None:
    tap = brevo_tap(state_interval_seconds=30).start()
    for n in range(1, 21):
        assert tap.post("marketing", marketing(n)).status_code == 200
    assert tap.stop(signal.SIGTERM) == 0
    assert len(tap.records()) == 20 and tap.states()[-1]["bookmarks"]["spool"] == {"seq": 20}
    assert "Stopping (SIGTERM)" in tap.stderr and "tap-brevo summary: 20 records (webhook 20)" in tap.stderr
    with pytest.raises(requests.ConnectionError):
        tap.post("marketing", marketing(21))


def test_both_sources_in_one_run_emit_each_event_once(brevo_tap, fake_brevo) -> None:
    hook = transactional(1, "delivered")
    hook_record = from_webhook(hook, "transactional", datetime.fromisoformat("2024-03-02T10:00:06+00:00"))
    fake_brevo.statistics = [
        {"date": "2024-03-02T10:00:05.000Z", "email": "user1@example.com", "event": "delivered",
         "messageId": hook["message-id"], "tag": "orders", "templateId": 7},  # the webhook's event
        {"date": "2024-03-02T10:00:07.000Z", "email": "user2@example.com", "event": "requests",
         "messageId": "<other@relay>", "templateId": 7},
    ]  # fmt: skip
    tap = brevo_tap(
        pull_transactional=True,
        api_key=API_KEY,
        api_url=fake_brevo.url,
        start_date="2024-03-01T00:00:00Z",
        statistics_window_days=90,
        idle_exit_seconds=3,
    ).start()
    assert tap.post("transactional", hook).status_code == 200
    assert tap.wait_exit() == 0
    records = tap.records()
    other = from_statistics(fake_brevo.statistics[1], datetime.fromisoformat("2024-03-02T10:00:08+00:00"))
    assert sorted(r["event_id"] for r in records) == sorted([hook_record["event_id"], other["event_id"]])
    windows = [(c.query["startDate"], c.query["endDate"]) for c in fake_brevo.calls_to("GET", "/smtp/statistics/")]
    assert windows[0] == ("2024-03-01", "2024-05-29")  # 90 days
    assert windows[-1][1] == datetime.now(UTC).date().isoformat()
    assert tap.states()[-1]["bookmarks"]["statistics"] == {"event_time": "2024-03-02T10:00:07+00:00"}
    assert "1 duplicates dropped" in tap.stderr
    assert API_KEY not in tap.stderr


# -- the SDK's standard tap tests (in process; idle_exit_seconds ends the sync) -------------------------------------

STANDARD_CONFIG: dict[str, Any] = {
    "auth_token": TOKEN,
    "port": 0,
    "spool_path": "placeholder",
    "idle_exit_seconds": 0.2,
}


@pytest.fixture(scope="module", autouse=True)
def standard_spool(tmp_path_factory: pytest.TempPathFactory) -> None:
    STANDARD_CONFIG["spool_path"] = str(tmp_path_factory.mktemp("standard") / "spool.sqlite3")


TestTapBrevo = get_tap_test_class(
    tap_class=TapBrevo,
    config=STANDARD_CONFIG,
    suite_config=SuiteConfig(ignore_no_records=True),
)
