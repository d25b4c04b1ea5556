"""Behavioral cohorts (reference §3): list, async download (request, status, file), upload, membership.

Large cohort files answer 302 to a pre-signed-style URL on the same host under `/_s3/` (no Basic
auth, `X-Amz-Expires`, 403 once expired), like Amplitude's links to S3.
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import hmac
import io
import secrets
import string
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from sandbox import clock
from sandbox.amplitude.project import Project
from sandbox.amplitude.store import Store
from sandbox.amplitude.wire import api_error, json_response, rate_limited

S3_PREFIX = "/_s3/"
S3_PATH = "/_s3/amplitude-cohort-downloads/{request_id}.csv"
_ALPHABET = string.ascii_lowercase + string.digits


def _new_id(length: int = 7) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def cohort_csv(project: Project, cohort_id: str, props: bool, prop_keys: list[str]) -> Iterator[bytes]:
    """The cohort file: RFC 4180, CRLF, header `amplitude_id,user_id[,properties...]`, streamed."""
    conn = project.store.reader()
    conn.execute("BEGIN")
    try:
        columns: list[str] = []
        if props:
            if prop_keys:
                columns = list(prop_keys)
            else:
                names: set[str] = set()
                for _amp, _uid, state in Store.cohort_members(conn, cohort_id):
                    names.update(orjson.loads(state)["properties"])
                columns = sorted(names)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(["amplitude_id", "user_id", *columns])
        for amplitude_id, user_id, state in Store.cohort_members(conn, cohort_id):
            values = orjson.loads(state)["properties"] if columns else {}
            writer.writerow([amplitude_id, user_id or "", *(_csv_value(values.get(c)) for c in columns)])
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()
    finally:
        conn.close()


def cohort_document(
    project: Project, existing: dict[str, Any] | None, name: str, owner: str, published: bool, description: str = ""
) -> dict[str, Any]:
    """A new (or updated) uploaded cohort's document, as the list endpoint shows it (size is computed)."""
    now = int(clock.now())
    doc = existing or {
        "appId": project.project_id,
        "archived": False,
        "description": description,
        "finished": True,
        "id": _new_id(),
        "viewers": [],
        "type": "redshift",
        "createdAt": now,
        "hidden": False,
        "metadata": None,
        "view_count": 0,
        "popularity": 0,
        "last_viewed": None,
        "chart_id": None,
        "edit_id": None,
        "is_predictive": False,
        "is_official_content": False,
        "location_id": None,
        "shortcut_ids": [],
        "syncMetadata": [],
    }
    doc.pop("size", None)
    doc.update(
        name=name,
        owners=[owner],
        published=published,
        lastMod=now,
        lastComputed=now,
        definition={
            "cohortType": "UPLOAD",
            "countGroup": {"name": "User", "is_computed": False},
            "cohortId": doc["id"],
        },
    )
    return doc


def _signature(project: Project, request_id: str, issued: str, expires: str) -> str:
    """A pre-signed-style link's signature: HMAC over the request id, issue time and lifetime."""
    return hmac.new(project.link_key, f"{request_id}\n{issued}\n{expires}".encode(), hashlib.sha256).hexdigest()


def _public_document(doc: dict[str, Any], sync_info: bool) -> dict[str, Any]:
    result = {k: v for k, v in doc.items() if k != "syncMetadata"}
    if sync_info:
        result["syncMetadata"] = doc.get("syncMetadata", [])
    return result


async def list_cohorts(project: Project, request: Request) -> Response:
    if denied := project.check_auth(request):
        return denied
    sync_info = request.query_params.get("includeSyncInfo", "").lower() == "true"
    cohorts = await run_in_threadpool(project.store.cohorts)
    return json_response({"cohorts": [_public_document(c, sync_info) for c in cohorts]})


