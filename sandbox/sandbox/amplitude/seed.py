"""Seeding the Amplitude emulator with the simulated product's data (planned in `seed_plan.py`).

Two ways in:

- **api**: the simulated app (`simulated_app.py`) sends the events through the ingestion API and
  defines the cohorts through the cohort upload API. `sandbox seed --ready-file F` does this over
  real HTTP (`seed_over_http`); `POST /_sandbox/amplitude/seed` does it in-process through the
  same ASGI routes (`seed_in_process`).
- **bulk**: the same plan written in the stored form directly (no HTTP, no clock moves), for
  millions of events (benchmarks): into a running sandbox's project (`bulk_load`) or into a data
  directory before `sandbox serve` (`bulk_into_data_dir`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from starlette.types import ASGIApp

from sandbox import clock
from sandbox.amplitude import config
from sandbox.amplitude.chart_api import save_charts
from sandbox.amplitude.charts import seed_charts
from sandbox.amplitude.cohorts import cohort_document
from sandbox.amplitude.ingest import store_events, store_group_identifications
from sandbox.amplitude.project import Project
from sandbox.amplitude.seed_plan import Plan, SeedParams, summary, timeline
from sandbox.amplitude.simulated_app import HttpApp, simulate_app
from sandbox.amplitude.wire import to_us


def seed_in_process(raw: dict[str, Any], projects: dict[str, Project], services: dict[str, ASGIApp]) -> dict[str, Any]:
    """`POST /_sandbox/amplitude/seed`: api mode drives the emulator's own ASGI services, bulk writes the store."""
    params = SeedParams.parse(raw)
    project = projects[params.region]
    if params.mode == "bulk":
        return bulk_load(project, params, clock.now())
    return _with_charts(project, params, asyncio.run(_seed_through_asgi(project, services, params)))


async def _seed_through_asgi(project: Project, services: dict[str, ASGIApp], params: SeedParams) -> dict[str, Any]:
    import httpx  # only a seed needs it: keeps it out of the sandbox's start-up time

    suffix = "_eu" if params.region == "eu" else ""
    clients = {
        base: httpx.AsyncClient(transport=httpx.ASGITransport(app=services[service]), base_url=f"http://{base}")
        for base, service in (("ingest", f"amplitude_ingest{suffix}"), ("api", f"amplitude_api{suffix}"))
    }
    loop = asyncio.get_running_loop()

    def request(method: str, url: str, **kwargs: Any) -> tuple[int, bytes]:
        if "/_sandbox/clock" in url:  # the clock lives in this process
            if method == "PUT":
                clock.set_now(datetime.fromisoformat(kwargs["json"]["now"]))
            return 200, orjson.dumps({"now": clock.now_datetime().isoformat()})
        base, _, path = url.removeprefix("http://").partition("/")
        future = asyncio.run_coroutine_threadsafe(clients[base].request(method, "/" + path, **kwargs), loop)
        response = future.result()
        return response.status_code, response.content

    amplitude = {"ingest": "http://ingest", "ingest_eu": "http://ingest", "api": "http://api", "api_eu": "http://api",
                 "api_key": project.api_key, "secret_key": project.secret_key}  # fmt: skip
    app = HttpApp(amplitude, params.region, request)
    try:
        return await asyncio.to_thread(simulate_app, app, params, project.project_id)
    finally:
        for client in clients.values():
            await client.aclose()


def seed_over_http(info: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """`sandbox seed --ready-file F`: the simulated app over real HTTP sockets."""
    import requests  # only a seed needs it: keeps it out of the sandbox's start-up time

    params = SeedParams.parse(raw)
    session = requests.Session()

    def request(method: str, url: str, **kwargs: Any) -> tuple[int, bytes]:
        if "content" in kwargs:
            kwargs["data"] = kwargs.pop("content")
        response = session.request(method, url, timeout=120, **kwargs)
        return response.status_code, response.content

    app_id_setting = "project_id_eu" if params.region == "eu" else "project_id"
    _status, settings = request("GET", info["amplitude"]["api"] + "/_sandbox/amplitude/config")
    app = HttpApp(info["amplitude"], params.region, request)
    result = simulate_app(app, params, orjson.loads(settings)[app_id_setting])
    charts = seed_charts(params.names.event_types, result["start"], result["end"])
    for chart in charts:  # saved as an analyst would, through the admin API (see _with_charts)
        status, body = request(
            "POST", info["amplitude"]["api"] + "/_sandbox/amplitude/charts", json={**chart, "region": params.region}
        )
        if status not in (200, 201):
            raise RuntimeError(f"saving the seed chart {chart['id']} failed: {status} {body[:500]!r}")
    result["charts"] = [chart["id"] for chart in charts]
    return result


def _with_charts(project: Project, params: SeedParams, result: dict[str, Any]) -> dict[str, Any]:
    """Save the charts an analyst of the simulated app would (`charts.seed_charts`), over the seeded span."""
    result["charts"] = save_charts(project, seed_charts(params.names.event_types, result["start"], result["end"]))
    return result


def bulk_load(project: Project, params: SeedParams, now: float | None = None) -> dict[str, Any]:
    """Write the planned events and group properties straight into a project's store (no HTTP, no clock moves)."""
    started = time.monotonic()
    plan = Plan(params, now if now is not None else time.time())
    stored = 0
    pending = timeline(plan, 5000)
    done = False
    while not done:
        with project.store.write():  # many batches per commit: commits dominate otherwise
            in_commit = 0
            while in_commit < 50_000:
                step = next(pending, None)
                if step is None:
                    done = True
                    break
                moment, kind, items = step
                us = to_us(moment)
                if kind == "groups":
                    updates = [(i["group_type"], i["group_value"], i["group_properties"]) for i in items]
                    store_group_identifications(project, updates, us)
                    continue
                in_commit += len(items)
                stored += store_events(project, items, path="/batch", remote_ip=None, received_us=us, upload_us=us)
    cohorts = {}
    for name, members in plan.cohorts().items():
        found, _unknown = project.store.amplitude_ids_for("user", members)
        doc = cohort_document(project, None, name, "seed@example.com", True)
        project.store.save_cohort(doc, add=found, replace=True)
        cohorts[name] = {"id": doc["id"], "size": len(found)}
    return _with_charts(project, params, summary(params, plan, stored, cohorts, started))


def bulk_into_data_dir(data_dir: str | Path, raw: dict[str, Any], project_id: int | None = None) -> dict[str, Any]:
    """`sandbox seed --bulk --data-dir D` without a running sandbox: write the store files directly."""
    params = SeedParams.parse(raw)
    settings = dict(config.DEFAULTS)
    if project_id is not None:
        settings["project_id_eu" if params.region == "eu" else "project_id"] = project_id
    path = Path(data_dir) / "amplitude" / f"{params.region}.sqlite3"
    project = Project(params.region, path, lambda: settings, "", "")
    try:
        return bulk_load(project, params)
    finally:
        project.store.close()
