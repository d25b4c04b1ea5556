"""Ingestion: HTTP V2 `POST /2/httpapi`, `POST /batch`, `/identify` (reference §6) and `/groupidentify`.

Validation follows Amplitude's documented rules; by the chosen convention one invalid event rejects
the whole request (nothing stored) and every offending index is listed. Accepted events are turned
into their export form here (identity, user properties, revenue, timestamps) and stored; the stored
ones are then announced to the ingestion app's `state.on_accepted` hook, when it has one (the
streaming destinations, see webhooks.py), with the time (time.time()) ingestion accepted them.
Groups (`groups`, `$groupidentify`, `/groupidentify`) and their export form: see groups.py.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from sandbox import clock
from sandbox.amplitude import groups, properties
from sandbox.amplitude.project import Project
from sandbox.amplitude.store import Store
from sandbox.amplitude.wire import json_response, to_us, wire_time

HTTP_V2_MAX_BYTES = 1024 * 1024
GROUP_IDENTIFY_MAX_BYTES = 1024 * 1024
MAX_GROUP_IDENTIFICATIONS = 1024
MAX_GROUP_PROPERTIES = 1024
MAX_URL = 8192
BATCH_MAX_BYTES = 20 * 1024 * 1024
MAX_EVENTS = 2000
MAX_STRING = 1024
MAX_DEPTH = 40
INVALID_IDS = {
    "anonymous", "nil", "none", "null", "n/a", "na", "undefined", "unknown", "",
    "00000000-0000-0000-0000-000000000000", "{}", "lmy47d", "0", "-1",
}  # fmt: skip
LANGUAGES = {
    "en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "sv": "Swedish", "pl": "Polish", "ja": "Japanese", "zh": "Chinese", "ko": "Korean", "ru": "Russian",
}  # fmt: skip
STRING_FIELDS = (
    "event_type", "user_id", "device_id", "app_version", "version_name", "platform", "os_name", "os_version",
    "device_brand", "device_manufacturer", "device_model", "carrier", "country", "region", "city", "dma", "language",
    "ip", "idfa", "idfv", "adid", "android_id", "insert_id", "library", "partner_id", "user_agent",
    "productId", "revenueType", "currency", "start_version",
)  # fmt: skip
OBJECT_FIELDS = ("event_properties", "user_properties", "groups", "group_properties", "plan")
INT_FIELDS = ("time", "event_id", "session_id", "quantity")
NUMBER_FIELDS = ("price", "revenue", "location_lat", "location_lng")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


class Problems:
    """Offending event indexes per field, as the 400 body lists them."""

    def __init__(self) -> None:
        self.missing: dict[str, list[int]] = {}
        self.invalid: dict[str, list[int]] = {}
        self.id_lengths: dict[str, list[int]] = {}

    def __bool__(self) -> bool:
        return bool(self.missing or self.invalid or self.id_lengths)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": 400,
            "error": "Request missing required field" if self.missing else "Invalid field values on some events",
            "events_with_invalid_fields": self.invalid,
            "events_with_missing_fields": self.missing,
        }
        if self.id_lengths:
            body["events_with_invalid_id_lengths"] = self.id_lengths
        return body


def validate_event(index: int, event: dict[str, Any], min_id_length: int, problems: Problems) -> dict[str, Any]:
    """A copy of `event` with too-short IDs removed; problems are recorded in `problems`."""
    event = dict(event)

    def invalid(name: str) -> None:
        problems.invalid.setdefault(name, []).append(index)

    for name in STRING_FIELDS:
        value = event.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_STRING):
            invalid(name)
    for name in OBJECT_FIELDS:
        value = event.get(name)
        if value is not None and (not isinstance(value, dict) or _depth(value) > MAX_DEPTH):
            invalid(name)
    for name in INT_FIELDS:
        if event.get(name) is not None and not _is_int(event[name]):
            invalid(name)
    for name in NUMBER_FIELDS:
        if event.get(name) is not None and not _is_number(event[name]):
            invalid(name)
    if not event.get("event_type") or not isinstance(event["event_type"], str):
        problems.missing.setdefault("event_type", []).append(index)
    user_properties = event.get("user_properties")
    if isinstance(user_properties, dict) and properties.mixes_operations_and_plain_keys(user_properties):
        invalid("user_properties")
    if isinstance(event.get("groups"), dict) and groups.normalized(event["groups"]) is None:
        invalid("groups")
    if event.get("event_type") == groups.GROUP_IDENTIFY:
        if isinstance(event.get("group_properties"), dict) and not groups.update_is_valid(event["group_properties"]):
            invalid("group_properties")
        if not event.get("groups"):
            problems.missing.setdefault("groups", []).append(index)
    currency = event.get("currency")
    if isinstance(currency, str) and not (len(currency) == 3 and currency.isalpha() and currency.isupper()):
        invalid("currency")
    has_amount = event.get("price") is not None or event.get("revenue") is not None
    for name in ("productId", "revenueType"):
        if event.get(name) is not None and not has_amount:
            invalid(name)

    had_id = False
    for name in ("user_id", "device_id"):
        value = event.get(name)
        if not isinstance(value, str):
            event.pop(name, None)
            continue
        had_id = True
        if value.strip().lower() in INVALID_IDS:
            invalid(name)
        elif len(value) < min_id_length:
            problems.id_lengths.setdefault(name, []).append(index)
            event.pop(name)
    if not event.get("user_id") and not event.get("device_id") and not had_id:
        problems.missing.setdefault("user_id", []).append(index)
    elif not event.get("user_id") and not event.get("device_id"):
        pass  # every ID was too short: already listed under events_with_invalid_id_lengths
    return event


def _only_short_ids_removed(problems: Problems, events: list[dict[str, Any]]) -> bool:
    """Short IDs are silently dropped unless an event is left without any ID."""
    return not problems.missing and not problems.invalid and all(e.get("user_id") or e.get("device_id") for e in events)


def validate_events(events: list[dict[str, Any]], min_id_length: int) -> tuple[list[dict[str, Any]], Response | None]:
    """(The events with too-short IDs removed, None), or ([], the 400 response listing every problem)."""
    problems = Problems()
    cleaned = [validate_event(i, e, min_id_length, problems) for i, e in enumerate(events)]
    if problems and not _only_short_ids_removed(problems, cleaned):
        return [], json_response(problems.body(), 400)
    return cleaned, None


def _bad_request(error: str, **fields: str) -> Response:
    return json_response({"code": 400, "error": error, **fields}, 400)


def _too_large() -> Response:
    return json_response({"code": 413, "error": "Payload too large"}, 413)


def validate_request(body: Any, api_key: str) -> tuple[list[dict[str, Any]], Response | None]:
    """An HTTP V2 or batch body checked: (its valid events, None), or ([], the 400 response)."""
    if not isinstance(body, dict):
        return [], _bad_request("Invalid JSON request body")
    if not body.get("api_key"):
        return [], _bad_request("Request missing required field", missing_field="api_key")
    if body["api_key"] != api_key:
        return [], _bad_request("Invalid API key")
    events = body.get("events")
    if events is None:
        return [], _bad_request("Request missing required field", missing_field="events")
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        return [], _bad_request("Invalid event JSON")
    if not events:
        return [], _bad_request("Request missing required field", missing_field="events")
    options = body.get("options") or {}
    min_id_length = options.get("min_id_length", 5) if isinstance(options, dict) else 5
    if not _is_int(min_id_length) or min_id_length < 1:
        return [], _bad_request("Invalid field values on some events", invalid_field="options.min_id_length")
    return validate_events(events, min_id_length)


def _declares_more_than(request: Request, limit: int) -> bool:
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > limit


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it exceeds `limit` bytes."""
    if _declares_more_than(request, limit):
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


