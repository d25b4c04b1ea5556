"""Amplitude ingestion limits over HTTP: HTTP V2 30 events/s per user or device, Batch 1,000/s and the daily
quota of 500,000 per user or device per rolling 24 hours (scaled by `rate_limit_scale`), and the 413 bodies."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.process import SandboxProcess
from test_amplitude_support import ingest, sandbox_now


def set_clock(sb: SandboxProcess, moment: datetime) -> None:
    sb.admin("PUT", "clock", json={"now": moment.isoformat()})


def bucket_start(sb: SandboxProcess) -> datetime:
    """The clock moved to the start of a 30-second throttle bucket (a test then has 30 seconds in it)."""
    moment = sandbox_now(sb).astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    set_clock(sb, moment)
    return moment


def events_of(user: str, n: int, prefix: str = "e") -> list[dict[str, Any]]:
    return [{"user_id": user, "event_type": "Tick", "insert_id": f"{prefix}-{user}-{i}"} for i in range(n)]


def device_of(user: str) -> str:
    return hashlib.md5(user.encode()).hexdigest()  # what Amplitude derives when no device_id is sent


def test_http_v2_throttles_a_user_past_30_events_per_second(sandbox: SandboxProcess) -> None:
    bucket_start(sandbox)
    assert ingest(sandbox, events_of("heavy-user", 900)).status_code == 200  # 30/s over 30 s exactly
    response = ingest(sandbox, events_of("light-user", 2, "x") + events_of("heavy-user", 1, "y"))
    assert response.status_code == 429
    assert response.json() == {
        "code": 429,
        "error": "Too many requests for some devices and users",
        "eps_threshold": 30,
        "throttled_devices": {device_of("heavy-user"): 31},
        "throttled_users": {"heavy-user": 31},
        "throttled_events": [2],
    }
    assert ingest(sandbox, events_of("light-user", 2, "x")).status_code == 200  # the others go through


def test_batch_takes_the_same_volume_under_1000_per_second(sandbox: SandboxProcess) -> None:
    bucket_start(sandbox)
    assert ingest(sandbox, events_of("heavy-user", 1500), path="/batch").status_code == 200
    assert ingest(sandbox, events_of("heavy-user", 1, "y"), path="/batch").status_code == 200
    # each API counts its own events (a chosen convention: Amplitude documents the two limits apart)
    assert ingest(sandbox, events_of("heavy-user", 900, "z")).status_code == 200
    assert ingest(sandbox, events_of("heavy-user", 1, "w")).status_code == 429


def test_the_next_bucket_lifts_the_http_v2_throttle(sandbox: SandboxProcess) -> None:
    start = bucket_start(sandbox)
    assert ingest(sandbox, events_of("heavy-user", 901)).status_code == 429
    assert ingest(sandbox, events_of("heavy-user", 900)).status_code == 200
    set_clock(sandbox, start + timedelta(seconds=30))
    assert ingest(sandbox, events_of("heavy-user", 900, "n")).status_code == 200


def test_batch_daily_quota_per_rolling_24_hours(sandbox: SandboxProcess) -> None:
    sandbox.configure("amplitude", rate_limit_scale=0.0001)  # 500,000 a day -> 50; 1,000/s -> 1/s (30 per bucket)
    now = bucket_start(sandbox)
    for hours in (3, 2):
        set_clock(sandbox, now - timedelta(hours=hours))
        assert ingest(sandbox, events_of("spammer", 25, f"h{hours}"), path="/batch").status_code == 200
    set_clock(sandbox, now)
    response = ingest(sandbox, events_of("calm-user", 1, "c") + events_of("spammer", 1, "now"), path="/batch")
    assert response.status_code == 429
    body = response.json()
    assert body["exceeded_daily_quota_users"] == {"spammer": 51}
    assert body["exceeded_daily_quota_devices"] == {device_of("spammer"): 51}
    assert body["throttled_events"] == [1] and body["eps_threshold"] == 1
    assert body["throttled_users"] == {} and body["throttled_devices"] == {}
    assert ingest(sandbox, events_of("calm-user", 1, "c"), path="/batch").status_code == 200
    set_clock(sandbox, now + timedelta(hours=21, seconds=1))  # the first 25 leave the 24 hours
    assert ingest(sandbox, events_of("spammer", 25, "later"), path="/batch").status_code == 200


def test_http_v2_has_no_daily_quota(sandbox: SandboxProcess) -> None:
    sandbox.configure("amplitude", rate_limit_scale=0.0001)
    now = bucket_start(sandbox)
    for hours in (3, 2):
        set_clock(sandbox, now - timedelta(hours=hours))
        assert ingest(sandbox, events_of("spammer", 25, f"h{hours}")).status_code == 200
    set_clock(sandbox, now)
    assert ingest(sandbox, events_of("spammer", 1, "now")).status_code == 200


def test_413_bodies_for_too_many_events_and_too_many_bytes(sandbox: SandboxProcess) -> None:
    too_many = ingest(sandbox, [{"user_id": f"user-{i:05d}", "event_type": "x"} for i in range(2001)])
    assert (too_many.status_code, too_many.json()) == (413, {"code": 413, "error": "Payload too large"})
    big = [{"user_id": "user-00001", "event_type": "x", "event_properties": {"pad": "p" * 1000}}] * 1100
    too_large = ingest(sandbox, big)
    assert (too_large.status_code, too_large.json()) == (413, {"code": 413, "error": "Payload too large"})
    assert ingest(sandbox, big, path="/batch").status_code == 200  # Batch takes 20 MB
