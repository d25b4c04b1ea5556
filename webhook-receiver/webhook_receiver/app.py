"""The HTTP contract: endpoints declared as (path, auth check, classifier), served by one Starlette app.

For each POST, in this order:
1. auth: the endpoint's check on the request headers; 401 `{"error": "unauthorized"}` otherwise (nothing echoed);
2. size: a Content-Length, or a streamed body, over `max_body_bytes` gets 413;
3. parse: a body that is not JSON gets 400 with the reason;
4. classify: the endpoint's `classify(payload)` returns the items to keep as `(kind, item)` pairs, or raises
   ValueError whose message is the reason for a 400;
5. keep: the items go to the spool in one transaction; 200 `{"accepted": n}` once they are durable, 503 if the
   spool cannot take them (disk full, size limit, I/O error), so that the sender retries.
Nothing is kept for a request that is refused. `GET /health` answers 200 with the spool's figures while the spool
is readable, 503 otherwise; it needs no secret (it tells only counts).
"""

from __future__ import annotations

import hmac
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from webhook_receiver.committer import GroupCommitter
from webhook_receiver.spool import SpoolError, SpoolFull

logger = logging.getLogger(__name__)

HEALTH_PATH = "/health"

Classifier = Callable[[Any], list[tuple[str, Any]]]
AuthCheck = Callable[[Headers], bool]


@dataclass(frozen=True)
class Endpoint:
    """One webhook URL: who may post (`authorize`), and what a body holds (`classify`, see the module docstring);
    `description` says what it takes, for logs."""

    path: str
    authorize: AuthCheck
    classify: Classifier
    description: str = ""


def shared_secret(header: str, expected: str) -> AuthCheck:
    """An auth check: the request's `header` must equal `expected` exactly (constant-time comparison)."""
    if not header or not expected:
        raise ValueError("a shared-secret check needs a header name and a non-empty secret")
    if expected != expected.strip():
        raise ValueError("the secret must not start or end with whitespace (HTTP drops it from header values)")
    expected_bytes = expected.encode()

    def authorize(headers: Headers) -> bool:
        given = headers.get(header)
        # Starlette decodes header bytes as latin-1: encoding back gives the bytes that were sent.
        return given is not None and hmac.compare_digest(given.encode("latin-1"), expected_bytes)

    return authorize


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


_UNAUTHORIZED = orjson.dumps({"error": "unauthorized"})


class Counts(Counter[str]):
    """What the receiver did: `requests` and `items` accepted, and refusals by status (`status_401`, ...)."""


def build_app(endpoints: list[Endpoint], committer: GroupCommitter, *, max_body_bytes: int) -> tuple[Starlette, Counts]:
    """The Starlette app for `endpoints`, keeping accepted items through `committer`; and its live counts."""
    counts = Counts()

    def refuse(status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
        counts[f"status_{status}"] += 1
        return _json(status, {"error": reason}, headers)

    def receiver(endpoint: Endpoint) -> Callable[[Request], Any]:
        async def receive(request: Request) -> Response:
            if not endpoint.authorize(request.headers):
                counts["status_401"] += 1
                return Response(_UNAUTHORIZED, status_code=401, media_type="application/json")
            too_large = f"body larger than {max_body_bytes} bytes"
            declared = request.headers.get("content-length")
            if declared is not None:
                if not declared.isdigit():
                    return refuse(400, "invalid Content-Length")
                if int(declared) > max_body_bytes:
                    return refuse(413, too_large)
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_body_bytes:
                    return refuse(413, too_large)
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                return refuse(400, f"malformed JSON: {exc}")
            try:
                items = endpoint.classify(payload)
            except ValueError as exc:
                return refuse(400, str(exc))
            if not items:
                return refuse(400, "the body holds nothing to keep")
            try:
                await committer.append([(kind, orjson.dumps(item)) for kind, item in items])
            except SpoolFull as exc:
                logger.warning("Refused a request with 503: %s", exc)
                return refuse(503, "spool full, retry later", {"Retry-After": "60"})
            except SpoolError as exc:
                logger.error("Refused a request with 503: %s", exc)
                return refuse(503, "spool unavailable, retry later", {"Retry-After": "10"})
            counts["requests"] += 1
            counts["items"] += len(items)
            return _json(200, {"accepted": len(items)})

        return receive

    async def health(request: Request) -> Response:
        spool = committer.spool
        try:
            await run_in_threadpool(spool.probe)
        except SpoolError as exc:
            logger.error("Health check: %s", exc)
            return _json(503, {"status": "unavailable", "error": "spool unreadable"})
        stats = spool.stats()
        return _json(
            200,
            {
                "status": "ok",
                "pending": stats.pending,
                "pending_bytes": stats.pending_bytes,
                "last_seq": stats.last_seq,
            },
        )

    routes = [Route(endpoint.path, receiver(endpoint), methods=["POST"]) for endpoint in endpoints]
    routes.append(Route(HEALTH_PATH, health, methods=["GET"]))
    return Starlette(routes=routes), counts