async def request_cohort(project: Project, request: Request) -> Response:
    if denied := project.check_auth(request):
        return denied
    cohort_id = request.path_params["cohort_id"]
    if await run_in_threadpool(project.store.cohort, cohort_id) is None:
        return api_error(404, f"Cohort {cohort_id} not found")
    props = request.query_params.get("props", "0")
    if props not in ("0", "1"):
        return api_error(400, "props must be 0 or 1")
    if not project.cohort_requests.allow():
        return rate_limited(
            f"Too many cohort download requests: at most {project.cohort_requests.limit()} per 10 minutes"
        )
    request_id = _new_id(12)
    prop_keys = request.query_params.getlist("propKeys")
    await run_in_threadpool(
        project.store.save_cohort_request, request_id, cohort_id, props == "1", prop_keys, clock.now()
    )
    return json_response({"request_id": request_id, "cohort_id": cohort_id}, 202)


def _finished(project: Project, job: dict[str, Any]) -> bool:
    return clock.now() >= job["requested_at"] + float(project.settings()["cohort_request_seconds"])


async def request_status(project: Project, request: Request) -> Response:
    if denied := project.check_auth(request):
        return denied
    job = await run_in_threadpool(project.store.cohort_request, request.path_params["request_id"])
    if job is None:
        return api_error(404, "Cohort request not found")
    done = _finished(project, job)
    body = {
        "request_id": job["request_id"],
        "cohort_id": job["cohort_id"],
        "async_status": "JOB COMPLETED" if done else "JOB INPROGRESS",
    }
    return json_response(body, 200 if done else 202)


async def request_file(project: Project, request: Request) -> Response:
    if denied := project.check_auth(request):
        return denied
    job = await run_in_threadpool(project.store.cohort_request, request.path_params["request_id"])
    if job is None:
        return api_error(404, "Cohort request not found")
    if not _finished(project, job):
        return api_error(400, "Cohort request not completed")
    cohort = await run_in_threadpool(project.store.cohort, job["cohort_id"])
    if cohort is None:
        return api_error(404, f"Cohort {job['cohort_id']} not found")
    settings = project.settings()
    if cohort["size"] > settings["cohort_redirect_rows"]:
        issued = datetime.fromtimestamp(int(clock.now()), UTC).strftime("%Y%m%dT%H%M%SZ")
        expires = str(int(settings["cohort_url_ttl_seconds"]))
        query = (
            f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={issued}&X-Amz-Expires={expires}"
            f"&X-Amz-SignedHeaders=host&X-Amz-Signature={_signature(project, job['request_id'], issued, expires)}"
        )
        path = S3_PATH.format(request_id=job["request_id"])
        return RedirectResponse(f"{str(request.base_url).rstrip('/')}{path}?{query}", status_code=302)
    return StreamingResponse(
        cohort_csv(project, job["cohort_id"], job["props"], job["prop_keys"]), media_type="text/csv"
    )


