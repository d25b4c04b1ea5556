"""The pipeline as users run it: `meltano run tap-amplitude target-brevo` against the sandbox."""

from __future__ import annotations

import gzip
import io
import json
import signal
import zipfile
from collections import Counter
from datetime import datetime, timedelta

import pytest
import requests

from e2e.support import SEED_START, Pipeline, plugin_config, stop_group, wait_for

pytestmark = pytest.mark.e2e

TARGET_CONFIG = plugin_config("loaders", "target-brevo")
EVENT_MAPPING = TARGET_CONFIG["event_mapping"]  # other event types ($identify) are not forwarded
# plain `revenue` / `price` properties count as revenue on these event types only
REVENUE_EVENT_TYPES = set(plugin_config("extractors", "tap-amplitude")["revenue_event_types"])
ATTRIBUTES = {target for target in TARGET_CONFIG["property_mapping"].values() if target != "email"}
LISTS = {"active_users": 10, "power_users": 11, "churning_users": 12}
SMALL = {"users": 120, "events": 1500, "days": 1.0, "start": SEED_START.isoformat()}
LIVE_WINDOW = timedelta(hours=24)  # target-brevo's live_window_hours default


def exported_events(p: Pipeline, region: str = "us", start: datetime = SEED_START) -> list[dict]:
    """Every event the Amplitude project holds, read through the Export API (what the tap sees)."""
    base = p.sandbox.amplitude["api_eu" if region == "eu" else "api"]
    end = datetime.fromisoformat(p.sandbox.admin("GET", "clock")["now"]) - timedelta(hours=4)
    response = requests.get(
        f"{base}/api/2/export",
        params={"start": f"{start:%Y%m%dT%H}", "end": f"{end:%Y%m%dT%H}"},
        auth=(p.sandbox.amplitude["api_key"], p.sandbox.amplitude["secret_key"]),
        timeout=120,
    )
    if response.status_code == 404:
        return []
    response.raise_for_status()
    events = []
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        for name in archive.namelist():
            events.extend(json.loads(line) for line in gzip.decompress(archive.read(name)).splitlines())
    return events


def brevo_state(p: Pipeline) -> dict:
    stats = p.brevo("stats")
    events = p.all_pages("events", "events")
    orders = p.all_pages("orders", "orders")
    return {
        "contacts": stats["contacts"],
        "events": len(events),
        "event_names": Counter(e["event_name"] for e in events),
        "orders": len(orders),
        "lists": {name: p.list_members(list_id) for name, list_id in LISTS.items()},
    }


def cohort_members(p: Pipeline, name: str) -> set[str]:
    """A cohort's current members (user ids), through Amplitude's async cohort download."""
    api, auth = p.sandbox.amplitude["api"], (p.sandbox.amplitude["api_key"], p.sandbox.amplitude["secret_key"])
    cohort = next(
        c for c in requests.get(f"{api}/api/3/cohorts", auth=auth, timeout=30).json()["cohorts"] if c["name"] == name
    )
    request_id = requests.get(
        f"{api}/api/5/cohorts/request/{cohort['id']}", params={"props": 0}, auth=auth, timeout=30
    ).json()["request_id"]
    assert wait_for(
        lambda: (
            requests.get(f"{api}/api/5/cohorts/request-status/{request_id}", auth=auth, timeout=30).status_code == 200
        )
    )
    csv = requests.get(f"{api}/api/5/cohorts/request/{request_id}/file", auth=auth, timeout=30).text.splitlines()
    column = csv[0].split(",").index("user_id")
    return {line.split(",")[column] for line in csv[1:] if line}


def change_cohort(p: Pipeline, name: str, *, add: list[str] = (), remove: list[str] = ()) -> None:
    api, auth = p.sandbox.amplitude["api"], (p.sandbox.amplitude["api_key"], p.sandbox.amplitude["secret_key"])
    cohort = next(
        c for c in requests.get(f"{api}/api/3/cohorts", auth=auth, timeout=30).json()["cohorts"] if c["name"] == name
    )
    memberships = [
        {"ids": list(ids), "id_type": "BY_NAME", "operation": op}
        for ids, op in ((add, "ADD"), (remove, "REMOVE"))
        if ids
    ]
    response = requests.post(
        f"{api}/api/3/cohorts/membership",
        json={"cohort_id": cohort["id"], "memberships": memberships},
        auth=auth,
        timeout=30,
    )
    assert response.status_code == 200, response.text


