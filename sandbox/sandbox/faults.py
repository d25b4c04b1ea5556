"""Fault injection and the request log, shared by every emulator.

`SandboxMiddleware` wraps each service's ASGI app. For every request it records a log entry
(service, method, route template, status) and, when a fault rule matches, applies it: a scripted
response, added latency, a dropped connection, or a truncated or corrupted body.
"""

from __future__ import annotations

import asyncio
import collections
import fnmatch
import itertools
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox import clock

ADMIN_PREFIX = "/_sandbox"
ACTIONS = ("status", "latency", "reset", "truncate", "corrupt", "duplicate")
# What the emulators send rather than serve: rules with this service apply to Amplitude's webhook pushes
# (`path` matches the receiver URL's path): status = the receiver seems to answer it, reset = no connection,
# latency = sent that much later, truncate / corrupt = the body is cut or damaged, duplicate = sent twice.
PUSH_SERVICE = "amplitude_webhooks"


@dataclass
class FaultRule:
    """One rule: applies `action` to the next `count` requests that match."""

    id: int
    action: str
    service: str | None = None
    method: str | None = None
    path: str = "*"
    count: int = 1
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    latency_ms: int = 0
    truncate_bytes: int = 0
    corrupt_offset: int | None = None
    corrupt_length: int = 16

    def matches(self, service: str, method: str, path: str) -> bool:
        if self.count <= 0:
            return False
        if self.service and self.service != service:
            return False
        if self.method and self.method.upper() != method:
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class FaultRegistry:
    """Thread-safe store of fault rules; a rule is consumed when it fires."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, spec: dict[str, Any]) -> FaultRule:
        action = spec.get("action")
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        allowed = set(FaultRule.__dataclass_fields__) - {"id"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        with self._lock:
            rule = FaultRule(id=next(self._ids), **spec)
            self._rules.append(rule)
        return rule

    def take(self, service: str, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(service, method, path):
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                    return rule
        return None

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.public() for r in self._rules]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


@dataclass
class LoggedRequest:
    """One served request as the request log keeps it."""

    service: str
    method: str
    path: str
    route: str
    status: int
    started: float
    duration_ms: float
    fault: str | None = None


class RequestLog:
    """Counts of calls per endpoint (unbounded) and the most recent requests (bounded)."""

    def __init__(self, keep: int = 50_000) -> None:
        self._recent: collections.deque[LoggedRequest] = collections.deque(maxlen=keep)
        self._counts: collections.Counter[tuple[str, str, int]] = collections.Counter()
        self._lock = threading.Lock()

    def add(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._recent.append(entry)
            self._counts[(entry.service, f"{entry.method} {entry.route}", entry.status)] += 1

    def summary(self, service: str | None = None, limit: int = 200) -> dict[str, Any]:
        with self._lock:
            counts: dict[str, dict[str, int]] = {}
            by_status: dict[str, dict[str, dict[str, int]]] = {}
            for (svc, endpoint, status), n in self._counts.items():
                if service and svc != service:
                    continue
                counts.setdefault(svc, {}).setdefault(endpoint, 0)
                counts[svc][endpoint] += n
                by_status.setdefault(svc, {}).setdefault(endpoint, {})[str(status)] = n
            recent = [e.__dict__ for e in self._recent if not service or e.service == service]
        return {
            "total": sum(sum(v.values()) for v in counts.values()),
            "counts": counts,
            "statuses": by_status,
            "recent": recent[-limit:] if limit else [],
        }

    def clear(self) -> None:
        with self._lock:
            self._recent.clear()
            self._counts.clear()


def route_template(scope: Scope) -> str | None:
    """The matched route's path template (e.g. `/v3/contacts/{identifier}`), read after routing.

    Starlette's router records the matched route in the scope it was given; a Mount adds its
    matched prefix to `root_path`.
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return None
    return scope.get("root_path", "") + path


