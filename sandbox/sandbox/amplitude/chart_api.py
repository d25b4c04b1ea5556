"""Saved chart results over the Dashboard REST API, and the admin routes that save charts.

    GET /api/3/chart/{chart_id}/query   {"data": {series, seriesLabels, seriesCollapsed, xValues}} (chart_compute.py)
    GET /api/3/chart/{chart_id}/csv     {"data": "<CSV text>"}

Basic auth as every Dashboard route; an unknown chart answers 404 (§1 envelope, `Chart <id> not found`).
Each query is charged its cost (charts.py) against the project's budget (cost_budget.py): over it, 429
(`type: rate_limited`, no Retry-After, nothing computed or charged). The 5 concurrent requests are the
project's gate, as for every REST route. With the setting `chart_query_removed` = 1, `/query` answers
a plain 404 `Not Found` as an unknown path does (Amplitude's docs name only `/csv` since 2025-03).

Admin, under /_sandbox/amplitude/ (`region`: us by default):

    POST   charts                  {"id"?, "name"?, "type", "params", "region"?}: save a chart (201; 200 when it
                                   replaced one); answers it with its `cost` today. Bad definitions: 400 {"error"}
    GET    charts?region=us        {"charts": [...]}, each with its `cost` today
    DELETE charts/{id}?region=us   204, or 404
"""

from __future__ import annotations

import secrets
import string
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from sandbox import clock
from sandbox.amplitude.chart_compute import compute, day_of, render_csv
from sandbox.amplitude.charts import Chart, ChartError, parse_chart
from sandbox.amplitude.organization import Organization
from sandbox.amplitude.project import Project
from sandbox.amplitude.wire import api_error, json_response, rate_limited

_ALPHABET = string.ascii_lowercase + string.digits


def new_chart_id() -> str:
    return "e-" + "".join(secrets.choice(_ALPHABET) for _ in range(7))


async def query(project: Project, request: Request) -> Response:
    if project.settings()["chart_query_removed"]:
        return PlainTextResponse("Not Found", 404)
    return await _result(project, request, as_csv=False)


async def csv(project: Project, request: Request) -> Response:
    return await _result(project, request, as_csv=True)


async def _result(project: Project, request: Request, *, as_csv: bool) -> Response:
    if denied := project.check_auth(request):
        return denied
    chart_id = request.path_params["chart_id"]
    doc = await run_in_threadpool(project.store.chart, chart_id)
    if doc is None:
        return api_error(404, f"Chart {chart_id} not found")
    chart = parse_chart(doc, chart_id)
    today = day_of(clock.now())
    if refused := project.chart_costs.charge(chart.cost(today)):
        return rate_limited(refused)
    result = await run_in_threadpool(compute, chart, project.store, today)
    return json_response({"data": render_csv(chart, result) if as_csv else result.data})


def save_charts(project: Project, definitions: list[dict[str, Any]]) -> list[str]:
    """Save charts (the seeder's); returns their ids."""
    charts = [parse_chart(definition, new_chart_id()) for definition in definitions]
    for chart in charts:
        project.store.save_chart(chart.document())
    return [chart.id for chart in charts]


def _listed(chart: Chart) -> dict[str, Any]:
    return {**chart.document(), "cost": chart.cost(day_of(clock.now()))}


def _project(organization: Organization, region: Any) -> Project | None:
    return organization.projects.get(region if isinstance(region, str) else "")


async def define_chart(organization: Organization, request: Request) -> Response:
    try:
        body = orjson.loads(await request.body() or b"null")
        if not isinstance(body, dict):
            raise ChartError('expected a JSON object {"id"?, "name"?, "type", "params", "region"?}')
        project = _project(organization, body.get("region", "us"))
        if project is None:
            raise ChartError("region must be us or eu")
        chart = parse_chart(body, new_chart_id())
    except (orjson.JSONDecodeError, ChartError) as exc:
        return json_response({"error": str(exc)}, 400)
    replaced = await run_in_threadpool(project.store.save_chart, chart.document())
    return json_response(_listed(chart), 200 if replaced else 201)


async def list_charts(organization: Organization, request: Request) -> Response:
    project = _project(organization, request.query_params.get("region", "us"))
    if project is None:
        return json_response({"error": "region must be us or eu"}, 400)
    docs = await run_in_threadpool(project.store.charts)
    return json_response({"charts": [_listed(parse_chart(doc, doc["id"])) for doc in docs]})


async def delete_chart(organization: Organization, request: Request) -> Response:
    project = _project(organization, request.query_params.get("region", "us"))
    if project is None:
        return json_response({"error": "region must be us or eu"}, 400)
    chart_id = request.path_params["chart_id"]
    if not await run_in_threadpool(project.store.delete_chart, chart_id):
        return json_response({"error": f"no chart {chart_id}"}, 404)
    return Response(status_code=204)
