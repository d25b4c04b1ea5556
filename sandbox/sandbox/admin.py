"""The sandbox-only admin API, served on every port under the reserved prefix `/_sandbox`.

GET    /_sandbox/requests[?service=S&limit=N]   request log: counts per endpoint, recent calls
DELETE /_sandbox/requests                       clear the log
GET    /_sandbox/faults                         pending fault rules
POST   /_sandbox/faults                         add a rule (see faults.FaultRule)
DELETE /_sandbox/faults                         drop every rule
POST   /_sandbox/reset                          reset every emulator, the log, the faults and the clock
GET    /_sandbox/clock                          the sandbox clock {"now": ISO, "offset_seconds": s}
PUT    /_sandbox/clock                          set it: {"now": ISO 8601} or {"offset_seconds": s}
POST   /_sandbox/{emulator}/reset               reset one emulator
POST   /_sandbox/{emulator}/seed                seed one emulator (JSON parameters)
GET    /_sandbox/{emulator}/config              its settings
PATCH  /_sandbox/{emulator}/config              change its settings
...    /_sandbox/{emulator}/...                 emulator-specific inspection routes
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from sandbox import clock
from sandbox.emulator import Emulator
from sandbox.faults import ADMIN_PREFIX, FaultRegistry, RequestLog


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise TypeError("expected a JSON object")
    return data


def admin_routes(emulators: list[Emulator], faults: FaultRegistry, log: RequestLog) -> list[BaseRoute]:
    by_name = {e.name: e for e in emulators}

    async def requests_log(request: Request) -> Response:
        if request.method == "DELETE":
            log.clear()
            return Response(status_code=204)
        limit = int(request.query_params.get("limit", "200"))
        return json_response(log.summary(request.query_params.get("service"), limit))

    async def fault_rules(request: Request) -> Response:
        if request.method == "DELETE":
            faults.clear()
            return Response(status_code=204)
        if request.method == "POST":
            try:
                rule = faults.add(await _json_body(request))
            except (TypeError, ValueError) as exc:
                return json_response({"error": str(exc)}, 400)
            return json_response(rule.public(), 201)
        return json_response({"faults": faults.list()})

    async def reset_all(request: Request) -> Response:
        for emulator in emulators:
            emulator.reset()
        faults.clear()
        log.clear()
        clock.set_offset(0)
        return Response(status_code=204)

    async def sandbox_clock(request: Request) -> Response:
        if request.method == "PUT":
            try:
                body = await _json_body(request)
                if "now" in body:
                    clock.set_now(clock.parse_iso(str(body["now"])))
                else:
                    clock.set_offset(float(body["offset_seconds"]))
            except (KeyError, TypeError, ValueError) as exc:
                return json_response({"error": f"expected {{'now': ISO 8601}} or {{'offset_seconds': s}}: {exc}"}, 400)
        return json_response({"now": clock.now_datetime().isoformat(), "offset_seconds": clock.offset()})

    def emulator_routes(emulator: Emulator) -> Mount:
        async def reset(request: Request) -> Response:
            emulator.reset()
            return Response(status_code=204)

        async def seed(request: Request) -> Response:
            try:
                params = await _json_body(request)
            except (TypeError, ValueError) as exc:
                return json_response({"error": str(exc)}, 400)
            # Seeding can be long and synchronous: keep the event loop (and other ports) responsive.
            try:
                result = await run_in_threadpool(emulator.seed, params)
            except (TypeError, ValueError) as exc:
                return json_response({"error": str(exc)}, 400)
            return json_response(result, 201)

        async def config(request: Request) -> Response:
            if request.method == "PATCH":
                try:
                    return json_response(emulator.configure(await _json_body(request)))
                except (TypeError, ValueError, KeyError) as exc:
                    return json_response({"error": str(exc)}, 400)
            return json_response(emulator.config())

        return Mount(
            f"/{emulator.name}",
            routes=[
                Route("/reset", reset, methods=["POST"]),
                Route("/seed", seed, methods=["POST"]),
                Route("/config", config, methods=["GET", "PATCH"]),
                *emulator.admin_routes(),
            ],
        )

    return [
        Mount(
            ADMIN_PREFIX,
            routes=[
                Route("/requests", requests_log, methods=["GET", "DELETE"]),
                Route("/faults", fault_rules, methods=["GET", "POST", "DELETE"]),
                Route("/reset", reset_all, methods=["POST"]),
                Route("/clock", sandbox_clock, methods=["GET", "PUT"]),
                *(emulator_routes(e) for e in by_name.values()),
            ],
        )
    ]