def is_revenue(event: dict) -> bool:
    """What tap-amplitude makes a `revenue` record of, with meltano.yml's settings."""
    properties = event.get("event_properties") or {}
    amounts = ["$revenue", "$price"]
    if event["event_type"] in REVENUE_EVENT_TYPES:
        amounts += ["revenue", "price"]
    return any(properties.get(name) is not None for name in amounts)


def expected_from_amplitude(p: Pipeline, start: datetime = SEED_START) -> dict:
    events = exported_events(p, start=start)
    mapped = [e for e in events if e["event_type"] in EVENT_MAPPING]
    return {
        "users": len({e["user_id"] for e in events if e["user_id"]}),
        "events": len(mapped),
        "orders": sum(1 for e in events if is_revenue(e)),
    }


def summary(p: Pipeline) -> dict:
    return json.loads((p.workdir / "summary.json").read_text())


def sandbox_now(p: Pipeline) -> datetime:
    return datetime.fromisoformat(p.sandbox.admin("GET", "clock")["now"])


def too_old(p: Pipeline) -> int:
    """Events the last run counted as older than the live window (meltano.yml: 24 hours) and did not send."""
    return summary(p)["objects"].get("events", {}).get("skipped_too_old", 0)


def assert_only_live_events(p: Pipeline, landed_since: datetime) -> None:
    """No event in Brevo is older than the live window at the time it was sent."""
    events = p.all_pages("events", "events")
    oldest = min(datetime.fromisoformat(e["event_date"]) for e in events)
    assert oldest >= landed_since - LIVE_WINDOW, f"an event of {oldest} was sent on {landed_since}"


def test_first_sync_sends_live_events_counts_old_ones_and_a_rerun_sends_nothing_twice(pipeline: Pipeline) -> None:
    seeded = pipeline.seed_app(**SMALL)
    started = sandbox_now(pipeline)
    pipeline.run("run", "tap-amplitude", "target-brevo")

    expected = expected_from_amplitude(pipeline)
    landed = brevo_state(pipeline)
    assert landed["contacts"] == expected["users"] == SMALL["users"]
    # The day's first hours are older than the live window when the run sends them: counted, not sent.
    assert landed["events"] + too_old(pipeline) == expected["events"]
    assert landed["events"] > 0 and too_old(pipeline) > 0
    assert_only_live_events(pipeline, started)
    assert set(landed["event_names"]) == set(EVENT_MAPPING.values())
    assert landed["orders"] == expected["orders"] > 0
    for name, info in seeded["cohorts"].items():
        assert len(landed["lists"][name]) == info["size"] == len(cohort_members(pipeline, name))
        assert landed["lists"][name] == cohort_members(pipeline, name)

    contact = pipeline.brevo("contacts/user-000001", identifierType="ext_id")
    assert ATTRIBUTES <= set(contact["attributes"])
    assert contact["attributes"]["PLAN"] in {"free", "starter", "pro", "enterprise"}
    assert contact["email"].endswith("@example.com")

    calls_before = pipeline.sandbox.requests_log(service="brevo")["counts"].get("brevo", {})
    pipeline.run("run", "tap-amplitude", "target-brevo")
    again = brevo_state(pipeline)
    assert (again["contacts"], again["events"], again["orders"]) == (
        landed["contacts"],
        landed["events"],
        landed["orders"],
    )
    calls_after = pipeline.sandbox.requests_log(service="brevo")["counts"]["brevo"]
    writes = {
        k: v - calls_before.get(k, 0)
        for k, v in calls_after.items()
        if k.startswith("POST") and v != calls_before.get(k, 0)
    }
    assert not any("events" in k or "orders" in k for k in writes), f"the re-run sent events or orders again: {writes}"