# -- turning accepted events into stored events ------------------------------------------------


def _revenue_properties(event: dict[str, Any], props: dict[str, Any]) -> None:
    price, quantity, revenue = event.get("price"), event.get("quantity"), event.get("revenue")
    if price is not None:
        q = quantity if quantity is not None else 1
        props["$price"], props["$quantity"] = price, q
        props["$revenue"] = price * q if revenue is None or quantity is not None else revenue
    elif revenue is not None:
        props["$revenue"] = revenue
        if quantity is not None:
            props["$quantity"] = quantity
    for field, name in (("productId", "$productId"), ("revenueType", "$revenueType"), ("currency", "$currency")):
        if event.get(field) is not None:
            props[name] = event[field]


def _event_revenue(props: dict[str, Any]) -> float | None:
    revenue = props.get("$revenue")
    if _is_number(revenue):
        return float(revenue)
    price = props.get("$price")
    if _is_number(price):
        quantity = props.get("$quantity", 1)
        return float(price) * (quantity if _is_number(quantity) else 1)
    return None


def _language(value: str | None) -> str | None:
    if not value:
        return value
    return LANGUAGES.get(value.replace("_", "-").split("-")[0].lower(), value)


class _Batch:
    """Identity resolution and user state for one ingestion transaction (cached, written once)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.users: dict[int, list[Any]] = {}  # amplitude_id -> [user_id, state]
        self.by_user_id: dict[str, int | None] = {}
        self.by_device: dict[str, int | None] = {}
        self.new_devices: dict[str, int] = {}
        self.next_id: int | None = None
        self.groups = groups.GroupState(conn)

    def user(self, amplitude_id: int) -> list[Any]:
        if amplitude_id not in self.users:
            found = Store.user_by_amplitude_id(self.conn, amplitude_id)
            self.users[amplitude_id] = [found[0], found[1]] if found else [None, _new_state()]
        return self.users[amplitude_id]

    def amplitude_id_of_user(self, user_id: str) -> int | None:
        if user_id not in self.by_user_id:
            found = Store.user_by_user_id(self.conn, user_id)
            self.by_user_id[user_id] = found[0] if found else None
            if found and found[0] not in self.users:
                self.users[found[0]] = [user_id, found[1]]
        return self.by_user_id[user_id]

    def device_owner(self, device_id: str) -> int | None:
        if device_id not in self.by_device:
            self.by_device[device_id] = Store.device_owner(self.conn, device_id)
        return self.by_device[device_id]

    def map_device(self, device_id: str, amplitude_id: int) -> None:
        self.by_device[device_id] = amplitude_id
        self.new_devices[device_id] = amplitude_id

    def new_user(self, user_id: str | None) -> int:
        if self.next_id is None:
            self.next_id = Store.max_amplitude_id(self.conn) + 1
        amplitude_id, self.next_id = self.next_id, self.next_id + 1
        self.users[amplitude_id] = [user_id, _new_state()]
        if user_id:
            self.by_user_id[user_id] = amplitude_id
        return amplitude_id

    def resolve(self, user_id: str | None, device_id: str) -> int:
        """Stable Amplitude ID: per user ID; an anonymous device's history joins the user it identifies."""
        device_amp = self.device_owner(device_id)
        if not user_id:
            if device_amp is None:
                device_amp = self.new_user(None)
                self.map_device(device_id, device_amp)
            return device_amp
        amplitude_id = self.amplitude_id_of_user(user_id)
        if amplitude_id is None:
            if device_amp is not None and self.user(device_amp)[0] is None:
                amplitude_id = device_amp
                self.users[amplitude_id][0] = user_id
                self.by_user_id[user_id] = amplitude_id
            else:
                amplitude_id = self.new_user(user_id)
        if device_amp is None:
            self.map_device(device_id, amplitude_id)
        elif device_amp != amplitude_id and self.user(device_amp)[0] is None:
            self.map_device(device_id, amplitude_id)
            merged = self.user(amplitude_id)[1]["merged"]
            if device_amp not in merged:
                merged.append(device_amp)
        return amplitude_id

    def user_rows(self) -> list[tuple[int, str | None, bytes]]:
        return [(amp, uid, orjson.dumps(state)) for amp, (uid, state) in self.users.items()]


