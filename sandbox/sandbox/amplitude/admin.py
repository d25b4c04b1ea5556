"""Inspection and fault handlers under /_sandbox/amplitude/; the routes are in `routes.ADMIN_OPERATIONS`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.amplitude.export import parse_hour
from sandbox.amplitude.organization import Organization
from sandbox.amplitude.project import Project
from sandbox.amplitude.wire import json_response, wire_time

CORRUPT_GZIP_USAGE = 'expected {"hour": "YYYYMMDDTHH", "region": "us"|"eu", "count": n >= 1}'


async def stats(organization: Organization, request: Request) -> Response:
    """Row counts per region."""
    return json_response({region: p.store.counts() for region, p in organization.projects.items()})


async def corrupt_gzip_rules(organization: Organization, request: Request) -> Response:
    """Pending corrupt-gzip rules: region -> epoch hour -> exports left."""
    return json_response(
        {region: {str(h): n for h, n in p.corrupt_gzip.items()} for region, p in organization.projects.items()}
    )


async def add_corrupt_gzip(organization: Organization, request: Request) -> Response:
    """The next `count` exports that contain `hour` carry a corrupt gzip member inside a valid zip."""
    rule = await _corrupt_gzip_rule(organization, request)
    if rule is None:
        return json_response({"error": CORRUPT_GZIP_USAGE}, 400)
    body, project, hour, count = rule
    pending = project.add_corrupt_gzip(hour, count)
    return json_response({"hour": body["hour"], "region": project.region, "count": pending}, 201)


async def clear_corrupt_gzip(organization: Organization, request: Request) -> Response:
    for project in organization.projects.values():
        project.clear_corrupt_gzip()
    return Response(status_code=204)


async def _corrupt_gzip_rule(
    organization: Organization, request: Request
) -> tuple[dict[str, Any], Project, int, int] | None:
    """(body, project, epoch hour, count) of a corrupt-gzip request, or None when it is malformed."""
    try:
        body = await request.json()
        hour = parse_hour(body.get("hour"))
        project = organization.projects[body.get("region", "us")]
        count = int(body.get("count", 1))
    except (ValueError, KeyError, AttributeError, TypeError):
        return None
    if hour is None or count < 1:
        return None
    return body, project, hour, count


async def groups(organization: Organization, request: Request) -> Response:
    """Every group per region: its properties now and when they were last updated (sandbox clock)."""
    return json_response(
        {
            region: [
                {"group_type": t, "group_value": v, "group_properties": props, "updated_time": wire_time(at)}
                for t, v, props, at in p.store.groups()
            ]
            for region, p in organization.projects.items()
        }
    )
