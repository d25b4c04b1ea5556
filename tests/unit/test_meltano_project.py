"""meltano.yml declares every plugin setting, as the plugins themselves describe them (`--about`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The SDK's built-in settings: Meltano users know them from every SDK plugin.
SDK_BUILTINS = {
    "stream_maps", "stream_map_config", "faker_config", "flattening_enabled", "flattening_max_depth",
    "flattening_max_key_length", "flattening_separator", "batch_config", "add_record_metadata", "load_method",
}  # fmt: skip


def project() -> dict:
    return yaml.safe_load((REPO / "meltano.yml").read_text())


def plugin(kind: str, name: str) -> dict:
    return next(p for p in project()["plugins"][kind] if p["name"] == name)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("extractors", "tap-amplitude"),
        ("extractors", "tap-amplitude-streaming"),
        ("extractors", "tap-brevo"),
        ("loaders", "target-brevo"),
        ("loaders", "target-amplitude"),
    ],
)
def test_every_setting_is_declared_with_its_description(kind: str, name: str) -> None:
    about = json.loads(
        subprocess.run([str(BIN / name), "--about", "--format=json"], capture_output=True, text=True, check=True).stdout
    )
    properties = about["settings"]["properties"]
    declared = {s["name"]: s for s in plugin(kind, name)["settings"]}
    expected = set(properties) - SDK_BUILTINS
    assert expected - set(declared) == set(), "settings missing from meltano.yml"
    assert set(declared) - set(properties) == set(), "meltano.yml declares settings the plugin does not have"
    for setting, spec in properties.items():
        if setting in SDK_BUILTINS:
            continue
        assert declared[setting].get("description"), f"{setting} has no description in meltano.yml"
        secret = bool(spec.get("writeOnly") or spec.get("secret"))
        assert bool(declared[setting].get("sensitive")) == secret, f"{setting}: sensitive should be {secret}"
    assert set(plugin(kind, name)["capabilities"]) <= set(about["capabilities"]) | {"catalog", "discover", "state"}


def environment(name: str) -> dict:
    return next(e for e in project()["environments"] if e["name"] == name)


def test_environments_job_and_schedule() -> None:
    doc = project()
    assert doc["default_environment"] == "dev"
    assert {e["name"] for e in doc["environments"]} == {"dev", "demo", "prod"}
    for name in ("dev", "demo"):
        configs = [p.get("config", {}) for group in environment(name)["config"]["plugins"].values() for p in group]
        urls = [c["api_url"] for c in configs if "api_url" in c]
        urls += [u for c in configs for u in c.get("api_urls", {}).values()]
        assert urls and all(u.startswith("http://127.0.0.1:") for u in urls), f"{name} points at the sandbox"
    dev_tap = next(p for p in environment("dev")["config"]["plugins"]["extractors"] if p["name"] == "tap-amplitude")
    assert set(dev_tap["config"]["api_urls"]) == {"US", "EU"}, "data_center decides the sandbox's host too"
    prod_configs = [p.get("config", {}) for group in environment("prod")["config"]["plugins"].values() for p in group]
    assert not any("api_url" in c or "api_urls" in c for c in prod_configs), "prod uses the real hosts"
    job = next(j for j in doc["jobs"] if j["name"] == "amplitude-to-brevo")
    assert job["tasks"] == ["tap-amplitude target-brevo"]
    realtime = next(j for j in doc["jobs"] if j["name"] == "amplitude-to-brevo-realtime")
    assert realtime["tasks"] == ["tap-amplitude-streaming target-brevo-realtime"]
    assert any(s["job"] == "amplitude-to-brevo" and s["interval"] == "@hourly" for s in doc["schedules"])
    loop = next(j for j in doc["jobs"] if j["name"] == "brevo-engagement-to-amplitude")
    assert loop["tasks"] == ["tap-brevo target-amplitude"]
    assert any(s["job"] == "brevo-statistics-to-amplitude" and s["interval"] == "@hourly" for s in doc["schedules"])


def test_the_base_config_holds_no_demo_values() -> None:
    """What a user sets is what runs: the base config has no sample mappings for theirs to merge into."""
    for kind, name in (("extractors", "tap-amplitude"), ("loaders", "target-brevo")):
        config = plugin(kind, name)["config"]
        for key in (
            "property_mapping",
            "event_mapping",
            "lists",
            "attribute_types",
            "cohort_ids",
            "revenue_event_types",
            "chart_ids",
            "company_mapping",
        ):
            assert key not in config, f"{name}: {key} belongs in an environment (demo) or to the user"


def test_the_demo_environment_holds_the_seed_config() -> None:
    loaders = environment("demo")["config"]["plugins"]["loaders"]
    config = next(p for p in loaders if p["name"] == "target-brevo")["config"]
    assert config["lists"] == {"active_users": 10, "power_users": 11, "churning_users": 12}
    assert config["event_mapping"] == {
        "Purchase": "order_completed",
        "Sign Up": "customer_created",
        "Add to Cart": "cart_updated",
        "Page View": "page_viewed",
        "Feature Click": "feature_used",
        "Revenue": "revenue_event",
        "Subscription Started": "subscription_created",
    }
    assert config["property_mapping"] == {
        "email": "email",
        "first_name": "FIRSTNAME",
        "last_name": "LASTNAME",
        "phone": "SMS",
        "plan_type": "PLAN",
        "signup_date": "SIGNUP_DATE",
        "total_purchases": "ORDER_COUNT",
        "lifetime_revenue": "LTV",
        "last_active": "LAST_ACTIVE",
        "device_type": "DEVICE",
    }
