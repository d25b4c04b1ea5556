"""Seed data: deterministic, realistic, through the ingestion API (in-process and over HTTP) or bulk."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import phonenumbers
import pytest
from sandbox.process import SandboxProcess, running
from test_amplitude_support import all_events, api_get

START = "2024-03-01T00:00:00+00:00"
SEED_USER_PROPERTIES = {"email", "first_name", "last_name", "phone", "plan_type", "signup_date", "total_purchases",
                        "lifetime_revenue", "last_active", "device_type"}  # fmt: skip
SEED_EVENT_TYPES = {"Purchase", "Sign Up", "Add to Cart", "Page View", "Feature Click", "Revenue",
                    "Subscription Started"}  # fmt: skip
WINDOW = {"start": "20240229T00", "end": "20240304T23"}


def _export(sb: SandboxProcess, region: str = "us") -> list[dict]:
    response = api_get(sb, "/api/2/export", region=region, **WINDOW)
    assert response.status_code == 200, response.text
    return all_events(response.content)


def _content(events: list[dict]) -> list[tuple]:
    """What the seed decides (everything but server-assigned ids)."""
    return sorted(
        (
            e["user_id"],
            e["event_type"],
            e["client_event_time"],
            orjson.dumps(e["event_properties"], option=orjson.OPT_SORT_KEYS),
        )
        for e in events
    )


def _valid_phone(raw: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(raw, None))
    except phonenumbers.NumberParseException:
        return False


def test_seed_through_ingestion_api(sandbox: SandboxProcess) -> None:
    summary = sandbox.seed("amplitude", seed=7, users=40, events=400, days=2, start=START)
    assert summary["events"] == 400 and summary["users"] == 40 and summary["invalid_phone_users"] == 2
    events = _export(sandbox)
    assert len(events) == 400
    types = Counter(e["event_type"] for e in events)
    assert types["$identify"] == types["Sign Up"] == 40
    assert set(types) == {"$identify", *SEED_EVENT_TYPES}
    assert types["Revenue"] == types["Subscription Started"]  # each subscription's first charge
    upload_hours = {e["server_upload_time"][:13] for e in events}
    assert len(upload_hours) > 24  # server_upload_time follows the simulated app over the span
    assert all(e["client_event_time"] <= e["server_upload_time"] for e in events)
    purchases = [e["event_properties"] for e in events if e["event_type"] == "Purchase"]
    plain = [p for p in purchases if "revenue" in p]  # the web app's way
    amplitude = [p for p in purchases if "$revenue" in p]  # the mobile SDKs' revenue fields
    assert plain and amplitude and len(plain) + len(amplitude) == len(purchases)
    assert all(p["revenue"] > 0 and p["product_id"].startswith("sku-") and p["currency"] == "EUR" for p in plain)
    assert all(p["$revenue"] > 0 and p["$productId"].startswith("sku-") and p["$currency"] == "EUR" for p in amplitude)
    charges = [e["event_properties"] for e in events if e["event_type"] == "Revenue"]
    assert charges and all(c["$revenue"] > 0 and c["$revenueType"] == "subscription" for c in charges)
    assert all(e["session_id"] > 0 for e in events)
    latest = {}
    for e in sorted(events, key=lambda e: (e["server_upload_time"], e["client_event_time"])):
        latest[e["user_id"]] = e["user_properties"]
    assert all(SEED_USER_PROPERTIES <= set(p) and not {"plan", "purchases"} & set(p) for p in latest.values())
    assert sum(not _valid_phone(p["phone"]) for p in latest.values()) == 2  # 5% invalid on purpose
    cohorts = {c["name"]: c for c in api_get(sandbox, "/api/3/cohorts").json()["cohorts"]}
    assert set(cohorts) == {"active_users", "power_users", "churning_users"}
    assert cohorts["power_users"]["size"] == 4
    assert {name: c["size"] for name, c in cohorts.items()} == {
        name: c["size"] for name, c in summary["cohorts"].items()
    }


def test_same_seed_same_data_and_regions(sandbox: SandboxProcess) -> None:
    sandbox.configure("amplitude", export_latency_hours=-1)
    sandbox.seed("amplitude", seed=3, users=10, events=60, days=1, start=START)
    sandbox.seed("amplitude", seed=3, users=10, events=60, days=1, start=START, region="eu", mode="bulk")
    us, eu = _export(sandbox), _export(sandbox, "eu")
    assert _content(us) == _content(eu)
    sandbox.reset()
    sandbox.seed("amplitude", seed=4, users=10, events=60, days=1, start=START)
    assert _content(_export(sandbox)) != _content(us)


def test_bad_seed_parameters_give_400(sandbox: SandboxProcess) -> None:
    for params in ({"users": 10, "events": 5}, {"region": "mars"}, {"colour": "red"}, {"days": 0}):
        with pytest.raises(RuntimeError, match="400"):
            sandbox.seed("amplitude", **params)


def test_cli_seed_over_http(sandbox: SandboxProcess, tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    ready.write_bytes(orjson.dumps(sandbox.info))
    args = [
        sys.executable,
        "-m",
        "sandbox",
        "seed",
        "--ready-file",
        str(ready),
        "--users",
        "10",
        "--events",
        "80",
        "--days",
        "1",
        "--start",
        START,
        "--region",
        "eu",
    ]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    assert orjson.loads(result.stdout)["events"] == 80
    assert len(_export(sandbox, "eu")) == 80
    assert sandbox.requests_log("amplitude_ingest_eu")["counts"]["amplitude_ingest_eu"]["POST /2/httpapi"] >= 5


def test_cli_bulk_into_data_dir_then_serve(tmp_path: Path) -> None:
    args = [
        sys.executable,
        "-m",
        "sandbox",
        "seed",
        "--bulk",
        "--data-dir",
        str(tmp_path),
        "--users",
        "50",
        "--events",
        "3000",
        "--days",
        "3",
        "--start",
        START,
    ]
    summary = orjson.loads(subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout)
    assert summary["mode"] == "bulk" and summary["events"] == 3000
    with running("--data-dir", str(tmp_path)) as sb:
        assert len(_export(sb)) == 3000
        assert sb.admin("GET", "amplitude/stats")["us"]["cohorts"] == 3


def test_an_app_description_renames_event_types_user_properties_and_cohorts(sandbox: SandboxProcess) -> None:
    """`names` makes the simulated app look like the user's product (`sandbox serve --app my-app.yaml`)."""
    names = {
        "event_types": {"Sign Up": "Account Created", "Purchase": "Order Completed"},
        "user_properties": {"first_name": "firstName", "plan_type": "subscription_tier"},
        "cohorts": {"power_users": "vip_customers"},
    }
    result = sandbox.seed("amplitude", seed=5, users=30, events=400, days=3, start=START, mode="bulk", names=names)
    assert set(result["cohorts"]) == {"active_users", "vip_customers", "churning_users"}
    events = _export(sandbox)
    types = Counter(e["event_type"] for e in events)
    assert types["Account Created"] == 30 and "Sign Up" not in types and "Order Completed" in types
    properties = set().union(*(e["user_properties"] for e in events))
    assert {"firstName", "subscription_tier", "last_name"} <= properties
    assert not properties & {"first_name", "plan_type"}


def test_an_app_description_with_unknown_names_is_refused_with_the_known_ones(sandbox: SandboxProcess) -> None:
    with pytest.raises(Exception, match="Checkout"):
        sandbox.seed("amplitude", users=5, events=50, names={"event_types": {"Checkout": "Bought"}})