def _new_state() -> dict[str, Any]:
    return {
        "properties": {},
        "device_ids": [],
        "merged": [],
        "start_version": None,
        "context": {},
        "paying": False,
        "events": 0,
    }


def device_id_for(user_id: str) -> str:
    """Amplitude derives a device ID from the user ID when none is sent."""
    return hashlib.md5(user_id.encode()).hexdigest()


def store_events(
    project: Project,
    events: list[dict[str, Any]],
    *,
    path: str,
    remote_ip: str | None,
    received_us: int,
    upload_us: int,
    make_uuid: Any = uuid.uuid4,
    stored: list[tuple[dict[str, Any], str, bytes]] | None = None,
) -> int:
    """Store accepted events; returns how many were new (repeated `insert_id`s are dropped).

    `stored`, when given, receives (event as sent, uuid, export form) for each event stored."""
    window_us = int(project.settings()["insert_id_window_days"] * 86400 * 1_000_000)
    app_id = project.project_id
    rows: list[tuple[int, str, int, str, int, int, float | None, bytes]] = []
    insert_rows: list[tuple[str, str, int]] = []
    with project.store.write() as conn:
        batch = _Batch(conn)
        keyed = [
            (e.get("device_id") or device_id_for(e["user_id"]), e["insert_id"]) for e in events if e.get("insert_id")
        ]
        earlier = Store.insert_ids_received(conn, keyed) if keyed else {}
        seen_in_batch: set[tuple[str, str]] = set()
        for event in events:
            user_id = event.get("user_id") or None
            device_id = event.get("device_id") or device_id_for(user_id)  # type: ignore[arg-type]
            insert_id = event.get("insert_id")
            if insert_id:
                key = (device_id, insert_id)
                if key in seen_in_batch:
                    continue
                if key in earlier and upload_us - earlier[key] < window_us:
                    continue
                seen_in_batch.add(key)
                insert_rows.append((device_id, insert_id, upload_us))
            amplitude_id = batch.resolve(user_id, device_id)
            row = _stored_event(
                batch,
                event,
                amplitude_id,
                user_id,
                device_id,
                app_id,
                path,
                remote_ip,
                received_us,
                upload_us,
                make_uuid,
            )
            rows.append(row)
            if stored is not None:
                stored.append((event, row[1], row[7]))
        project.store.save(conn, batch.user_rows(), batch.new_devices.items(), insert_rows, rows)
        batch.groups.save()
    return len(rows)


