"""Brevo emulator as a whole: served spec, start-up, settings, persistence, reset, seed, request log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
import yaml
from brevo_spec import SpecCheckedSession, assert_request_valid, assert_response_valid
from openapi_spec_validator import validate
from sandbox.brevo import spec
from sandbox.process import SandboxProcess, running


def test_vendored_spec_is_brevos_and_every_served_path_exists() -> None:
    raw = yaml.load(spec.SPEC_FILE.read_bytes(), Loader=yaml.CSafeLoader)
    assert raw["openapi"] == "3.0.1" and raw["info"]["version"] == "3.0.0"
    assert set(spec.SERVED_PATHS) <= set(raw["paths"])


def test_served_spec_with_overlay_is_a_valid_openapi_document() -> None:
    served = spec.load_spec()
    validate(served)
    assert "/events/batch" in served["paths"]
    assert set(served["paths"]) == set(spec.SERVED_PATHS) | {"/events/batch"}


def test_overlay_accepts_what_is_newer_than_the_spec() -> None:
    assert_request_valid("POST", "/v3/contacts", {"email": "a@x.io", "forceMerge": True, "getId": True})
    assert_request_valid(
        "POST", "/v3/contacts/import", {"jsonBody": [{"email": "a@x.io"}], "listIds": [1], "consentGroupIds": [3]}
    )
    assert_request_valid(
        "POST",
        "/v3/events",
        {
            "event_name": "buy",
            "identifiers": {"email_id": "a@x.io"},
            "event_properties": {"price": 89.99, "gift": True},
        },
    )
    product = {"productId": "P", "price": 1.5, "quantityFloat": 0.5}
    order = {"id": "1", "createdAt": "x", "updatedAt": "x", "status": "s", "amount": 1, "products": [product]}
    assert_request_valid("POST", "/v3/orders/status", order)
    assert_request_valid("POST", "/v3/events/batch", {"events": [{"event_name": "a", "identifiers": {"ext_id": "1"}}]})
    assert_response_valid(
        "POST", "/v3/contacts/lists/1/contacts/add", 201, {"contacts": {"success": ["ext-1"], "failure": []}}
    )
    with pytest.raises(AssertionError):
        assert_request_valid("POST", "/v3/contacts/lists/1/contacts/add", {"emails": ["a@x.io"], "ids": [1]})
    with pytest.raises(AssertionError):
        assert_response_valid("GET", "/v3/contacts", 200, {"contacts": [{"id": "nope"}], "count": 1})
    with pytest.raises(AssertionError):
        assert_response_valid("POST", "/v3/contacts", 204, {"unexpected": True})


def test_the_parsed_spec_is_cached_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing the 1 MB YAML takes ~0.5 s: it happens once, later starts read the cached JSON."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spec.load_spec.cache_clear()
    try:
        first = spec.load_spec()
        assert list(tmp_path.glob("amplitude-brevo-sandbox/brevo-openapi-*.json"))
        spec.load_spec.cache_clear()

        def parse_again() -> None:
            raise AssertionError("the spec was parsed again instead of read from the cache")

        monkeypatch.setattr(spec, "_build", parse_again)
        second = spec.load_spec()
    finally:
        spec.load_spec.cache_clear()
    assert first == second


def test_sandbox_starts_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    with running("--data-dir", str(tmp_path)) as sandbox:
        ready = time.perf_counter() - started
        response = requests.get(
            sandbox.brevo["api"] + "/contacts", headers={"api-key": sandbox.brevo["api_key"]}, timeout=10
        )
        first_call = time.perf_counter() - started
    assert response.status_code == 200
    assert ready < 5 and first_call < 6, (ready, first_call)


def test_config_get_patch_and_errors(sandbox: SandboxProcess) -> None:
    assert sandbox.admin("GET", "brevo/config") == {
        "import_delay_seconds": 0.5,
        "plan": "general",
        "rate_limit_window_scale": 1.0,
        "rate_limits_enabled": True,
        "ecommerce_active": True,
    }
    changed = sandbox.configure("brevo", plan="extended", import_delay_seconds=0, rate_limits_enabled="false")
    assert changed["plan"] == "extended" and changed["rate_limits_enabled"] is False
    for bad in (
        {"plan": "gold"},
        {"rate_limit_window_scale": 0},
        {"import_delay_seconds": -1},
        {"speed": 2},
        {"ecommerce_active": "maybe"},
    ):
        with pytest.raises(RuntimeError, match="400"):
            sandbox.configure("brevo", **bad)
    sandbox.reset()
    assert sandbox.admin("GET", "brevo/config")["plan"] == "general"


def test_set_options_at_start_and_persistence_across_restarts(tmp_path: Path) -> None:
    args = (
        "--data-dir",
        str(tmp_path),
        "--brevo-api-key",
        "xkeysib-test",
        "--set",
        "brevo.plan=advanced",
        "--set",
        "brevo.import_delay_seconds=4",
    )
    with running(*args) as sandbox:
        assert sandbox.admin("GET", "brevo/config")["plan"] == "advanced"
        sandbox.configure("brevo", plan="general")
        sandbox.admin("POST", "brevo/reset")
        assert sandbox.admin("GET", "brevo/config")["plan"] == "advanced", "reset restores the start-up settings"
        api = SpecCheckedSession(sandbox.brevo)
        list_id = api.post("/contacts/lists", json={"name": "Kept", "folderId": 1}).json()["id"]
        api.post("/contacts", json={"email": "kept@x.io", "listIds": [list_id]})
        api.post("/events", json={"event_name": "x", "identifiers": {"email_id": "kept@x.io"}})
        response = api.post("/contacts/import", json={"jsonBody": [{"email": "later@x.io"}], "listIds": [list_id]})
        queued = response.json()
        assert api.get(f"/processes/{queued['processId']}").json()["status"] == "queued"
    # The import was due 4 s after it was queued (its delay is fixed when queued): it resumes.
    with running("--data-dir", str(tmp_path), "--brevo-api-key", "xkeysib-test") as sandbox:
        api = SpecCheckedSession(sandbox.brevo)
        assert api.get("/contacts/kept@x.io").json()["listIds"] == [list_id]
        assert sandbox.admin("GET", "brevo/events", contact="kept@x.io")["count"] == 1
        deadline = time.monotonic() + 10
        while api.get(f"/processes/{queued['processId']}").json()["status"] != "completed":
            assert time.monotonic() < deadline, "a queued import resumes after a restart"
            time.sleep(0.25)
        assert api.get("/contacts/later@x.io").status_code == 200


def test_reset_empties_the_account(sandbox: SandboxProcess) -> None:
    sandbox.configure("brevo", rate_limits_enabled=False)
    api = SpecCheckedSession(sandbox.brevo)
    api.post("/contacts", json={"email": "a@x.io"})
    api.post("/contacts/lists", json={"name": "L", "folderId": 1})
    sandbox.reset()
    assert sandbox.admin("GET", "brevo/stats") == {
        "contacts": 0,
        "lists": 0,
        "folders": 1,
        "list_members": 0,
        "attributes": 3,
        "events": 0,
        "orders": 0,
        "order_batches": 0,
        "processes": 0,
        "smtp_log_deletions": 0,
        "companies": 0,
        "company_contacts": 0,
        "crm_attributes": 0,
    }
    assert api.post("/contacts", json={"email": "a@x.io"}).json() == {"id": 1}, "ids restart after a reset"


def test_seed(sandbox: SandboxProcess) -> None:
    summary = sandbox.seed(
        "brevo",
        attributes=[{"name": "AGE", "type": "float"}],
        lists=["Customers"],
        contacts=25,
        contact_list_ids=[1],
    )
    assert summary == {"attributes": ["AGE"], "folders": {}, "lists": {"Customers": 1}, "contacts": 25}
    members = sandbox.admin("GET", "brevo/lists/1/members")
    assert members["count"] == 25
    one = sandbox.admin("GET", "brevo/contacts/seed3@example.com")
    assert one["attributes"] == {"FIRSTNAME": "Seed3"} and one["eventsCount"] == 0
    with pytest.raises(RuntimeError, match="400"):
        sandbox.seed("brevo", contacts="many")


def test_admin_views_and_request_log(sandbox: SandboxProcess) -> None:
    sandbox.configure("brevo", rate_limits_enabled=False)
    api = SpecCheckedSession(sandbox.brevo)
    api.post("/contacts", json={"email": "a@x.io"})
    api.get("/contacts/a@x.io")
    api.get("/contacts/b@x.io")
    assert sandbox.admin("GET", "brevo/contacts")["count"] == 1
    with pytest.raises(RuntimeError, match="404"):
        sandbox.admin("GET", "brevo/contacts/b@x.io")
    log = sandbox.requests_log("brevo")
    assert log["counts"]["brevo"] == {"POST /v3/contacts": 1, "GET /v3/contacts/{identifier}": 2}
    assert log["statuses"]["brevo"]["GET /v3/contacts/{identifier}"] == {"200": 1, "404": 1}


def test_fault_injection_covers_brevo(sandbox: SandboxProcess) -> None:
    sandbox.fault(action="status", service="brevo", path="/v3/contacts/import", status=503, body={"message": "down"})
    api = SpecCheckedSession(sandbox.brevo, check_responses=False)
    first = api.post("/contacts/import", json={"jsonBody": [{"email": "a@x.io"}], "listIds": [1]})
    assert first.status_code == 503


def test_account_answers_for_the_right_key_only(sandbox: SandboxProcess) -> None:
    """`GET /account` is how a client checks its key before any work (target-brevo does at start-up)."""
    api = SpecCheckedSession(sandbox.brevo)
    account = api.get("/account")
    assert account.status_code == 200 and account.json()["companyName"]
    wrong = requests.get(sandbox.brevo["api"] + "/account", headers={"api-key": "xkeysib-wrong"}, timeout=10)
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"
