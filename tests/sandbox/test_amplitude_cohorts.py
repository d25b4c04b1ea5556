"""Amplitude cohorts over HTTP: upload, membership, list, async download, CSV, pre-signed redirect, limits."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import requests
from sandbox.process import SandboxProcess
from test_amplitude_support import api_get, api_post, ingest, sandbox_now


@pytest.fixture
def amp(sandbox: SandboxProcess) -> SandboxProcess:
    sandbox.configure("amplitude", cohort_request_seconds=0)
    users = [
        {
            "user_id": f"user-{i:04d}",
            "event_type": "$identify",
            "user_properties": {
                "$set": {"plan": "pro" if i % 2 else "free", "tags": ["a", "b"], "email": f"u{i}@example.com"}
            },
        }
        for i in range(6)
    ]
    assert ingest(sandbox, users).status_code == 200
    return sandbox


def _upload(sb: SandboxProcess, ids: list[str], **extra: object) -> requests.Response:
    pid = sb.admin("GET", "amplitude/config")["project_id"]
    body = {
        "name": "vip",
        "app_id": pid,
        "id_type": "BY_USER_ID",
        "ids": ids,
        "owner": "me@example.com",
        "published": True,
        **extra,
    }
    return api_post(sb, "/api/3/cohorts/upload", body)


def _download(sb: SandboxProcess, cohort_id: str, **params: object) -> requests.Response:
    request_id = api_get(sb, f"/api/5/cohorts/request/{cohort_id}", **params).json()["request_id"]
    return api_get(sb, f"/api/5/cohorts/request/{request_id}/file")


def _rows(response: requests.Response) -> list[dict[str, str]]:
    assert response.headers["content-type"].startswith("text/csv")
    assert "\r\n" in response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def test_upload_list_and_membership(amp: SandboxProcess) -> None:
    uploaded = _upload(amp, ["user-0000", "user-0001", "nobody"])
    assert uploaded.status_code == 200
    cohort_id = uploaded.json()["cohortId"]
    assert uploaded.json()["metadata"]["valid_ids"] == 2
    [cohort] = api_get(amp, "/api/3/cohorts").json()["cohorts"]
    assert cohort["id"] == cohort_id and cohort["name"] == "vip" and cohort["size"] == 2
    assert cohort["appId"] == amp.admin("GET", "amplitude/config")["project_id"]
    assert (
        isinstance(cohort["lastComputed"], int)
        and cohort["owners"] == ["me@example.com"]
        and "syncMetadata" not in cohort
    )
    assert "syncMetadata" in api_get(amp, "/api/3/cohorts", includeSyncInfo="true").json()["cohorts"][0]
    amp_id = api_get(amp, "/api/2/usersearch", user="user-0005").json()["matches"][0]["amplitude_id"]
    changed = api_post(amp, "/api/3/cohorts/membership", {"cohort_id": cohort_id, "memberships": [
        {"ids": ["user-0002", "ghost"], "id_type": "BY_NAME", "operation": "ADD"},
        {"ids": [str(amp_id)], "id_type": "BY_ID", "operation": "ADD"},
        {"ids": ["user-0000"], "id_type": "BY_NAME", "operation": "REMOVE"}]})  # fmt: skip
    assert changed.status_code == 200
    assert changed.json()["memberships_result"][0] == {"skipped_ids": ["ghost"], "operation": "ADD"}
    assert {r["user_id"] for r in _rows(_download(amp, cohort_id))} == {"user-0001", "user-0002", "user-0005"}


def test_upload_and_membership_errors(amp: SandboxProcess) -> None:
    assert _upload(amp, ["user-0000"], app_id=1).status_code == 400
    assert _upload(amp, ["user-0000"], id_type="EMAIL").status_code == 400
    assert _upload(amp, ["nobody"], skip_invalid_ids=False).status_code == 400
    assert _upload(amp, ["user-0000"], existing_cohort_id="missing").status_code == 404
    bad = api_post(
        amp,
        "/api/3/cohorts/membership",
        {"cohort_id": "missing", "memberships": [{"ids": [], "id_type": "BY_ID", "operation": "ADD"}]},
    )
    assert bad.status_code == 404
    assert api_get(amp, "/api/3/cohorts", auth=("x", "y")).status_code == 403


def test_async_download_flow_and_csv(amp: SandboxProcess) -> None:
    amp.configure("amplitude", cohort_request_seconds=600)
    cohort_id = _upload(amp, ["user-0000", "user-0001"]).json()["cohortId"]
    requested = api_get(amp, f"/api/5/cohorts/request/{cohort_id}", props=1, propKeys=["plan", "tags"])
    assert requested.status_code == 202
    request_id = requested.json()["request_id"]
    assert requested.json()["cohort_id"] == cohort_id
    status = api_get(amp, f"/api/5/cohorts/request-status/{request_id}")
    assert status.status_code == 202 and status.json()["async_status"] == "JOB INPROGRESS"
    early = api_get(amp, f"/api/5/cohorts/request/{request_id}/file")
    assert early.status_code == 400 and early.json()["error"]["metadata"]["details"] == "Cohort request not completed"
    amp.admin("PUT", "clock", json={"now": (sandbox_now(amp) + timedelta(minutes=11)).isoformat()})
    done = api_get(amp, f"/api/5/cohorts/request-status/{request_id}")
    assert done.status_code == 200 and done.json()["async_status"] == "JOB COMPLETED"
    response = api_get(amp, f"/api/5/cohorts/request/{request_id}/file")
    assert response.text.splitlines()[0] == "amplitude_id,user_id,plan,tags"
    rows = _rows(response)
    assert [(r["user_id"], r["plan"], r["tags"]) for r in rows] == [
        ("user-0000", "free", '["a","b"]'),
        ("user-0001", "pro", '["a","b"]'),
    ]
    # props=1 without propKeys: every property, sorted; props=0: ids only
    amp.configure("amplitude", cohort_request_seconds=0)
    assert _download(amp, cohort_id, props=1).text.splitlines()[0] == "amplitude_id,user_id,email,plan,tags"
    assert _download(amp, cohort_id).text.splitlines()[0] == "amplitude_id,user_id"


def test_unknown_cohort_and_request_give_404(amp: SandboxProcess) -> None:
    assert api_get(amp, "/api/5/cohorts/request/nope").status_code == 404
    assert api_get(amp, "/api/5/cohorts/request-status/nope").status_code == 404
    assert api_get(amp, "/api/5/cohorts/request/nope/file").status_code == 404


def test_large_cohort_redirects_to_expiring_url(amp: SandboxProcess) -> None:
    amp.configure("amplitude", cohort_redirect_rows=1, cohort_url_ttl_seconds=60)
    cohort_id = _upload(amp, ["user-0000", "user-0001", "user-0002"]).json()["cohortId"]
    response = _download(amp, cohort_id)
    assert response.status_code == 302
    location = response.headers["location"]
    assert "X-Amz-Expires=60" in location and "X-Amz-Signature=" in location
    fresh = requests.get(location, timeout=10)  # no Basic auth, like a pre-signed S3 link
    assert fresh.status_code == 200 and len(_rows(fresh)) == 3
    assert requests.get(location.replace("Signature=", "Signature=0"), timeout=10).status_code == 403
    amp.admin("PUT", "clock", json={"now": (sandbox_now(amp) + timedelta(seconds=61)).isoformat()})
    expired = requests.get(location, timeout=10)
    assert expired.status_code == 403 and "<Code>AccessDenied</Code>" in expired.text


def test_cohort_request_rate_limit(amp: SandboxProcess) -> None:
    amp.configure("amplitude", rate_limit_scale=0.05)  # 60 per 10 minutes -> 3
    cohort_id = _upload(amp, ["user-0000"]).json()["cohortId"]
    statuses = [api_get(amp, f"/api/5/cohorts/request/{cohort_id}").status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    limited = api_get(amp, f"/api/5/cohorts/request/{cohort_id}").json()
    assert limited["error"]["http_code"] == 429 and limited["error"]["type"] == "rate_limited"
    amp.admin("PUT", "clock", json={"now": (sandbox_now(amp) + timedelta(minutes=11)).isoformat()})
    assert api_get(amp, f"/api/5/cohorts/request/{cohort_id}").status_code == 202
