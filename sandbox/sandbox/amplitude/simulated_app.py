"""The simulated app: a seed plan's events sent through the ingestion API while the sandbox clock follows.

Events go to `POST /2/httpapi` in time order, in upload-queue batches, with the sandbox clock moved
to each batch's send time, so `server_upload_time` spreads over the span like a real app's; the
companies' properties go to `POST /groupidentify` at their times, between the batches; then
the cohorts are defined with `POST /api/3/cohorts/upload`. At the end the clock reads the later of
where it was and the end of the span. The transport is a `request(method, url, **kwargs) ->
(status, body)` function, real HTTP or in-process ASGI (see `seed.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from sandbox.amplitude.seed_plan import Plan, SeedParams, summary, timeline


class HttpApp:
    """The simulated app over real HTTP: ingestion API, cohort upload API, sandbox clock."""

    def __init__(self, amplitude: dict[str, str], region: str, request: Callable[..., Any]) -> None:
        self.ingest = amplitude["ingest_eu" if region == "eu" else "ingest"]
        self.api = amplitude["api_eu" if region == "eu" else "api"]
        self.admin = amplitude["api"] + "/_sandbox"
        suffix = "_eu" if region == "eu" and "api_key_eu" in amplitude else ""
        self.api_key, self.secret_key = amplitude["api_key" + suffix], amplitude["secret_key" + suffix]
        self.request = request  # (method, url, **kwargs) -> (status, body bytes)

    def clock(self) -> float:
        _status, body = self.request("GET", f"{self.admin}/clock")
        return datetime.fromisoformat(orjson.loads(body)["now"]).timestamp()

    def set_clock(self, moment: float) -> None:
        self.request("PUT", f"{self.admin}/clock", json={"now": datetime.fromtimestamp(moment, UTC).isoformat()})

    def send(self, events: list[dict[str, Any]]) -> None:
        payload = orjson.dumps({"api_key": self.api_key, "events": events})
        if len(payload) > 900_000 and len(events) > 1:
            half = len(events) // 2
            self.send(events[:half])
            self.send(events[half:])
            return
        status, body = self.request(
            "POST", f"{self.ingest}/2/httpapi", content=payload, headers={"Content-Type": "application/json"}
        )
        if status != 200:
            raise RuntimeError(f"ingestion refused a seed batch: {status} {body[:500]!r}")

    def group_identify(self, identifications: list[dict[str, Any]]) -> None:
        form = {"api_key": self.api_key, "identification": orjson.dumps(identifications).decode()}
        status, body = self.request("POST", f"{self.ingest}/groupidentify", data=form)
        if status != 200:
            raise RuntimeError(f"group identify refused: {status} {body[:500]!r}")

    def upload_cohort(self, name: str, user_ids: list[str], app_id: int) -> dict[str, Any]:
        body = {
            "name": name,
            "app_id": app_id,
            "id_type": "BY_USER_ID",
            "ids": user_ids,
            "owner": "seed@example.com",
            "published": True,
        }
        status, raw = self.request("GET", f"{self.api}/api/3/cohorts", auth=(self.api_key, self.secret_key))
        if status == 200:
            same_name = [c for c in orjson.loads(raw)["cohorts"] if c["name"] == name and not c.get("archived")]
            if same_name:
                body["existing_cohort_id"] = same_name[0]["id"]
        status, raw = self.request(
            "POST", f"{self.api}/api/3/cohorts/upload", json=body, auth=(self.api_key, self.secret_key)
        )
        if status != 200:
            raise RuntimeError(f"cohort upload refused: {status} {raw[:500]!r}")
        return orjson.loads(raw)


def simulate_app(app: HttpApp, params: SeedParams, app_id: int) -> dict[str, Any]:
    """Run the simulated app: events and group identifies in time order with the sandbox clock following, then cohorts."""
    started = time.monotonic()
    original = app.clock()
    plan = Plan(params, original)
    sent = 0
    clock_at = plan.start
    for send_at, kind, items in timeline(plan, params.batch_size):
        clock_at = max(clock_at, send_at)
        app.set_clock(clock_at)
        if kind == "groups":
            app.group_identify(items)
        else:
            app.send(items)
            sent += len(items)
    app.set_clock(max(clock_at, plan.end))
    cohorts = {}
    for name, members in plan.cohorts().items():
        result = app.upload_cohort(name, members, app_id)
        cohorts[name] = {"id": result["cohortId"], "size": result["metadata"]["valid_ids"]}
    now = app.clock()
    if now < original:
        app.set_clock(original)
    return summary(params, plan, sent, cohorts, started)