def _stored_event(
    batch: _Batch,
    event: dict[str, Any],
    amplitude_id: int,
    user_id: str | None,
    device_id: str,
    app_id: int,
    path: str,
    remote_ip: str | None,
    received_us: int,
    upload_us: int,
    make_uuid: Any,
) -> tuple[int, str, int, str, int, int, float | None, bytes]:
    user = batch.user(amplitude_id)
    state = user[1]
    first_event = state["events"] == 0
    state["events"] += 1
    if device_id not in state["device_ids"]:
        state["device_ids"].append(device_id)
    updated = properties.apply(state["properties"], event.get("user_properties") or {})
    version = event.get("version_name") or event.get("app_version")
    if event.get("start_version") and not state["start_version"]:
        state["start_version"] = event["start_version"]
    if version and not state["start_version"]:
        state["start_version"] = version
    if isinstance(event.get("paying"), bool):
        state["paying"] = event["paying"]

    carried = _event_groups(batch, state, event, upload_us)

    event_properties = dict(event.get("event_properties") or {})
    _revenue_properties(event, event_properties)
    revenue = _event_revenue(event_properties)
    if revenue is not None and revenue > 0:
        state["paying"] = True

    ip = event.get("ip")
    if ip == "$remote":
        ip = remote_ip
    context = {
        "platform": event.get("platform"),
        "os_name": event.get("os_name"),
        "os_version": event.get("os_version"),
        "version_name": version,
        "device_type": event.get("device_model"),
        "device_family": event.get("device_brand") or event.get("device_manufacturer"),
        "device_carrier": event.get("carrier"),
        "language": _language(event.get("language")),
        "country": event.get("country"),
        "region": event.get("region"),
        "city": event.get("city"),
        "dma": event.get("dma"),
        "ip_address": ip,
        "location_lat": event.get("location_lat"),
        "location_lng": event.get("location_lng"),
    }
    state["context"].update({k: v for k, v in context.items() if v is not None})
    client_event_us = event["time"] * 1000 if event.get("time") is not None else received_us
    session_id = event.get("session_id") if event.get("session_id") is not None else -1
    event_id = event.get("event_id") if event.get("event_id") is not None else state["events"]
    event_uuid = str(make_uuid())
    body = {
        "uuid": event_uuid,
        "event_id": event_id,
        "event_type": event["event_type"],
        "$insert_id": event.get("insert_id"),
        "$insert_key": None,
        "amplitude_id": amplitude_id,
        "user_id": user_id,
        "device_id": device_id,
        "app": app_id,
        "server_upload_time": wire_time(upload_us),
        "server_received_time": wire_time(received_us),
        "client_upload_time": wire_time(received_us),
        "client_event_time": wire_time(client_event_us),
        "event_time": wire_time(client_event_us),
        "processed_time": wire_time(upload_us),
        "session_id": session_id,
        "event_properties": event_properties,
        "user_properties": state["properties"],
        "group_properties": batch.groups.snapshot(carried),
        "groups": carried,
        "global_user_properties": {},
        "data": {
            "path": path,
            "first_event": first_event,
            "user_properties_updated": updated,
            "group_first_event": {},
            "group_ids": {},
        },
        "data_type": "event",
        **context,
        "start_version": state["start_version"],
        "library": event.get("library") or ("http/2.0" if path == "/2/httpapi" else path.strip("/") + "/1.0"),
        "paying": state["paying"],
        "amplitude_attribution_ids": None,
        "sample_rate": None,
        "plan": event.get("plan") or {},
        "source_id": None,
        "partner_id": event.get("partner_id"),
        "idfa": event.get("idfa"),
        "adid": event.get("adid"),
        "user_creation_time": None,
        "device_manufacturer": None,
        "device_brand": None,
        "device_model": None,
        "amplitude_event_type": None,
        "is_attribution_event": None,
    }
    encoded = orjson.dumps(body)  # user_properties is a snapshot: serialize before the next update
    return (upload_us, event_uuid, amplitude_id, event["event_type"], session_id, client_event_us, revenue, encoded)


