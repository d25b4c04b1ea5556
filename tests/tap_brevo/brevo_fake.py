"""A small local stand-in for the Brevo API routes tap-brevo calls (`/v3/smtp/statistics/events`, `/v3/webhooks`,
`/v3/contacts/{identifier}`), on a free loopback port, for narrow tests of paging, pacing and idempotence. It
records every request and sends `x-sib-ratelimit-*` headers from a per-bucket counter."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

API_KEY = "xkeysib-fake-test-key-77"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class FakeBrevo:
    statistics: list[dict[str, Any]] = field(default_factory=list)  # report rows, oldest first
    webhooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # by lower-case email
    smtp_limit: int = 300
    smtp_remaining: int = 300
    smtp_reset: int = 1
    throttle_next: int = 0  # answer this many next requests with 429
    calls: list[Call] = field(default_factory=list)
    next_id: int = 1
    url: str = ""

    def calls_to(self, method: str, prefix: str) -> list[Call]:
        return [call for call in self.calls if call.method == method and call.path.startswith(prefix)]


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _row_day(row: dict[str, Any]) -> date:
    return datetime.fromisoformat(row["date"]).date()


def _handler(fake: FakeBrevo) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            path = parts.path.removeprefix("/v3")
            fake.calls.append(Call(method, path, query, body, dict(self.headers)))
            if self.headers.get("api-key") != API_KEY:
                self._answer(401, {"code": "unauthorized", "message": "Key not found"})
                return
            if path.startswith("/smtp/"):
                self._smtp(path, query)
            elif path.startswith("/webhooks"):
                self._webhooks(method, path, query, body)
            elif path.startswith("/contacts/"):
                contact = fake.contacts.get(unquote(path.removeprefix("/contacts/")).lower())
                self._answer(200, contact) if contact else self._answer(
                    404, {"code": "document_not_found", "message": "Contact does not exist"}
                )
            else:
                self._answer(404, {"code": "not_found", "message": "no route"})

        def _smtp(self, path: str, query: dict[str, str]) -> None:
            if fake.throttle_next > 0:
                fake.throttle_next -= 1
                self._answer(
                    429,
                    {"code": "too_many_requests", "message": "Too many requests"},
                    {"x-sib-ratelimit-limit": str(fake.smtp_limit), "x-sib-ratelimit-remaining": "0",
                     "x-sib-ratelimit-reset": str(fake.smtp_reset)},
                )  # fmt: skip
                return
            fake.smtp_remaining = max(0, fake.smtp_remaining - 1)
            headers = {
                "x-sib-ratelimit-limit": str(fake.smtp_limit),
                "x-sib-ratelimit-remaining": str(fake.smtp_remaining),
                "x-sib-ratelimit-reset": str(fake.smtp_reset),
            }
            first, last = _day(query["startDate"]), _day(query["endDate"])
            rows = [row for row in fake.statistics if first <= _row_day(row) <= last]
            if "event" in query:
                rows = [row for row in rows if row["event"] == query["event"]]
            if query.get("sort") != "asc":
                rows = rows[::-1]
            offset, limit = int(query.get("offset", 0)), int(query.get("limit", 2500))
            self._answer(200, {"events": rows[offset : offset + limit]}, headers)

        def _webhooks(self, method: str, path: str, query: dict[str, str], body: Any) -> None:
            tail = path.removeprefix("/webhooks").strip("/")
            if method == "GET" and not tail:
                kind = query.get("type", "transactional")
                hooks = [hook for hook in fake.webhooks.values() if hook["type"] == kind]
                self._answer(200, {"webhooks": hooks})
            elif method == "POST" and not tail:
                hook_id = fake.next_id
                fake.next_id += 1
                fake.webhooks[hook_id] = {
                    "id": hook_id, "type": body.get("type", "transactional"), "createdAt": "2026-01-01T00:00:00Z",
                    "modifiedAt": "2026-01-01T00:00:00Z", **{k: v for k, v in body.items() if k != "type"},
                }  # fmt: skip
                self._answer(201, {"id": hook_id})
            elif tail.isdigit() and int(tail) in fake.webhooks:
                if method == "PUT":
                    fake.webhooks[int(tail)].update(body)
                    self._answer(204)
                elif method == "DELETE":
                    del fake.webhooks[int(tail)]
                    self._answer(204)
                else:
                    self._answer(200, fake.webhooks[int(tail)])
            else:
                self._answer(404, {"code": "document_not_found", "message": "Webhook not found"})

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


def serve(fake: FakeBrevo) -> Iterator[FakeBrevo]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v3"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
