"""The `groups` stream: accounts derived from the export's `groups` and `group_properties`, per export window
(GroupAggregator for both readings of the UNCONFIRMED shapes, and the tap against the seeded simulated app)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import requests
from tap_amplitude.derive import GroupAggregator

from tap.support import (
    DAY,
    STRICT_WARNINGS,
    at,
    base_config,
    bookmark,
    export_calls,
    ingest,
    make_events,
    run_tap,
    set_clock,
)
from tap.test_tap_units import decoded, event

pytestmark = STRICT_WARNINGS


def aggregate(*raws: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    groups = GroupAggregator(at(0), at(2))
    for raw in raws:
        groups.add(decoded(raw))
    return {(r["group_type"], r["group_value"]): r for r in groups.records()}


def person(n: int, h: int, email: str | None = None, **extra: Any) -> dict[str, Any]:
    """Event n of hour h: amplitude_id 1000 + n % 3, event time h:09:nn."""
    return event(n, h, user_properties={"email": email} if email else {}, **extra)


def test_nested_shape_latest_properties_members_and_times():
    acme = {"company": ["acme"]}
    early = person(0, 0, "old@example.com", groups=acme, group_properties={"company": {"acme": {"plan": "team"}}})
    late = person(3, 1, "new@example.com", groups=acme, group_properties={"company": {"acme": {"plan": "business"}}})
    empty = person(6, 1, groups=acme, group_properties={"company": {"acme": {}}})  # latest, but nothing known
    other = person(1, 0, "u1@example.com", groups={"company": ["acme", "globex"], "team": ["t1"]},
                   group_properties={"company": {"acme": {"plan": "team"}, "globex": {"plan": "trial"}}})  # fmt: skip
    identify = person(2, 1, "sender@example.com", event_type="$groupidentify", groups={"company": ["initech"]},
                      group_properties={"company": {"initech": {"name": "Initech"}}})  # fmt: skip
    nothing = person(4, 1, "u4@example.com", groups={}, group_properties={})
    records = aggregate(late, empty, early, other, identify, nothing)  # out of order on purpose

    assert set(records) == {("company", "acme"), ("company", "globex"), ("team", "t1"), ("company", "initech")}
    acme_record = records[("company", "acme")]
    assert acme_record["group_properties"] == {"plan": "business"}
    assert acme_record["first_seen"] == "2024-03-02T00:09:00.123000+00:00"
    assert acme_record["last_seen"] == "2024-03-02T01:09:06.123000+00:00"
    assert acme_record["members"] == [
        {"amplitude_id": 1000, "user_id": "user-0", "email": "new@example.com"},  # the latest event's email
        {"amplitude_id": 1001, "user_id": "user-1", "email": "u1@example.com"},
    ]
    assert (acme_record["window_start"], acme_record["window_end"]) == (at(0).isoformat(), at(2).isoformat())
    assert records[("company", "globex")]["group_properties"] == {"plan": "trial"}
    assert records[("team", "t1")]["group_properties"] is None
    assert [m["amplitude_id"] for m in records[("team", "t1")]["members"]] == [1001]
    # a `$groupidentify` event brings the group's properties, not a member
    assert records[("company", "initech")]["group_properties"] == {"name": "Initech"}
    assert records[("company", "initech")]["members"] == []


def test_plain_values_and_flat_properties():
    flat = person(0, 0, "a@example.com", groups={"company": "acme", "org": 42},
                  group_properties={"company": {"plan": "team", "address": {"city": "Paris"}}})  # fmt: skip
    later = person(3, 1, groups={"company": "acme"}, group_properties={"company": {"plan": "enterprise"}})
    several = person(1, 1, groups={"company": ["acme", "globex"]}, group_properties={"company": {"plan": "trial"}})
    others = person(2, 1, groups={"company": "initech"}, group_properties={"company": {"acme": {"plan": "x"}}})
    odd = person(5, 1, groups={"company": [None, "", True, "acme"], "": "x", "blank": []})
    records = aggregate(flat, later, several, others, odd)

    assert set(records) == {("company", "acme"), ("company", "globex"), ("company", "initech"), ("org", "42")}
    assert records[("company", "acme")]["group_properties"] == {"plan": "enterprise"}
    # flat properties of an event with two groups of the type belong to neither
    assert records[("company", "globex")]["group_properties"] is None
    # a nested object naming only other groups is not read as flat properties
    assert records[("company", "initech")]["group_properties"] is None
    assert records[("org", "42")]["group_properties"] is None
    assert [m["email"] for m in records[("org", "42")]["members"]] == ["a@example.com"]
    acme_members = {m["amplitude_id"]: m for m in records[("company", "acme")]["members"]}
    assert acme_members[1000]["email"] == "a@example.com"  # the later event had none: the older one's is kept


# -- against the sandbox --------------------------------------------------------------------------------


def seed_app(sandbox, days: int = 2) -> dict[str, Any]:
    """The simulated app over `days` from DAY (its companies change halfway), then the export latency passes."""
    summary = sandbox.seed("amplitude", seed=7, users=40, events=400, days=days, start=DAY.isoformat())
    end = datetime.fromisoformat(summary["end"]).replace(minute=0, second=0, microsecond=0)
    set_clock(sandbox, end + timedelta(hours=4, minutes=1))
    return summary


def expected_groups(events: list[dict[str, Any]], start: str, end: str) -> dict[tuple[str, str], dict[str, Any]]:
    """What the window [start, end) says of each group, straight from the exported events (sandbox shapes)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    window = [e for e in events if start <= e["server_upload_time"] < end]
    for e in sorted(window, key=lambda e: e["event_time"]):
        for group_type, values in e["groups"].items():
            for value in values:
                group = found.setdefault((group_type, value), {"times": [], "properties": {}, "members": {}})
                group["times"].append(e["event_time"])
                if props := e["group_properties"][group_type][value]:
                    group["properties"].setdefault(e["event_time"], []).append(props)
                member = group["members"].setdefault(e["amplitude_id"], {"user_id": None, "email": None})
                member["user_id"] = e["user_id"] or member["user_id"]
                member["email"] = (e["user_properties"] or {}).get("email") or member["email"]
    return found


