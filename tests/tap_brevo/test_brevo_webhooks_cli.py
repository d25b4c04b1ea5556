"""`tap-brevo-webhooks ensure/remove` against a local fake of Brevo's /webhooks: created once, then found by URL and
left alone or updated; removed; secrets never printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from brevo_fake import API_KEY, FakeBrevo
from brevo_support import TOKEN
from tap_brevo.webhooks_cli import SUBSCRIPTIONS

BASE = "https://hooks.example.com/brevo"


def cli(fake: FakeBrevo, tmp_path: Path, *args: str, **settings: Any) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"api_key": API_KEY, "api_url": fake.url, "auth_token": TOKEN, **settings}))
    done = subprocess.run(
        [sys.executable, "-m", "tap_brevo.webhooks_cli", *args, "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    for secret in (API_KEY, TOKEN, "s3cr:et"):
        assert secret not in done.stdout + done.stderr
    return done


def writes(fake: FakeBrevo) -> list[tuple[str, str]]:
    return [(call.method, call.path) for call in fake.calls if call.method != "GET"]


def test_ensure_creates_then_finds_its_own_by_url(fake_brevo: FakeBrevo, tmp_path: Path) -> None:
    fake_brevo.webhooks[77] = {"id": 77, "type": "transactional", "url": "https://elsewhere.example/hook",
                               "events": ["delivered"], "description": "someone else's"}  # fmt: skip
    fake_brevo.next_id = 100
    first = cli(fake_brevo, tmp_path, "ensure", "--url", BASE)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        f"created transactional webhook 100 -> {BASE}/transactional ({', '.join(SUBSCRIPTIONS['transactional'])})",
        f"created marketing webhook 101 -> {BASE}/marketing ({', '.join(SUBSCRIPTIONS['marketing'])})",
    ]
    created = fake_brevo.webhooks[100]
    assert (created["url"], created["auth"], created["type"]) == (
        f"{BASE}/transactional", {"type": "bearer", "token": TOKEN}, "transactional",
    )  # fmt: skip
    assert fake_brevo.webhooks[101]["events"] == list(SUBSCRIPTIONS["marketing"])

    fake_brevo.calls.clear()
    again = cli(fake_brevo, tmp_path, "ensure", "--url", BASE + "/")
    assert again.stdout.splitlines() == [
        f"transactional webhook 100 -> {BASE}/transactional is up to date",
        f"marketing webhook 101 -> {BASE}/marketing is up to date",
    ]
    assert writes(fake_brevo) == []
    assert fake_brevo.calls[0].query == {"type": "transactional"}

    fake_brevo.calls.clear()
    fewer = cli(fake_brevo, tmp_path, "ensure", "--url", BASE, "--type", "marketing", "--events", "opened,click")
    assert fewer.stdout.splitlines() == [f"updated marketing webhook 101 -> {BASE}/marketing (events)"]
    assert writes(fake_brevo) == [("PUT", "/webhooks/101")]
    assert fake_brevo.webhooks[101]["events"] == ["opened", "click"]

    fake_brevo.calls.clear()
    rotated = cli(fake_brevo, tmp_path, "ensure", "--url", BASE, "--type", "transactional", auth_token="new-token-9")
    assert rotated.stdout.splitlines() == [f"updated transactional webhook 100 -> {BASE}/transactional (auth)"]
    assert fake_brevo.webhooks[100]["auth"] == {"type": "bearer", "token": "new-token-9"}
    assert len(fake_brevo.webhooks) == 3

    fake_brevo.webhooks[100]["auth"] = {"type": "bearer"}  # an account that does not show the token back
    fake_brevo.calls.clear()
    hidden = cli(fake_brevo, tmp_path, "ensure", "--url", BASE, "--type", "transactional", auth_token="new-token-9")
    assert hidden.stdout.splitlines() == [f"transactional webhook 100 -> {BASE}/transactional is up to date"]
    assert writes(fake_brevo) == [], "a hidden token is not a reason to write every time"


def test_basic_auth_goes_in_the_url_and_remove_deletes_only_its_own(fake_brevo: FakeBrevo, tmp_path: Path) -> None:
    basic = {"auth_token": None, "basic_username": "brevo", "basic_password": "s3cr:et"}
    made = cli(fake_brevo, tmp_path, "ensure", "--url", BASE, "--type", "marketing", **basic)
    assert made.stdout.startswith(f"created marketing webhook 1 -> {BASE}/marketing (")
    assert fake_brevo.webhooks[1]["url"] == "https://brevo:s3cr%3Aet@hooks.example.com/brevo/marketing"
    assert "auth" not in fake_brevo.webhooks[1]
    assert cli(fake_brevo, tmp_path, "ensure", "--url", BASE, "--type", "marketing", **basic).stdout.endswith(
        "is up to date\n"
    )
    fake_brevo.webhooks[9] = {"id": 9, "type": "marketing", "url": "https://other.example/x", "events": ["opened"]}
    removed = cli(fake_brevo, tmp_path, "remove", "--url", BASE, **basic)
    assert removed.stdout.splitlines() == [
        f"no transactional webhook posts to {BASE}/transactional",
        f"removed marketing webhook 1 -> {BASE}/marketing",
    ]
    assert list(fake_brevo.webhooks) == [9]


def test_refusals(fake_brevo: FakeBrevo, tmp_path: Path) -> None:
    insecure = cli(fake_brevo, tmp_path, "ensure", "--url", "http://hooks.example.com/brevo")
    assert insecure.returncode == 1 and "--url must be an https:// URL" in insecure.stderr
    no_auth = cli(fake_brevo, tmp_path, "ensure", "--url", BASE, auth_token=None)
    assert no_auth.returncode == 1 and "the webhook needs credentials" in no_auth.stderr
    bad_key = cli(fake_brevo, tmp_path, "ensure", "--url", BASE, api_key="xkeysib-wrong")
    assert bad_key.returncode == 1 and "GET /webhooks: 401 unauthorized Key not found" in bad_key.stderr
    assert fake_brevo.webhooks == {}
