"""Dashboard REST reads (reference §4, §5): user search, user activity, events list.

Chosen where Amplitude is silent: an unknown Amplitude ID in user activity answers 404 (§1
envelope, `User not found`); `events` are export event objects, newest first by default.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sandbox.amplitude.project import Project
from sandbox.amplitude.wire import api_error, json_response, rate_limited


def _day(us: int | None) -> str | None:
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%d") if us is not None else None


def user_data(amplitude_id: int, summary: dict[str, Any]) -> dict[str, Any]:
    state = summary["state"]
    context = state["context"]
    lat, lng = context.get("location_lat"), context.get("location_lng")
    os_name = " ".join(p for p in (context.get("os_name"), context.get("os_version")) if p) or None
    return {
        "user_id": summary["user_id"],
        "canonical_amplitude_id": amplitude_id,
        "merged_amplitude_ids": state["merged"],
        "num_events": summary["num_events"],
        "num_sessions": summary["num_sessions"],
        "usage_time": summary["usage_us"] // 1000,
        "first_used": _day(summary["first_us"]),
        "last_used": _day(summary["last_us"]),
        "purchases": summary["purchases"],
        "revenue": summary["revenue"],
        "paying": state["paying"],
        "platform": context.get("platform"),
        "os": os_name,
        "version": context.get("version_name"),
        "device": context.get("device_family"),
        "device_type": context.get("device_type"),
        "carrier": context.get("device_carrier"),
        "country": context.get("country"),
        "region": context.get("region"),
        "city": context.get("city"),
        "dma": context.get("dma"),
        "language": context.get("language"),
        "start_version": state["start_version"],
        "device_ids": state["device_ids"],
        "last_location": {"lat": lat, "lng": lng} if lat is not None and lng is not None else None,
        "properties": state["properties"],
    }


def _int_param(request: Request, name: str, default: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    return int(raw) if raw.isdigit() else None


def _over_hourly_limit(project: Project) -> Response | None:
    if project.user_queries.allow():
        return None
    return rate_limited(f"User search and activity are limited to {project.user_queries.limit()} queries per hour")


async def usersearch(project: Project, request: Request) -> Response:
    if denied := project.check_auth(request):
        return denied
    term = request.query_params.get("user", "")
    if not term:
        return api_error(400, "Missing required parameter 'user'")
    if limited := _over_hourly_limit(project):
        return limited
    found = await run_in_threadpool(project.store.search_users, term)
    if not found:
        return json_response({"type": "nomatch", "matches": []})
    return json_response(
        {
            "matches": [{"user_id": uid, "amplitude_id": amp} for uid, amp in found],
            "type": "match_user_or_device_id",
        }
    )


async def useractivity(project: Project, request: Request) -> Response:
    if denied := project.check_auth(request):
        return denied
    raw_user = request.query_params.get("user", "")
    if not raw_user.isdigit():
        return api_error(400, "Parameter 'user' must be an Amplitude ID")
    offset, limit = _int_param(request, "offset", 0), _int_param(request, "limit", 1000)
    direction = request.query_params.get("direction", "latest")
    if offset is None or limit is None or not 1 <= limit <= 1000 or direction not in ("latest", "earliest"):
        return api_error(400, "offset >= 0, 1 <= limit <= 1000 and direction latest|earliest expected")
    if limited := _over_hourly_limit(project):
        return limited
    amplitude_id = int(raw_user)
    summary = await run_in_threadpool(project.store.user_summary, amplitude_id)
    if summary is None:
        return api_error(404, "User not found")
    bodies = await run_in_threadpool(project.store.user_events, amplitude_id, offset, limit, direction == "latest")
    content = (
        b'{"userData":' + orjson.dumps(user_data(amplitude_id, summary)) + b',"events":[' + b",".join(bodies) + b"]}"
    )
    return Response(content, media_type="application/json")


async def events_list(project: Project, request: Request) -> Response:
    if denied := project.check_auth(request):
        return denied
    totals = await run_in_threadpool(project.store.event_type_totals)
    data = [
        {
            "id": index,
            "value": name,
            "display": name,
            "totals": count,
            "totals_delta": 0,
            "deleted": False,
            "hidden": False,
            "autohidden": False,
            "non_active": False,
            "flow_hidden": False,
            "clusters_hidden": False,
            "in_waitroom": False,
            "timeline_hidden": False,
        }
        for index, (name, count) in enumerate(totals, start=1)
        if not name.startswith("$")  # $identify and other internal types are not event types
    ]
    return json_response({"data": data})