def test_new_events_after_a_run_are_delivered_exactly_once_and_live(pipeline: Pipeline) -> None:
    pipeline.seed_app(**SMALL)
    pipeline.run("run", "tap-amplitude", "target-brevo")
    skipped_first = too_old(pipeline)
    orders_first = {o["order"]["id"] for o in pipeline.all_pages("orders", "orders")}
    # The app goes on from the server's now (server time never goes back).
    now = pipeline.sandbox.admin("GET", "clock")["now"]
    pipeline.seed_app(seed=42, users=SMALL["users"] + 10, returning_users=SMALL["users"], events=600, days=0.5,
                      start=now, chapter=1)  # fmt: skip
    pipeline.run("run", "tap-amplitude", "target-brevo")
    assert too_old(pipeline) == 0, "the new chapter is live"
    pipeline.run("run", "tap-amplitude", "target-brevo")  # and once more: nothing new

    expected = expected_from_amplitude(pipeline)
    landed = brevo_state(pipeline)
    assert landed["contacts"] == expected["users"] == SMALL["users"] + 10
    assert landed["events"] == expected["events"] - skipped_first
    assert landed["orders"] == expected["orders"]
    new_orders = [o for o in pipeline.all_pages("orders", "orders") if o["order"]["id"] not in orders_first]
    assert new_orders and all(o["historical"] is False for o in new_orders), "live orders fire automations"


def test_cohort_changes_reach_lists_in_mirror_append_and_remove_modes(pipeline: Pipeline) -> None:
    pipeline.seed_app(**SMALL)
    pipeline.run("run", "tap-amplitude", "target-brevo")
    power = cohort_members(pipeline, "power_users")
    outsiders = sorted({f"user-{i:06d}" for i in range(SMALL["users"])} - power)
    leaving = sorted(power)[:1]

    # mirror (the default): the list follows the cohort, additions and removals
    change_cohort(pipeline, "power_users", add=outsiders[:2], remove=leaving)
    pipeline.run("run", "tap-amplitude", "target-brevo")
    assert (
        pipeline.list_members(11)
        == cohort_members(pipeline, "power_users")
        == (power - set(leaving)) | set(outsiders[:2])
    )

    # append: new members are added, members who left the cohort stay in the list
    change_cohort(pipeline, "power_users", add=outsiders[2:3], remove=outsiders[:1])
    pipeline.run("run", "tap-amplitude", "target-brevo", TARGET_BREVO_COHORT_SYNC_MODE="append")
    assert pipeline.list_members(11) == (power - set(leaving)) | set(outsiders[:3])

    # remove: the cohort's members are taken out of the list (a suppression cohort)
    pipeline.run("run", "tap-amplitude", "target-brevo", TARGET_BREVO_COHORT_SYNC_MODE="remove")
    assert pipeline.list_members(11) == set(outsiders[:1])


def test_dry_run_writes_nothing_and_the_next_real_run_delivers_everything(pipeline: Pipeline) -> None:
    pipeline.env["TARGET_BREVO_SEND_OLD_EVENTS"] = "true"  # every seeded event, however old
    pipeline.seed_app(**SMALL)
    result = pipeline.run("run", "tap-amplitude", "target-brevo", TARGET_BREVO_DRY_RUN="true")
    assert "dry" in (result.stdout + result.stderr).lower()
    counts = pipeline.sandbox.requests_log(service="brevo")["counts"].get("brevo", {})
    assert [k for k in counts if not k.startswith("GET")] == [], counts
    assert brevo_state(pipeline)["contacts"] == 0
    plan = summary(pipeline)
    assert plan["dry_run"] is True

    pipeline.run("run", "tap-amplitude", "target-brevo")
    expected = expected_from_amplitude(pipeline)
    landed = brevo_state(pipeline)
    assert (landed["contacts"], landed["events"]) == (expected["users"], expected["events"])