def abort_connection(send: Send) -> bool:
    """Drop the TCP connection with a reset (RST), like a crashed peer or proxy would."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()
    return True


class _ConnectionDropped(Exception):
    """A `reset` fault dropped the connection: nothing was answered."""


class SandboxMiddleware:
    """Outermost ASGI wrapper of a service: logs every request and applies fault rules."""

    def __init__(self, app: ASGIApp, service: str, faults: FaultRegistry, log: RequestLog) -> None:
        self.app = app
        self.service = service
        self.faults = faults
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(ADMIN_PREFIX + "/") or path == ADMIN_PREFIX:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        started = time.time()
        status_box = {"status": 0}
        rule = self.faults.take(self.service, method, path)

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box["status"] = message["status"]
                message = _with_date(message)
            await send(message)

        try:
            if rule is None:
                await self.app(scope, receive, logging_send)
            else:
                await self._apply(rule, scope, receive, send, logging_send)
        except _ConnectionDropped:
            status_box["status"] = 0
        finally:
            self.log.add(
                LoggedRequest(
                    service=self.service,
                    method=method,
                    path=path,
                    route=route_template(scope) or path,
                    status=status_box["status"],
                    started=started,
                    duration_ms=round((time.time() - started) * 1000, 3),
                    fault=rule.action if rule else None,
                )
            )

    async def _apply(self, rule: FaultRule, scope: Scope, receive: Receive, raw_send: Send, send: Send) -> None:
        if rule.action == "latency":
            await asyncio.sleep(rule.latency_ms / 1000)
            await self.app(scope, receive, send)
        elif rule.action == "status":
            await self._scripted_response(rule, send)
        elif rule.action == "reset":
            if not abort_connection(raw_send):
                raise RuntimeError("cannot reach the transport to reset the connection")
            raise _ConnectionDropped
        elif rule.action == "truncate":
            await self.app(scope, receive, _Truncating(send, rule.truncate_bytes))
        elif rule.action == "corrupt":
            await self.app(scope, receive, _Corrupting(send, rule.corrupt_offset, rule.corrupt_length))

    @staticmethod
    async def _scripted_response(rule: FaultRule, send: Send) -> None:
        if rule.body is None:
            body = b""
        elif isinstance(rule.body, str):
            body = rule.body.encode()
        else:
            body = orjson.dumps(rule.body)
        headers = {k.lower(): v for k, v in rule.headers.items()}
        if body and "content-type" not in headers:
            headers["content-type"] = "text/plain" if isinstance(rule.body, str) else "application/json"
        headers["content-length"] = str(len(body))
        await send(
            {
                "type": "http.response.start",
                "status": rule.status,
                "headers": [(k.encode(), str(v).encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _with_date(message: Message) -> Message:
    """Every response carries the sandbox clock, as a real server's `Date` header."""
    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
    headers.append((b"date", clock.http_date().encode()))
    return dict(message, headers=headers)


def _without_length(message: Message) -> Message:
    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
    return dict(message, headers=headers)


class _Truncating:
    """Ends the body cleanly after `limit` bytes (chunked encoding, so the client sees a short body)."""

    def __init__(self, send: Send, limit: int) -> None:
        self.send = send
        self.left = limit
        self.done = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            await self.send(_without_length(message))
            return
        if self.done or message["type"] != "http.response.body":
            return
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) >= self.left:
            body, more = body[: self.left], False
        self.left -= len(body)
        self.done = not more
        await self.send({"type": "http.response.body", "body": body, "more_body": more})


class _Corrupting:
    """Flips `length` bytes at `offset` of the body (default: its middle, once the size is known)."""

    def __init__(self, send: Send, offset: int | None, length: int) -> None:
        self.send = send
        self.offset = offset
        self.length = length
        self.seen = 0
        self.size: int | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            for key, value in message.get("headers", []):
                if key.lower() == b"content-length":
                    self.size = int(value)
            await self.send(message)
            return
        if message["type"] != "http.response.body":
            await self.send(message)
            return
        body = bytearray(message.get("body", b""))
        offset = self.offset
        if offset is None:
            offset = (self.size // 2) if self.size is not None else 512
        start = max(offset - self.seen, 0)
        end = min(offset + self.length - self.seen, len(body))
        for i in range(start, end):
            body[i] ^= 0xFF
        self.seen += len(body)
        await self.send(dict(message, body=bytes(body)))