def _event_groups(batch: _Batch, state: dict[str, Any], event: dict[str, Any], upload_us: int) -> dict[str, list[str]]:
    """The groups an event carries (see groups.py), after what it changes: a `$groupidentify` updates
    its groups' properties, an `$identify` sets the user's groups."""
    own = groups.normalized(event.get("groups")) or {}
    if event["event_type"] == groups.GROUP_IDENTIFY:
        for group_type, values in own.items():
            for value in values:
                batch.groups.update(group_type, value, event.get("group_properties") or {}, upload_us)
        return own
    if event["event_type"] == "$identify" and own:
        state.setdefault("groups", {}).update(own)
    return {**state.get("groups", {}), **own}


# -- handlers ----------------------------------------------------------------------------------


async def http_v2(project: Project, request: Request) -> Response:
    """`POST /2/httpapi`: JSON, 1 MB and 2000 events at most."""
    return await _accept_json(project, request, "/2/httpapi", HTTP_V2_MAX_BYTES)


async def batch(project: Project, request: Request) -> Response:
    """`POST /batch`: the same body as HTTP V2, up to 20 MB."""
    return await _accept_json(project, request, "/batch", BATCH_MAX_BYTES)


async def identify(project: Project, request: Request) -> Response:
    """`GET`/`POST /identify`: form fields `api_key` and `identification` (one or a list of user updates)."""
    received_us = to_us(clock.now())
    if request.method == "GET":
        if len(str(request.url)) > MAX_URL:
            return PlainTextResponse("URI Too Long", 414)
        fields: Any = request.query_params
    else:
        if _declares_more_than(request, BATCH_MAX_BYTES):
            return _too_large()
        try:
            fields = await request.form()
        except Exception:  # noqa: BLE001 - any unparsable form is the client's error
            return PlainTextResponse("missing_event", 400)
    api_key = fields.get("api_key")
    if not api_key or api_key != project.api_key:
        return PlainTextResponse("invalid_api_key", 400)
    try:
        identification = orjson.loads(fields.get("identification") or "")
    except orjson.JSONDecodeError:
        return PlainTextResponse("missing_event", 400)
    items = identification if isinstance(identification, list) else [identification]
    if not items or not all(isinstance(i, dict) for i in items):
        return PlainTextResponse("missing_event", 400)
    events, invalid = validate_events([{**item, "event_type": "$identify"} for item in items], 5)
    if invalid is not None:
        return invalid
    throttled, _upload_us = await _store(project, request, events, "/identify", received_us)
    if throttled is not None:
        return throttled
    return PlainTextResponse("success")