def test_eu_data_center_routing(pipeline: Pipeline) -> None:
    """The key belongs to the EU project: the US host refuses it, the EU host serves the EU data."""
    pipeline.sandbox.configure("amplitude", key_region="eu")
    pipeline.seed_app(**SMALL, region="eu")

    wrong = pipeline.run("run", "tap-amplitude", "target-brevo", check=False)
    assert wrong.returncode != 0
    assert "data center" in wrong.stderr.lower() or "data_center" in wrong.stderr.lower()
    assert pipeline.brevo("stats")["contacts"] == 0

    pipeline.run("run", "tap-amplitude", "target-brevo", TAP_AMPLITUDE_DATA_CENTER="EU",
                 TAP_AMPLITUDE_API_URL=pipeline.sandbox.amplitude["api_eu"])  # fmt: skip
    assert brevo_state(pipeline)["contacts"] == SMALL["users"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_run_killed_midway_loses_nothing_and_duplicates_nothing(pipeline: Pipeline, sig: signal.Signals) -> None:
    pipeline.env["TARGET_BREVO_SEND_OLD_EVENTS"] = "true"  # every seeded event, however old
    pipeline.seed_app(users=150, events=4000, days=2.0, start=SEED_START.isoformat())
    # Slow Brevo down so the kill lands in the middle of the deliveries.
    pipeline.sandbox.fault(action="latency", service="brevo", path="/v3/events/batch", latency_ms=400, count=1000)
    run = pipeline.start("run", "tap-amplitude", "target-brevo")
    assert wait_for(lambda: pipeline.brevo("stats")["events"] >= 200, timeout=120), (
        "no events delivered before the kill"
    )
    stop_group(run, sig)
    partial = pipeline.brevo("stats")["events"]
    pipeline.sandbox.admin("DELETE", "faults")

    # After SIGKILL Meltano still records the run as running: `--force` is how an operator restarts it.
    pipeline.run("run", *(["--force"] if sig == signal.SIGKILL else []), "tap-amplitude", "target-brevo")
    expected = expected_from_amplitude(pipeline)
    landed = brevo_state(pipeline)
    assert 0 < partial < expected["events"]
    assert landed["contacts"] == expected["users"]
    assert landed["orders"] == expected["orders"]
    if sig == signal.SIGTERM:
        assert landed["events"] == expected["events"], f"killed at {partial} delivered events"
    else:
        # A hard kill can land while a batch is in flight: Brevo may have stored it without the target
        # hearing back, and Brevo events carry no idempotency key. The ledger resends that one batch
        # (at least once, never lost): at most one /events/batch (200 events) can repeat.
        assert expected["events"] <= landed["events"] <= expected["events"] + 200, f"killed at {partial}"


def test_a_backfill_fires_nothing_old_and_the_seed_example_purchase_is_a_live_order(pipeline: Pipeline) -> None:
    """30 days of history: contacts and historical orders land, only the last day's events are sent, and a
    purchase sent now through Amplitude's HTTP V2 API (the seed's own example) becomes a live order. A
    property_mapping path that matches nothing is reported."""
    backfill_from = SEED_START - timedelta(days=29)
    pipeline.seed_app(users=100, events=1500, days=30.0, start=backfill_from.isoformat())
    purchase_at = sandbox_now(pipeline)
    example = {
        "user_id": "user-000001",
        "event_type": "Purchase",
        "time": int(purchase_at.timestamp() * 1000),
        "event_properties": {"revenue": 89.99, "product_id": "SKU-001"},
        "insert_id": "seed-example-purchase",
    }
    response = requests.post(
        f"{pipeline.sandbox.amplitude['ingest']}/2/httpapi",
        json={"api_key": pipeline.sandbox.amplitude["api_key"], "events": [example]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    pipeline.advance_past(purchase_at)
    started = sandbox_now(pipeline)
    result = pipeline.run(
        "run",
        "tap-amplitude",
        "target-brevo",
        TAP_AMPLITUDE_START_DATE=backfill_from.isoformat(),
        TARGET_BREVO_PROPERTY_MAPPING='{"favourite_colour": "COLOUR"}',
    )

    expected = expected_from_amplitude(pipeline, start=backfill_from)
    landed = brevo_state(pipeline)
    assert landed["contacts"] == expected["users"]
    assert landed["events"] + too_old(pipeline) == expected["events"]
    assert too_old(pipeline) > 10 * landed["events"], "29 of the 30 days are history"
    assert_only_live_events(pipeline, started)
    assert sum(summary(pipeline)["event_types"][t].get("skipped_too_old", 0) for t in EVENT_MAPPING) == too_old(
        pipeline
    )

    orders = {o["order"]["id"]: o for o in pipeline.all_pages("orders", "orders")}
    assert len(orders) == expected["orders"]
    live_since = started - LIVE_WINDOW
    for order in orders.values():
        created = datetime.fromisoformat(order["order"]["createdAt"])
        if abs(created - live_since) > timedelta(minutes=10):  # the run's own minutes move the boundary
            assert order["historical"] is (created < live_since), order["order"]["id"]
    assert {o["historical"] for o in orders.values()} == {True, False}
    example_order = next(o for o in orders.values() if o["order"]["products"][0]["productId"] == "SKU-001")
    assert example_order["order"]["amount"] == 89.99 and example_order["historical"] is False

    coverage = summary(pipeline)["property_mapping"]["favourite_colour"]
    # one users record per user and export window the user was active in
    assert coverage["records"] >= expected["users"] and "with_value" not in coverage
    assert "property_mapping 'favourite_colour': none of" in result.stderr
