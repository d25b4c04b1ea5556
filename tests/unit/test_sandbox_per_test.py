"""A test's view of the shared sandbox's request log leaves out requests that started before its reset."""

from __future__ import annotations

from sandbox_per_test import leave_out_started_before


def call(service: str, route: str, status: int, started: float) -> dict:
    return {"service": service, "method": "GET", "path": route, "route": route, "status": status, "started": started}


def summary(*calls: dict) -> dict:
    """The sandbox's summary of `calls`, as GET /_sandbox/requests returns it with every recent call."""
    counts: dict = {}
    statuses: dict = {}
    for c in calls:
        endpoint = f"{c['method']} {c['route']}"
        counts.setdefault(c["service"], {}).setdefault(endpoint, 0)
        counts[c["service"]][endpoint] += 1
        by_status = statuses.setdefault(c["service"], {}).setdefault(endpoint, {})
        by_status[str(c["status"])] = by_status.get(str(c["status"]), 0) + 1
    return {"total": len(calls), "counts": counts, "statuses": statuses, "recent": list(calls)}


def test_calls_started_before_the_reset_are_left_out_everywhere() -> None:
    stray = call("amplitude_api", "/api/2/export", 200, started=99.0)  # an earlier test's, logged late
    mine = [
        call("amplitude_api_eu", "/api/2/export", 200, 101.0),
        call("amplitude_api", "/api/2/events/list", 403, 102.0),
    ]
    seen = leave_out_started_before(summary(mine[0], stray, mine[1]), moment=100.0, limit=10)
    assert seen == summary(*mine)
    assert "/api/2/export" not in str(seen["counts"].get("amplitude_api"))


def test_partly_stray_endpoints_keep_their_own_calls_and_recent_follows_limit() -> None:
    calls = [
        call("brevo", "/v3/events", 500, 1.0),
        call("brevo", "/v3/events", 204, 5.0),
        call("brevo", "/v3/events", 500, 6.0),
    ]
    seen = leave_out_started_before(summary(*calls), moment=2.0, limit=1)
    assert seen["total"] == 2
    assert seen["counts"] == {"brevo": {"GET /v3/events": 2}}
    assert seen["statuses"] == {"brevo": {"GET /v3/events": {"204": 1, "500": 1}}}
    assert seen["recent"] == [calls[2]]
    assert leave_out_started_before(summary(*calls), moment=2.0)["recent"] == []