def test_groups_per_window_from_the_seeded_app(sandbox, tap_dir):
    summary = seed_app(sandbox)
    ghost = {"group_type": "company", "group_value": "acct-ghost", "group_properties": {"name": "No events"}}
    answer = requests.post(
        sandbox.amplitude["ingest"] + "/groupidentify",
        data={"api_key": sandbox.amplitude["api_key"], "identification": json.dumps(ghost)},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    config = base_config(sandbox, export_window_hours=72)
    run = run_tap(tap_dir(), config, streams=("events", "groups"))
    assert run.returncode == 0, run.stderr
    events, records = run.records("events"), run.records("groups")
    assert len(events) == summary["events"]

    per_window: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        per_window[(record["window_start"], record["window_end"])].append(record)
    assert len(per_window) == 1  # the whole span: one window (72 h, cut at the latency horizon)
    [((window_start, window_end), window_records)] = per_window.items()
    assert window_start == DAY.isoformat()
    keys = [(r["group_type"], r["group_value"]) for r in window_records]
    assert len(keys) == len(set(keys)) == summary["accounts"] == 5  # each account once; not the ghost
    expected = expected_groups(events, window_start, window_end)
    assert set(keys) == set(expected)

    now = {(g["group_type"], g["group_value"]): g for g in sandbox.admin("GET", "amplitude/groups")["us"]}
    assert ("company", "acct-ghost") in now  # known to Amplitude, but in no event: not in the export
    changed = 0
    for record in window_records:
        want = expected[(record["group_type"], record["group_value"])]
        assert record["first_seen"] == min(want["times"]) and record["last_seen"] == max(want["times"])
        assert record["group_properties"] in want["properties"][max(want["properties"])]
        assert record["members"] == [
            {"amplitude_id": amplitude_id, **member} for amplitude_id, member in sorted(want["members"].items())
        ]
        assert 2 <= len(record["members"]) <= 5 and all(m["email"] for m in record["members"])
        first_plan = want["properties"][min(want["properties"])][0]["plan"]
        if record["group_properties"]["plan"] != first_plan:  # changed halfway through the span
            changed += 1
            assert record["group_properties"] == now[(record["group_type"], record["group_value"])]["group_properties"]
    assert changed, "no account seen on both sides of its change"

    # selected alone: the same records, from the same one download per window, and no events
    calls = export_calls(sandbox)
    alone = run_tap(tap_dir(), config, streams=("groups",))
    assert alone.returncode == 0, alone.stderr
    assert alone.records("events") == [] and alone.records("groups") == records
    assert export_calls(sandbox) - calls == calls
    assert bookmark(alone) == bookmark(run)


def test_daily_windows_give_a_record_per_window_each_with_its_own_properties(sandbox, tap_dir):
    seed_app(sandbox)
    run = run_tap(tap_dir(), base_config(sandbox, export_window_hours=24), streams=("events", "groups"))
    assert run.returncode == 0, run.stderr
    events = run.records("events")
    seen = 0
    for record in run.records("groups"):
        want = expected_groups(events, record["window_start"], record["window_end"])
        expected = want[(record["group_type"], record["group_value"])]
        assert record["group_properties"] in expected["properties"][max(expected["properties"])]
        assert [m["amplitude_id"] for m in record["members"]] == sorted(expected["members"])
        seen += 1
    windows = {(r["window_start"], r["window_end"]) for r in run.records("groups")}
    assert len(windows) >= 2
    assert seen == sum(len(expected_groups(events, start, end)) for start, end in windows)


def test_an_interrupted_window_is_rebuilt_for_groups_alone(sandbox, tap_dir):
    for h in range(4):
        when = at(h + 0.5)
        ingest(sandbox, make_events(3, when, prefix=f"h{h}", groups={"company": f"acct-{h % 2}"}), when=when)
    set_clock(sandbox, at(9))
    sandbox.admin("POST", "amplitude/corrupt-gzip", json={"hour": "20240302T02", "region": "us", "count": 1})
    config = base_config(sandbox, export_window_hours=24)
    broken = run_tap(tap_dir(), config, streams=("groups",))
    assert broken.returncode != 0 and broken.records("groups") == []
    assert bookmark(broken) == at(2).isoformat()
    assert broken.state["bookmarks"]["events"]["users_window_start"] == at(0).isoformat()

    resumed = run_tap(tap_dir(), config, streams=("groups",), state=broken.state)
    assert resumed.returncode == 0, resumed.stderr
    records = {r["group_value"]: r for r in resumed.records("groups")}
    assert set(records) == {"acct-0", "acct-1"}
    assert records["acct-0"]["first_seen"].startswith("2024-03-02T00:30")  # from an hour read before the failure
    assert records["acct-1"]["last_seen"].startswith("2024-03-02T03:30")
    assert {m["user_id"] for m in records["acct-0"]["members"]} == {"user-0000", "user-0001", "user-0002"}
    assert "users_window_start" not in resumed.state["bookmarks"]["events"]