async def presigned_file(project: Project, request: Request) -> Response:
    params = request.query_params
    request_id = request.path_params["request_id"]
    issued, expires = params.get("X-Amz-Date", ""), params.get("X-Amz-Expires", "")
    signature = params.get("X-Amz-Signature", "")
    if not hmac.compare_digest(signature, _signature(project, request_id, issued, expires)) or not expires.isdigit():
        return _s3_error(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    issued_at = calendar.timegm(time.strptime(issued, "%Y%m%dT%H%M%SZ"))
    if clock.now() > issued_at + int(expires):
        return _s3_error("AccessDenied", "Request has expired")
    job = await run_in_threadpool(project.store.cohort_request, request_id)
    if job is None:
        return _s3_error("NoSuchKey", "The specified key does not exist.", 404)
    return StreamingResponse(
        cohort_csv(project, job["cohort_id"], job["props"], job["prop_keys"]), media_type="text/csv"
    )


async def _authorized_json(project: Project, request: Request) -> tuple[dict[str, Any], Response | None]:
    """The JSON object a write endpoint received, or the 401/400 answer that refuses the request."""
    if denied := project.check_auth(request):
        return {}, denied
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return {}, api_error(400, "Request body must be a JSON object")
    if not isinstance(body, dict):
        return {}, api_error(400, "Request body must be a JSON object")
    return body, None


async def upload(project: Project, request: Request) -> Response:
    body, refused = await _authorized_json(project, request)
    if refused:
        return refused
    for name in ("name", "app_id", "id_type", "ids", "owner", "published"):
        if name not in body:
            return api_error(400, f"Missing required field '{name}'")
    if body["id_type"] not in ("BY_AMP_ID", "BY_USER_ID"):
        return api_error(400, "id_type must be BY_AMP_ID or BY_USER_ID")
    if (
        not isinstance(body["ids"], list)
        or not isinstance(body["name"], str)
        or not isinstance(body["published"], bool)
    ):
        return api_error(400, "ids must be a list, name a string and published a boolean")
    if len(body["ids"]) > 100_000:
        return api_error(400, "At most 100000 identifiers per request")
    if str(body["app_id"]) != str(project.project_id):
        return api_error(400, f"app_id {body['app_id']} does not match this project")
    existing_id = body.get("existing_cohort_id")
    existing = await run_in_threadpool(project.store.cohort, existing_id) if existing_id else None
    if existing_id and existing is None:
        return api_error(404, f"Cohort {existing_id} not found")
    kind = "user" if body["id_type"] == "BY_USER_ID" else "amplitude"
    found, unknown = await run_in_threadpool(project.store.amplitude_ids_for, kind, body["ids"])
    if unknown and not body.get("skip_invalid_ids", True):
        return api_error(400, f"{len(unknown)} invalid ids, e.g. {', '.join(unknown[:10])}")
    doc = cohort_document(
        project, existing, body["name"], body["owner"], body["published"], body.get("description", "")
    )
    await run_in_threadpool(lambda: project.store.save_cohort(doc, add=found, replace=True))
    return json_response(
        {
            "cohortId": doc["id"],
            "metadata": {"total_ids": len(body["ids"]), "valid_ids": len(found), "invalid_ids": unknown[:100]},
        }
    )


async def membership(project: Project, request: Request) -> Response:
    body, refused = await _authorized_json(project, request)
    if refused:
        return refused
    cohort_id = body.get("cohort_id")
    memberships = body.get("memberships")
    if not cohort_id or not isinstance(memberships, list) or not memberships:
        return api_error(400, "cohort_id and a non-empty memberships list are required")
    doc = await run_in_threadpool(project.store.cohort, str(cohort_id))
    if doc is None:
        return api_error(404, f"Cohort {cohort_id} not found")
    plan: list[tuple[str, list[int], list[str]]] = []
    for item in memberships:
        if not isinstance(item, dict) or not isinstance(item.get("ids"), list):
            return api_error(400, "each membership needs ids, id_type and operation")
        if item.get("id_type") not in ("BY_ID", "BY_NAME") or item.get("operation") not in ("ADD", "REMOVE"):
            return api_error(400, "id_type must be BY_ID or BY_NAME and operation ADD or REMOVE")
        kind = "user" if item["id_type"] == "BY_NAME" else "amplitude"
        found, unknown = await run_in_threadpool(project.store.amplitude_ids_for, kind, item["ids"])
        if unknown and not body.get("skip_invalid_ids", True):
            return api_error(400, f"{len(unknown)} invalid ids, e.g. {', '.join(unknown[:10])}")
        plan.append((item["operation"], found, unknown))
    doc.pop("size", None)
    doc["lastMod"] = doc["lastComputed"] = int(clock.now())

    def apply() -> None:
        for operation, found, _unknown in plan:
            if operation == "ADD":
                project.store.save_cohort(doc, add=found)
            else:
                project.store.save_cohort(doc, remove=found)

    await run_in_threadpool(apply)
    return json_response(
        {
            "cohort_id": doc["id"],
            "memberships_result": [{"skipped_ids": unknown, "operation": op} for op, _f, unknown in plan],
        }
    )


def _s3_error(code: str, message: str, status: int = 403) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(body, status_code=status, media_type="application/xml")
