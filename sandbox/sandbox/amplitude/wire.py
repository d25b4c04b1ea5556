"""Amplitude wire formats shared by the routes: timestamps, Basic auth, error envelopes."""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
from datetime import datetime, timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

_EPOCH = datetime(1970, 1, 1)


def wire_time(us: int | None) -> str | None:
    """Microseconds since the epoch -> `YYYY-MM-DD HH:MM:SS.ffffff` (UTC, no zone), Amplitude's export form."""
    if us is None:
        return None
    seconds, micros = divmod(us, 1_000_000)
    return f"{_second(seconds)}.{micros:06d}"


@functools.lru_cache(maxsize=8192)
def _second(seconds: int) -> str:
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def to_us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def api_error(status: int, details: str, kind: str = "invalid", message: str | None = None) -> Response:
    """The error envelope of the Basic-auth APIs (reference §1)."""
    error: dict[str, Any] = {"http_code": status, "type": kind}
    if kind != "unspecified":
        error["message"] = message or details
    error["metadata"] = {"details": details}
    return json_response({"error": error}, status)


def rate_limited(details: str) -> Response:
    return api_error(429, details, kind="rate_limited")


def check_basic_auth(request: Request, api_key: str, secret_key: str) -> Response | None:
    """None when the credentials match; otherwise the documented 403 (reference §1)."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    user = password = None
    if scheme.lower() == "basic" and encoded:
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
            if not sep:
                user = password = None
        except (binascii.Error, UnicodeDecodeError):
            user = password = None
    if user is None or not hmac.compare_digest(user.encode(), api_key.encode()):
        return api_error(403, "Invalid API Key", kind="unspecified")
    if not hmac.compare_digest((password or "").encode(), secret_key.encode()):
        return api_error(403, "Invalid API/Secret Key combination", kind="unspecified")
    return None
