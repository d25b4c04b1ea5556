"""User Privacy API v1 (reference: amplitude-streaming-and-privacy.md §3): a project's deletion jobs.

A job is every Amplitude ID scheduled for one `day`; its status follows the sandbox clock:
- a request joins the job of (request day + `JOB_LEAD_DAYS`), UTC days;
- `staging` until `LOCK_DAYS_BEFORE` days before the job day (IDs can be removed), `submitted`
  from then, `done` from `DONE_DAYS_AFTER` days after the job day (`active_scrub_done_date`).

Chosen where Amplitude is silent: over `MAX_RUNNING_JOBS` jobs not yet done, a request that would
open a new job answers 429 (it clears with time, like a rate limit); removing an ID that a job does
not hold answers 404, from a job no longer staging 400; a removal answers the removed entry. The
1 request/s limit counts every privacy route of the project and is checked after authentication.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sandbox import clock
from sandbox.amplitude.project import Project
from sandbox.amplitude.store import Store
from sandbox.amplitude.wire import api_error, json_response, rate_limited

JOB_LEAD_DAYS = 7
LOCK_DAYS_BEFORE = 3
DONE_DAYS_AFTER = 5
MAX_IDS_PER_REQUEST = 100
MAX_RUNNING_JOBS = 8
MAX_RANGE_DAYS = 183  # "6 months"


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _today() -> date:
    return clock.now_datetime().date()


def job_status(day: date, today: date) -> str:
    if today < day - timedelta(days=LOCK_DAYS_BEFORE):
        return "staging"
    if today < day + timedelta(days=DONE_DAYS_AFTER):
        return "submitted"
    return "done"


def _gate(project: Project, request: Request) -> Response | None:
    if denied := project.check_auth(request):
        return denied
    if not project.privacy_requests.allow():
        return rate_limited(f"The User Privacy API allows {project.privacy_requests.limit()} request per second")
    return None


def _id_list(body: dict[str, Any], name: str, kind: type) -> list[Any]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
        raise _Refused(api_error(400, f"'{name}' must be a list of {'integers' if kind is int else 'strings'}"))
    return value


def _parse_create(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _Refused(api_error(400, "Request body must be JSON")) from None
    if not isinstance(body, dict):
        raise _Refused(api_error(400, "Request body must be a JSON object"))
    amplitude_ids, user_ids = _id_list(body, "amplitude_ids", int), _id_list(body, "user_ids", str)
    if not amplitude_ids and not user_ids:
        raise _Refused(api_error(400, "Give at least one of 'amplitude_ids' or 'user_ids'"))
    if len(amplitude_ids) + len(user_ids) > MAX_IDS_PER_REQUEST:
        raise _Refused(api_error(400, f"At most {MAX_IDS_PER_REQUEST} ids per request"))
    requester = body.get("requester")
    if requester is not None and not isinstance(requester, str):
        raise _Refused(api_error(400, "'requester' must be a string"))
    return {
        "amplitude_ids": amplitude_ids,
        "user_ids": user_ids,
        "requester": requester,
        "ignore_invalid_id": body.get("ignore_invalid_id") is True,
        "include_mapped_user_ids": body.get("include_mapped_user_ids") is True,
    }


def _schedule(project: Project, ask: dict[str, Any]) -> dict[str, Any]:
    """Resolve the IDs and add them to the job due JOB_LEAD_DAYS out, in one transaction."""
    today = _today()
    day = today + timedelta(days=JOB_LEAD_DAYS)
    with project.store.write() as conn:
        known = Store.user_ids_of(conn, ask["amplitude_ids"])
        mapped = Store.amplitude_ids_of(conn, ask["user_ids"])
        invalid: list[Any] = [a for a in ask["amplitude_ids"] if a not in known]
        invalid += [u for u in ask["user_ids"] if u not in mapped]
        if invalid and not ask["ignore_invalid_id"]:
            raise _Refused(api_error(400, f"Invalid ids: {orjson.dumps(invalid).decode()}"))
        user_of = dict(known) | {amplitude_id: user_id for user_id, amplitude_id in mapped.items()}
        targets = list(dict.fromkeys([*known, *mapped.values()]))
        running = Store.deletion_days_from(conn, (today - timedelta(days=DONE_DAYS_AFTER - 1)).isoformat())
        if targets and day.isoformat() not in running and len(running) >= MAX_RUNNING_JOBS:
            raise _Refused(rate_limited(f"At most {MAX_RUNNING_JOBS} running deletion jobs per project"))
        held = Store.add_deletions(conn, day.isoformat(), targets, ask["requester"], today.isoformat())
    entries = []
    for amplitude_id in targets:
        entry: dict[str, Any] = {
            "amplitude_id": amplitude_id,
            "requester": held[amplitude_id][0],
            "requested_on_day": held[amplitude_id][1],
        }
        if ask["include_mapped_user_ids"]:
            entry["user_id"] = user_of[amplitude_id]
        entries.append(entry)
    return {
        "day": day.isoformat(),
        "status": job_status(day, today),
        "amplitude_ids": entries,
        "app": project.project_id,
        "invalid_ids": invalid,
    }


async def create_deletions(project: Project, request: Request) -> Response:
    if refused := _gate(project, request):
        return refused
    try:
        ask = _parse_create(await request.body())
        return json_response(await run_in_threadpool(_schedule, project, ask))
    except _Refused as refused_:
        return refused_.response


def parse_day(raw: str) -> date | None:
    """A `YYYY-MM-DD` day, strictly (None otherwise)."""
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    return day if day.isoformat() == raw else None


def _day_param(request: Request, name: str) -> date:
    raw = request.query_params.get(name)
    if not raw:
        raise _Refused(api_error(400, f"Missing required parameter '{name}'"))
    if (day := parse_day(raw)) is None:
        raise _Refused(api_error(400, f"'{name}' must be YYYY-MM-DD"))
    return day


def _jobs(project: Project, start: date, end: date) -> list[dict[str, Any]]:
    today = _today()
    jobs: dict[str, dict[str, Any]] = {}
    for day_text, amplitude_id, requester, requested_on_day in project.store.deletions_between(
        start.isoformat(), end.isoformat()
    ):
        job = jobs.get(day_text)
        if job is None:
            day = date.fromisoformat(day_text)
            status = job_status(day, today)
            done_on = (day + timedelta(days=DONE_DAYS_AFTER)).isoformat() if status == "done" else None
            job = jobs[day_text] = {
                "day": day_text,
                "status": status,
                "amplitude_ids": [],
                "app": project.project_id,
                "active_scrub_done_date": done_on,
            }
        job["amplitude_ids"].append(
            {"amplitude_id": amplitude_id, "requester": requester, "requested_on_day": requested_on_day}
        )
    return list(jobs.values())


async def list_deletions(project: Project, request: Request) -> Response:
    if refused := _gate(project, request):
        return refused
    try:
        start, end = _day_param(request, "start_day"), _day_param(request, "end_day")
    except _Refused as refused_:
        return refused_.response
    if end < start:
        return api_error(400, "'end_day' must not be before 'start_day'")
    if (end - start).days > MAX_RANGE_DAYS:
        return api_error(400, "The range from 'start_day' to 'end_day' is at most 6 months")
    return json_response(await run_in_threadpool(_jobs, project, start, end))


def _unschedule(project: Project, day: date, amplitude_id: int) -> Response:
    with project.store.write() as conn:
        held = Store.deletion_of(conn, day.isoformat(), amplitude_id)
        if held is None:
            return api_error(404, f"Amplitude ID {amplitude_id} is not in the deletion job of {day.isoformat()}")
        if job_status(day, _today()) != "staging":
            return api_error(400, f"The deletion job of {day.isoformat()} is no longer staging: it cannot be changed")
        Store.remove_deletion(conn, day.isoformat(), amplitude_id)
    return json_response({"amplitude_id": amplitude_id, "requester": held[0], "requested_on_day": held[1]})


async def remove_deletion(project: Project, request: Request) -> Response:
    if refused := _gate(project, request):
        return refused
    raw_id, day = request.path_params["amplitude_id"], parse_day(request.path_params["day"])
    if not raw_id.isdigit() or day is None:
        return api_error(400, "The path is /api/2/deletions/users/{amplitude_id}/{YYYY-MM-DD}")
    return await run_in_threadpool(_unschedule, project, day, int(raw_id))