async def group_identify(project: Project, request: Request) -> Response:
    """`POST`/`GET /groupidentify`: form fields `api_key` and `identification` (one or a list of
    `{group_type, group_value, group_properties}`); 1 MB, 1,024 identifications and 1,024 properties at most.

    200 is the text `success`, as for `/identify`. Amplitude documents the 400s but not their bodies
    (UNCONFIRMED): they are the JSON `{"code": 400, "error": ...}` of HTTP V2, a wrong or missing
    api_key exactly as HTTP V2 answers it, offending identifications listed by field and index."""
    received_us = to_us(clock.now())
    if request.method == "GET":
        if len(str(request.url)) > MAX_URL:
            return PlainTextResponse("URI Too Long", 414)
        fields: Any = request.query_params
    else:
        raw = await read_limited(request, GROUP_IDENTIFY_MAX_BYTES)
        if raw is None:
            return _bad_request("Payload too large: at most 1 MB per request")
        try:
            fields = await _form(request, raw)
        except Exception:  # noqa: BLE001 - any unparsable form is the client's error
            return _bad_request("Invalid form body")
    if not fields.get("api_key"):
        return _bad_request("Request missing required field", missing_field="api_key")
    if fields["api_key"] != project.api_key:
        return _bad_request("Invalid API key")
    if not fields.get("identification"):
        return _bad_request("Request missing required field", missing_field="identification")
    try:
        identification = orjson.loads(fields["identification"])
    except (orjson.JSONDecodeError, TypeError):  # TypeError: sent as a file part
        return _bad_request("Invalid identification JSON")
    items = identification if isinstance(identification, list) else [identification]
    if not items or not all(isinstance(i, dict) for i in items):
        return _bad_request("Invalid identification JSON")
    if len(items) > MAX_GROUP_IDENTIFICATIONS:
        return _bad_request(f"Too many identifications: at most {MAX_GROUP_IDENTIFICATIONS} per request")
    if sum(groups.property_count(i.get("group_properties") or {}) for i in items) > MAX_GROUP_PROPERTIES:
        return _bad_request(f"Too many group properties: at most {MAX_GROUP_PROPERTIES} per request")
    checked, problems = _checked_identifications(items)
    if problems:
        return json_response(problems, 400)
    await run_in_threadpool(store_group_identifications, project, checked, received_us)
    return PlainTextResponse("success")


