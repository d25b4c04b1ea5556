"""Amplitude groups (accounts): /groupidentify, `$groupidentify` events, groups on events in the export, the seeded companies."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import requests
from sandbox.process import SandboxProcess
from test_amplitude_support import all_events, api_get, export_recent, ingest

START = "2024-03-01T00:00:00+00:00"
WINDOW = {"start": "20240229T00", "end": "20240304T23"}


@pytest.fixture
def amp(sandbox: SandboxProcess) -> SandboxProcess:
    sandbox.configure("amplitude", export_latency_hours=-1)
    return sandbox


def group_identify(sb: SandboxProcess, identification: Any, region: str = "us", **fields: Any) -> requests.Response:
    base = sb.amplitude["ingest_eu" if region == "eu" else "ingest"]
    form = {"api_key": sb.amplitude["api_key"], "identification": orjson.dumps(identification), **fields}
    return requests.post(base + "/groupidentify", data=form, timeout=30)


def company(value: str, properties: dict[str, Any], group_type: str = "company") -> dict[str, Any]:
    return {"group_type": group_type, "group_value": value, "group_properties": properties}


def exported(sb: SandboxProcess, region: str = "us") -> dict[str, dict[str, Any]]:
    """Exported events by event type (one each)."""
    return {e["event_type"]: e for e in all_events(export_recent(sb, region).content)}


def groups_now(sb: SandboxProcess, region: str = "us") -> dict[tuple[str, str], dict[str, Any]]:
    return {(g["group_type"], g["group_value"]): g for g in sb.admin("GET", "amplitude/groups")[region]}


def test_group_identify_sets_properties_per_region_and_stamps_the_sandbox_clock(amp: SandboxProcess) -> None:
    moment = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    amp.admin("PUT", "clock", json={"now": moment.isoformat()})
    one = group_identify(amp, company("acct-1", {"name": "Globex", "plan": "team"}))
    assert (one.status_code, one.text) == (200, "success")
    many = group_identify(amp, [company("acct-2", {"name": "Initech"}), company("42", {"name": "Hooli"}, "org id")])
    assert (many.status_code, many.text) == (200, "success")
    assert group_identify(amp, company("acct-1", {"name": "Globex EU"}), region="eu").status_code == 200

    us = groups_now(amp)
    assert {k: g["group_properties"] for k, g in us.items()} == {
        ("company", "acct-1"): {"name": "Globex", "plan": "team"},
        ("company", "acct-2"): {"name": "Initech"},
        ("org id", "42"): {"name": "Hooli"},
    }
    stamp = datetime.fromisoformat(us[("company", "acct-1")]["updated_time"]).replace(tzinfo=UTC)
    assert timedelta(0) <= stamp - moment < timedelta(seconds=30)
    assert [g["group_properties"] for g in groups_now(amp, "eu").values()] == [{"name": "Globex EU"}]
    assert amp.admin("GET", "amplitude/stats")["us"]["groups"] == 3

    ingest(amp, [{"user_id": "user-0001", "event_type": "Report", "groups": {"company": "acct-1", "org id": 42}}])
    event = exported(amp)["Report"]
    assert event["groups"] == {"company": ["acct-1"], "org id": ["42"]}
    assert event["group_properties"] == {
        "company": {"acct-1": {"name": "Globex", "plan": "team"}},
        "org id": {"42": {"name": "Hooli"}},
    }


def test_group_identify_get_and_multipart(amp: SandboxProcess) -> None:
    url = amp.amplitude["ingest"] + "/groupidentify"
    params = {"api_key": amp.amplitude["api_key"], "identification": orjson.dumps(company("acct-1", {"a": 1}))}
    assert requests.get(url, params=params, timeout=10).text == "success"
    multipart = {name: (None, value) for name, value in params.items()}
    multipart["identification"] = (None, orjson.dumps(company("acct-2", {"b": 2})))
    assert requests.post(url, files=multipart, timeout=10).text == "success"
    as_file = {**multipart, "identification": ("groups.json", orjson.dumps(company("acct-3", {"c": 3})))}
    assert requests.post(url, files=as_file, timeout=10).json()["error"] == "Invalid identification JSON"
    assert {k[1]: g["group_properties"] for k, g in groups_now(amp).items()} == {"acct-1": {"a": 1}, "acct-2": {"b": 2}}


def test_group_property_operations(amp: SandboxProcess) -> None:
    steps = [
        {"name": "Globex", "seats": 5, "tags": ["a"], "gone": True},
        {"$setOnce": {"name": "Other", "founded": 1999}, "$add": {"seats": 3}},
        {"$append": {"tags": "b"}, "$prepend": {"tags": "z"}, "$unset": {"gone": "-"}},
        {"$set": {"plan": "business"}},
    ]
    for update in steps:
        assert group_identify(amp, company("acct-1", update)).status_code == 200
    assert groups_now(amp)[("company", "acct-1")]["group_properties"] == {
        "name": "Globex", "seats": 8, "tags": ["z", "a", "b"], "founded": 1999, "plan": "business",
    }  # fmt: skip


def test_updates_affect_only_later_events(amp: SandboxProcess) -> None:
    group_identify(amp, company("acct-1", {"plan": "team"}))
    ingest(amp, [{"user_id": "user-0001", "event_type": "Before", "groups": {"company": "acct-1"}}])
    group_identify(amp, company("acct-1", {"$set": {"plan": "enterprise"}}))
    ingest(amp, [{"user_id": "user-0001", "event_type": "After", "groups": {"company": "acct-1"}}])
    events = exported(amp)
    assert events["Before"]["group_properties"] == {"company": {"acct-1": {"plan": "team"}}}
    assert events["After"]["group_properties"] == {"company": {"acct-1": {"plan": "enterprise"}}}


def test_group_identify_errors_store_nothing(amp: SandboxProcess) -> None:
    url = amp.amplitude["ingest"] + "/groupidentify"
    key = amp.amplitude["api_key"]
    wrong_key = requests.post(url, data={"api_key": "nope", "identification": "{}"}, timeout=10)
    http_v2_wrong_key = requests.post(
        amp.amplitude["ingest"] + "/2/httpapi", json={"api_key": "nope", "events": [{"user_id": "abcdef"}]}, timeout=10
    )
    assert (wrong_key.status_code, wrong_key.json()) == (400, http_v2_wrong_key.json())
    no_key = requests.post(url, data={"identification": "{}"}, timeout=10)
    assert no_key.json() == {"code": 400, "error": "Request missing required field", "missing_field": "api_key"}
    missing = requests.post(url, data={"api_key": key}, timeout=10)
    assert missing.json() == {"code": 400, "error": "Request missing required field", "missing_field": "identification"}
    bad_json = requests.post(url, data={"api_key": key, "identification": "{nope"}, timeout=10)
    assert (bad_json.status_code, bad_json.json()["error"]) == (400, "Invalid identification JSON")

    too_many = group_identify(amp, [company(f"acct-{i}", {"n": i}) for i in range(1025)])
    assert (too_many.status_code, too_many.json()["code"]) == (400, 400)
    assert "1024" in too_many.json()["error"]
    assert group_identify(amp, [company(f"acct-{i}", {"n": i}) for i in range(1024)]).status_code == 200
    amp.reset()

    many_properties = group_identify(
        amp, [company("acct-1", {f"p{i}": i for i in range(600)}), company("acct-2", {"$set": {f"q{i}": i for i in range(425)}})]
    )  # fmt: skip
    assert many_properties.status_code == 400 and "group properties" in many_properties.json()["error"]
    big = group_identify(amp, company("acct-1", {"blob": "x" * (1024 * 1024)}))
    assert big.status_code == 400 and big.json()["code"] == 400

    invalid = group_identify(
        amp,
        [
            company("acct-1", {"ok": 1}),
            {"group_type": "company", "group_properties": {"a": 1}},
            company("acct-3", {"$set": {"a": 1}, "plain": 2}),
            company("acct-4", {"$remove": {"a": 1}}),
            company({"not": "a value"}, {}),
            {"group_value": "acct-6"},
        ],
    )
    assert invalid.status_code == 400
    assert invalid.json() == {
        "code": 400,
        "error": "Request missing required field",
        "identifications_with_invalid_fields": {"group_properties": [2, 3], "group_value": [4]},
        "identifications_with_missing_fields": {"group_value": [1], "group_type": [5]},
    }
    assert groups_now(amp) == {}  # one bad identification rejects the whole request


def test_groupidentify_event_over_http_v2(amp: SandboxProcess) -> None:
    update = {"event_type": "$groupidentify", "user_id": "user-0001", "groups": {"company": "acct-1"},
              "group_properties": {"$set": {"plan": "pro"}, "$add": {"seats": 2}}}  # fmt: skip
    response = ingest(amp, [update, {"user_id": "user-0001", "event_type": "Later", "groups": {"company": "acct-1"}}])
    assert response.status_code == 200
    events = exported(amp)
    assert events["$groupidentify"]["groups"] == {"company": ["acct-1"]}
    assert events["$groupidentify"]["group_properties"] == {"company": {"acct-1": {"plan": "pro", "seats": 2}}}
    assert events["Later"]["group_properties"] == {"company": {"acct-1": {"plan": "pro", "seats": 2}}}
    assert groups_now(amp)[("company", "acct-1")]["group_properties"] == {"plan": "pro", "seats": 2}

    bad = ingest(
        amp,
        [
            {"event_type": "$groupidentify", "user_id": "user-0001", "group_properties": {"a": 1}},
            {**update, "group_properties": {"$set": {"a": 1}, "b": 2}},
        ],
    )
    assert bad.status_code == 400
    assert bad.json()["events_with_missing_fields"] == {"groups": [0]}
    assert bad.json()["events_with_invalid_fields"] == {"group_properties": [1]}


def test_event_groups_export_shape_and_limits(amp: SandboxProcess) -> None:
    sent = {"company": ["acct-1", "acct-2", "acct-1"], "team": 7, "empty": []}
    assert ingest(amp, [{"user_id": "user-0001", "event_type": "Shared", "groups": sent}]).status_code == 200
    shared = exported(amp)["Shared"]
    assert shared["groups"] == {"company": ["acct-1", "acct-2"], "team": ["7"]}
    assert shared["group_properties"] == {"company": {"acct-1": {}, "acct-2": {}}, "team": {"7": {}}}
    plain = {"user_id": "user-0001", "event_type": "Plain"}
    ingest(amp, [plain])
    assert exported(amp)["Plain"]["groups"] == {} and exported(amp)["Plain"]["group_properties"] == {}

    six_types = {f"type{i}": "x" for i in range(6)}
    eleven_groups = {"company": [f"acct-{i}" for i in range(11)]}
    bad_value = {"company": {"nested": "no"}}
    response = ingest(amp, [{**plain, "groups": g} for g in (six_types, eleven_groups, bad_value, "not an object")])
    assert response.status_code == 400
    assert response.json()["events_with_invalid_fields"] == {"groups": [0, 1, 2, 3]}
    ten = {"company": [f"acct-{i}" for i in range(6)], "team": ["a", "b", "c", "d"]}
    assert ingest(amp, [{**plain, "groups": ten}]).status_code == 200


def test_identify_groups_are_the_users_groups_on_later_events(amp: SandboxProcess) -> None:
    group_identify(amp, [company("acct-1", {"name": "Globex"}), company("acct-2", {"name": "Initech"})])
    ingest(amp, [{"user_id": "user-0001", "event_type": "$identify", "groups": {"company": "acct-1"}}])
    ingest(
        amp,
        [
            {"user_id": "user-0001", "event_type": "Any"},
            {"user_id": "user-0001", "event_type": "Elsewhere", "groups": {"company": "acct-2", "team": "t1"}},
            {"user_id": "user-0002", "event_type": "Someone else"},
        ],
    )
    events = exported(amp)
    assert events["$identify"]["groups"] == events["Any"]["groups"] == {"company": ["acct-1"]}
    assert events["Any"]["group_properties"] == {"company": {"acct-1": {"name": "Globex"}}}
    assert events["Elsewhere"]["groups"] == {"company": ["acct-2"], "team": ["t1"]}  # event-level wins, once
    assert events["Someone else"]["groups"] == {}
    ingest(amp, [{"user_id": "user-0001", "event_type": "Again"}])
    assert exported(amp)["Again"]["groups"] == {"company": ["acct-1"]}


def _seed_export(sb: SandboxProcess, region: str = "us") -> list[dict[str, Any]]:
    response = api_get(sb, "/api/2/export", region=region, **WINDOW)
    assert response.status_code == 200, response.text
    return sorted(all_events(response.content), key=lambda e: (e["server_upload_time"], e["client_event_time"]))


def test_seeded_companies_their_members_and_a_change_halfway(sandbox: SandboxProcess) -> None:
    summary = sandbox.seed("amplitude", seed=7, users=40, events=400, days=2, start=START)
    assert summary["events"] == 400 and summary["accounts"] == 5
    events = _seed_export(sandbox)
    assert len(events) == 400  # the companies add no events
    grouped = [e for e in events if e["groups"]]
    members = {e["user_id"]: e["groups"]["company"][0] for e in grouped}
    assert set(Counter(members.values())) == {f"acct-{k:04d}" for k in range(1, 6)}
    assert all(2 <= n <= 5 for n in Counter(members.values()).values())
    assert all(set(e["groups"]) == {"company"} for e in grouped)
    assert all(not e["groups"] for e in events if e["user_id"] not in members)  # a user's events all carry it or none

    plans: dict[str, list[str]] = {}  # company -> its plan on each of its events, in ingestion order
    for e in grouped:
        [(value, props)] = e["group_properties"]["company"].items()
        assert set(props) == {"name", "domain", "industry", "plan", "employees", "country"}
        assert props["domain"].endswith(".example")
        if not plans.get(value) or plans[value][-1] != props["plan"]:
            plans.setdefault(value, []).append(props["plan"])
    ladder = ["trial", "team", "business", "enterprise"]
    assert all(len(seen) <= 2 and seen == sorted(seen, key=ladder.index) for seen in plans.values())
    assert any(len(seen) == 2 for seen in plans.values()), "no company seen on both sides of its change"

    now = groups_now(sandbox)
    assert len(now) == 5
    assert all(now[("company", value)]["group_properties"]["plan"] == seen[-1] for value, seen in plans.items())
    halfway = datetime(2024, 3, 2, tzinfo=UTC)
    for group in now.values():
        updated = datetime.fromisoformat(group["updated_time"]).replace(tzinfo=UTC)
        assert halfway <= updated < halfway + timedelta(hours=2)


def test_seeded_companies_same_through_api_and_bulk_and_renamed(sandbox: SandboxProcess) -> None:
    sandbox.configure("amplitude", export_latency_hours=-1)
    names = {"group_types": {"company": "account"}, "group_properties": {"plan": "tier"}}
    sandbox.seed("amplitude", seed=3, users=30, events=300, days=1, start=START)
    sandbox.seed("amplitude", seed=3, users=30, events=300, days=1, start=START, region="eu", mode="bulk")

    def facts(region: str) -> list[tuple]:
        return sorted(
            (e["user_id"], e["client_event_time"], orjson.dumps(e["group_properties"], option=orjson.OPT_SORT_KEYS))
            for e in _seed_export(sandbox, region)
        )

    assert facts("us") == facts("eu")
    assert {k: g["group_properties"] for k, g in groups_now(sandbox).items()} == {
        k: g["group_properties"] for k, g in groups_now(sandbox, "eu").items()
    }
    sandbox.reset()
    sandbox.seed("amplitude", seed=3, users=30, events=300, days=1, start=START, names=names)
    renamed = groups_now(sandbox)
    assert {t for t, _v in renamed} == {"account"}
    assert all("tier" in g["group_properties"] and "plan" not in g["group_properties"] for g in renamed.values())
    assert all(set(e["groups"]) <= {"account"} for e in _seed_export(sandbox))


def test_seed_chapters_keep_companies_and_change_them_again(sandbox: SandboxProcess) -> None:
    sandbox.seed("amplitude", seed=5, users=40, events=200, days=1, start=START)
    first = {k: g["group_properties"] for k, g in groups_now(sandbox).items()}
    start = (datetime.fromisoformat(START) + timedelta(days=1)).isoformat()
    sandbox.seed("amplitude", seed=5, users=40, events=200, days=1, start=start, chapter=1, returning_users=40)
    second = {k: g["group_properties"] for k, g in groups_now(sandbox).items()}
    assert set(first) == set(second)
    for key, props in first.items():
        assert second[key]["name"] == props["name"] and second[key]["employees"] > props["employees"]
