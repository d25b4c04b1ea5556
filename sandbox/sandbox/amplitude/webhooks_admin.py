"""Admin handlers of the streaming destinations, under /_sandbox/amplitude/ (routes in `routes.WEBHOOK_ADMIN_OPERATIONS`).

    POST   destinations/webhook                 configure a region's Webhooks Streaming destination (201), body:
           {"url", "headers": {<= 5}, "event_types": [...] | null (all), "send_events": true, "send_users": false,
            "push_delay_seconds": 5, "timeout_seconds": 10, "duplicate_rate": 0, "region": "us"}
    GET    destinations/webhook?region=us       its settings (header values redacted); 404 when none
    DELETE destinations/webhook?region=us       remove it (204); pushes already queued still go out
    POST   destinations/cohort-webhook          configure a Cohort Webhooks destination (a new sync, 201), body:
           {"url", "headers", "cohort_ids": [...], "cadence": "one-time|hourly|daily|realtime" (realtime),
            "batch_size": 1000, "user_properties": ["email"] (<= 50), "timeout_seconds": 2, "duplicate_rate": 0,
            "region": "us"}
    GET    destinations/cohort-webhook?region=us    its settings and sync state; 404 when none
    DELETE destinations/cohort-webhook?region=us    remove it (204); messages already queued still go out
    POST   destinations/cohort-webhook/compute  {"region": "us"}: compute membership changes now and push them;
           answers what changed per cohort
    GET    deliveries?after=SEQ&limit=N&kind=event|user|cohort   counters and the delivery log (see pushes.py)
    DELETE deliveries                           clear the delivery log and the counters

Invalid settings answer 400 `{"error": reason}` (for example a sixth custom header).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from sandbox.amplitude.destinations import parse_cohort_webhook, parse_webhook, region_of
from sandbox.amplitude.pushes import KINDS
from sandbox.amplitude.webhooks import Webhooks
from sandbox.amplitude.wire import json_response


async def set_webhook(webhooks: Webhooks, request: Request) -> Response:
    destination, refused = await _parsed(request, parse_webhook)
    if refused:
        return refused
    webhooks.set_webhook(destination)
    return json_response(destination.public(), 201)


async def get_webhook(webhooks: Webhooks, request: Request) -> Response:
    return _show(webhooks.webhooks, "webhook", request)


async def delete_webhook(webhooks: Webhooks, request: Request) -> Response:
    return _drop(webhooks.webhooks, "webhook", request)


async def set_cohort_webhook(webhooks: Webhooks, request: Request) -> Response:
    destination, refused = await _parsed(request, parse_cohort_webhook)
    if refused:
        return refused
    sync = webhooks.set_cohort_webhook(destination)
    return json_response(sync.public(), 201)


async def get_cohort_webhook(webhooks: Webhooks, request: Request) -> Response:
    return _show(webhooks.cohort_syncs, "cohort webhook", request)


async def delete_cohort_webhook(webhooks: Webhooks, request: Request) -> Response:
    return _drop(webhooks.cohort_syncs, "cohort webhook", request)


def _show(by_region: dict[str, Any], what: str, request: Request) -> Response:
    """GET: the region's destination (or sync) as configured, or 404."""
    region, refused = _region(request)
    if refused:
        return refused
    found = by_region.get(region)
    return _none(what, region) if found is None else json_response(found.public())


def _drop(by_region: dict[str, Any], what: str, request: Request) -> Response:
    """DELETE: forget the region's destination (or sync); 404 when there is none."""
    region, refused = _region(request)
    if refused:
        return refused
    return _none(what, region) if by_region.pop(region, None) is None else Response(status_code=204)


async def compute_cohorts(webhooks: Webhooks, request: Request) -> Response:
    try:
        body = orjson.loads(await request.body() or b"{}")
        region = region_of(body.get("region") if isinstance(body, dict) else None)
    except (orjson.JSONDecodeError, ValueError) as exc:
        return json_response({"error": str(exc)}, 400)
    result = await webhooks.compute_cohorts(region)
    if result is None:
        return _none("cohort webhook", region)
    return json_response(result)


async def deliveries(webhooks: Webhooks, request: Request) -> Response:
    params = request.query_params
    kind = params.get("kind") or None
    try:
        after, limit = int(params.get("after", "0")), int(params.get("limit", "1000"))
    except ValueError:
        return json_response({"error": "after and limit must be integers"}, 400)
    if kind is not None and kind not in KINDS:
        return json_response({"error": f"kind must be one of {', '.join(KINDS)}"}, 400)
    return json_response(webhooks.pusher.deliveries(after, max(limit, 0), kind))


async def clear_deliveries(webhooks: Webhooks, request: Request) -> Response:
    webhooks.pusher.clear_log()
    return Response(status_code=204)


async def _parsed(request: Request, parse: Callable[[Any], Any]) -> tuple[Any, Response | None]:
    try:
        return parse(orjson.loads(await request.body())), None
    except orjson.JSONDecodeError:
        return None, json_response({"error": "expected a JSON object"}, 400)
    except ValueError as exc:
        return None, json_response({"error": str(exc)}, 400)


def _region(request: Request) -> tuple[str, Response | None]:
    try:
        return region_of(request.query_params.get("region")), None
    except ValueError as exc:
        return "", json_response({"error": str(exc)}, 400)


def _none(what: str, region: str) -> Response:
    return json_response({"error": f"no {what} destination in region {region}"}, 404)