async def _form(request: Request, raw: bytes) -> Any:
    """The form of a body already read (url-encoded or multipart)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return await Request(request.scope, replay).form()


def _checked_identifications(
    items: list[dict[str, Any]],
) -> tuple[list[tuple[str, str, dict[str, Any]]], dict[str, Any] | None]:
    """(group_type, group_value, update) per identification, or the 400 body listing every offending index."""
    missing: dict[str, list[int]] = {}
    invalid: dict[str, list[int]] = {}
    checked = []
    for index, item in enumerate(items):
        group_type, value = item.get("group_type"), item.get("group_value")
        update = item.get("group_properties") if item.get("group_properties") is not None else {}
        for name, given in (("group_type", group_type), ("group_value", value)):
            if given is None or given == "":
                missing.setdefault(name, []).append(index)
        if group_type and (not isinstance(group_type, str) or len(group_type) > groups.MAX_VALUE):
            invalid.setdefault("group_type", []).append(index)
        text = groups.group_value(value) if value not in (None, "") else None
        if value not in (None, "") and text is None:
            invalid.setdefault("group_value", []).append(index)
        if not groups.update_is_valid(update):
            invalid.setdefault("group_properties", []).append(index)
        checked.append((group_type, text, update))
    if not missing and not invalid:
        return checked, None
    return [], {
        "code": 400,
        "error": "Request missing required field" if missing else "Invalid field values on some identifications",
        "identifications_with_invalid_fields": invalid,
        "identifications_with_missing_fields": missing,
    }


def store_group_identifications(
    project: Project, identifications: list[tuple[str, str, dict[str, Any]]], updated_us: int
) -> None:
    """Apply (group_type, group_value, update) identifications to the project's groups, in order."""
    with project.store.write() as conn:
        state = groups.GroupState(conn)
        for group_type, value, update in identifications:
            state.update(group_type, value, update, updated_us)
        state.save()


async def _accept_json(project: Project, request: Request, path: str, max_bytes: int) -> Response:
    received_us = to_us(clock.now())
    raw = await read_limited(request, max_bytes)
    if raw is None:
        return _too_large()
    if not raw.strip():
        return _bad_request("Missing request body")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _bad_request("Invalid JSON request body")
    if isinstance(body, dict) and isinstance(body.get("events"), list) and len(body["events"]) > MAX_EVENTS:
        return _too_large()
    events, error = validate_request(body, project.api_key)
    if error is not None:
        return error
    throttled, upload_us = await _store(project, request, events, path, received_us)
    if throttled is not None:
        return throttled
    return json_response(
        {
            "code": 200,
            "events_ingested": len(events),
            "payload_size_bytes": len(raw),
            "server_upload_time": upload_us // 1000,
        }
    )


async def _store(
    project: Project, request: Request, events: list[dict[str, Any]], path: str, received_us: int
) -> tuple[Response | None, int]:
    """Throttle, then store validated events: (the 429 response or None once stored, the upload time in µs)."""
    for event in events:
        if not event.get("device_id"):
            event["device_id"] = device_id_for(event["user_id"])
    throttled = project.throttle.check(events, path)
    if throttled:
        return json_response(throttled, 429), 0
    upload_us = max(to_us(clock.now()), received_us)
    remote = request.client.host if request.client else None
    stored: list[tuple[dict[str, Any], str, bytes]] = []
    await run_in_threadpool(
        store_events,
        project,
        events,
        path=path,
        remote_ip=remote,
        received_us=received_us,
        upload_us=upload_us,
        stored=stored,
    )
    announce_accepted(request, project, stored)
    return None, upload_us


def announce_accepted(request: Request, project: Project, stored: list[tuple[dict[str, Any], str, bytes]]) -> None:
    """Hand the events just stored, and when they were accepted, to the ingestion app's `on_accepted` hook."""
    on_accepted = getattr(request.app.state, "on_accepted", None)
    if on_accepted is not None and stored:
        on_accepted(project, stored, time.time())
