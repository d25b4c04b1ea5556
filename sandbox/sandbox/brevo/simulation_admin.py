"""Admin handlers that send, under /_sandbox/brevo/ (routes in `routes.SIMULATION_ADMIN_OPERATIONS`).

    POST   simulate/campaign        a marketing campaign to a list (body: see simulation.py); 201
           {"campaign_id", "recipients", "events": [payload without "id"], "webhooks": [{"id", "events", "requests"}]}
    POST   simulate/transactional   transactional emails;
           201 {"messages": [{"email", "messageId"}], "events", "webhooks"}
    GET    webhook-deliveries?after=SEQ&limit=N&kind=marketing|transactional   counters and the delivery log
    DELETE webhook-deliveries       clear the delivery log and the counters

A simulation answers before its pushes go out. A bad body answers 400 `{"error": reason}`, an unknown list
404 Brevo's error body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sandbox.brevo import simulation
from sandbox.brevo.account import Account
from sandbox.brevo.errors import BrevoError

Handler = Callable[[Account, Request], Awaitable[Response]]
KINDS = ("marketing", "transactional")


def endpoint(account: Account, by_method: dict[str, Handler]) -> Callable[[Request], Awaitable[Response]]:
    async def answer(request: Request) -> Response:
        handler = by_method.get(request.method) or by_method["GET"]  # Starlette routes HEAD to GET
        return await handler(account, request)

    return answer


def _simulation(run: Callable[[Account, Any], tuple[dict[str, Any], simulation.Planned]]) -> Handler:
    async def handler(account: Account, request: Request) -> Response:
        account.pusher.start()
        try:
            body = orjson.loads(await request.body() or b"null")
            result, planned = await run_in_threadpool(run, account, body)
        except orjson.JSONDecodeError:
            return _json({"error": "expected a JSON object"}, 400)
        except BrevoError as exc:
            return _json(exc.body(), exc.status)
        except (TypeError, ValueError) as exc:
            return _json({"error": str(exc)}, 400)
        by_due: dict[float, list[Any]] = {}
        for due, push in planned:
            by_due.setdefault(due, []).append(push)
        for due, pushes in sorted(by_due.items()):
            account.pusher.submit(pushes, due)
        return _json(result, 201)

    return handler


simulate_campaign = _simulation(simulation.campaign)
simulate_transactional = _simulation(simulation.transactional)


async def deliveries(account: Account, request: Request) -> Response:
    params = request.query_params
    kind = params.get("kind") or None
    try:
        after, limit = int(params.get("after", "0")), int(params.get("limit", "1000"))
    except ValueError:
        return _json({"error": "after and limit must be integers"}, 400)
    if kind is not None and kind not in KINDS:
        return _json({"error": f"kind must be one of {', '.join(KINDS)}"}, 400)
    return _json(account.pusher.deliveries(after, max(limit, 0), kind))


async def clear_deliveries(account: Account, request: Request) -> Response:
    account.pusher.clear_log()
    return Response(status_code=204)


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")
