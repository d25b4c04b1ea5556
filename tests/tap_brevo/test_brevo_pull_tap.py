"""tap-brevo pulling only (`receive_webhooks: false`), as a real process against a local fake of Brevo: STATE with
the bookmark, a re-run from it, SIGTERM during a rate-limit wait, a bad key."""

from __future__ import annotations

import signal
import time
from typing import Any

from brevo_fake import API_KEY, FakeBrevo
from brevo_support import STRICT_WARNINGS

pytestmark = STRICT_WARNINGS


def pull_config(fake: FakeBrevo, **extra: Any) -> dict[str, Any]:
    return {
        "receive_webhooks": False,
        "pull_transactional": True,
        "api_key": API_KEY,
        "api_url": fake.url,
        "start_date": "2024-03-01",
        "statistics_window_days": 90,
        "statistics_lookback_minutes": 0,
        **extra,
    }


def row(n: int, date: str, event: str = "delivered") -> dict[str, Any]:
    return {"date": date, "email": f"U{n}@example.com", "event": event, "messageId": f"<m{n}@relay>", "templateId": 2}


def test_pull_writes_its_bookmark_and_a_rerun_starts_from_it(brevo_tap, fake_brevo: FakeBrevo) -> None:
    fake_brevo.statistics = [row(1, "2024-03-02T10:00:00Z"), row(2, "2024-03-02T11:30:00.000+01:00", "clicks")]
    tap = brevo_tap(**pull_config(fake_brevo)).start(wait_listening=False)
    assert tap.wait_exit() == 0, tap.stderr
    assert [(r["event"], r["email"], r["event_time"]) for r in tap.records()] == [
        ("delivered", "u1@example.com", "2024-03-02T10:00:00.000+00:00"),
        ("click", "u2@example.com", "2024-03-02T10:30:00.000+00:00"),
    ]
    state = tap.states()[-1]
    assert state["bookmarks"]["statistics"] == {"event_time": "2024-03-02T10:30:00+00:00"}

    fake_brevo.calls.clear()
    fake_brevo.statistics.append(row(3, "2024-03-02T12:00:00Z", "opened"))
    tap.start(state=state, wait_listening=False)
    assert tap.wait_exit() == 0
    assert fake_brevo.calls[0].query["startDate"] == "2024-03-01"  # the bookmark's day, less one
    # The bookmark's own second is read again (the target's ledger drops the repeat); older rows are not.
    assert [r["email"] for r in tap.records()] == ["u2@example.com", "u3@example.com"]
    assert tap.states()[-1]["bookmarks"]["statistics"] == {"event_time": "2024-03-02T12:00:00+00:00"}
    assert API_KEY not in tap.stderr


def test_sigterm_cuts_a_rate_limit_wait_short(brevo_tap, fake_brevo: FakeBrevo) -> None:
    fake_brevo.statistics = [row(1, "2024-03-02T10:00:00Z")]
    fake_brevo.throttle_next = 100
    fake_brevo.smtp_reset = 600
    tap = brevo_tap(**pull_config(fake_brevo)).start(wait_listening=False)
    tap.wait_until(lambda: "rate limited (429)" in tap.stderr)
    started = time.monotonic()
    assert tap.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 5
    assert tap.records() == []
    assert all("statistics" not in state.get("bookmarks", {}) for state in tap.states())
    assert len(fake_brevo.calls) == 1


def test_a_bad_key_fails_the_run_with_one_line(brevo_tap, fake_brevo: FakeBrevo) -> None:
    tap = brevo_tap(**pull_config(fake_brevo, api_key="xkeysib-not-the-key")).start(wait_listening=False)
    assert tap.wait_exit() == 1
    assert "Brevo API: GET /smtp/statistics/events: 401 unauthorized Key not found" in tap.stderr
    assert "Traceback" not in tap.stderr and "xkeysib-not-the-key" not in tap.stderr
    nothing = brevo_tap(receive_webhooks=False).start(wait_listening=False)
    assert nothing.wait_exit() == 1
    assert "nothing to do: set receive_webhooks and/or pull_transactional" in nothing.stderr
