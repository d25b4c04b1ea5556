"""Brevo webhooks (POST/GET/PUT/DELETE /webhooks): what the account registered, and where pushes go.

The spec validates the bodies; this module adds what the spec's schema cannot say (reference §1): the
subscription names each type allows, at most `MAX_WEBHOOKS` per account, `auth` of type `bearer` with a
token, `headers` as `{key, value}` pairs, `domain` for an inbound webhook. Secrets (the bearer token, header
values, a password in the URL) are kept and shown by the API as Brevo shows them, but `redacted` hides them
for the admin listing, and a `WebhookTarget` carries the URL without its credentials (they become an
`Authorization: Basic` header) so the delivery log never holds them.
"""

from __future__ import annotations

import base64
import ipaddress
import sqlite3
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import orjson

from sandbox import clock
from sandbox.brevo.errors import BrevoError, invalid, missing, not_found
from sandbox.brevo.store import iso
from sandbox.custom_headers import check_custom_headers

MAX_WEBHOOKS = 40
PUSH_TIMEOUT_SECONDS = 10.0  # chosen: Brevo does not document how long it waits for a receiver
REDACTED = "<redacted>"
WEBHOOK_NOT_FOUND = "Webhook not found"
TOO_MANY = f"You can create at most {MAX_WEBHOOKS} webhooks"  # chosen message: Brevo documents only the limit

# Subscription names per type, email channel (reference §1; the spec's enum mixes every type's names).
EMAIL_EVENTS = {
    "transactional": frozenset(
        {"sent", "request", "delivered", "hardBounce", "softBounce", "blocked", "spam", "invalid", "deferred",
         "click", "opened", "uniqueOpened", "unsubscribed"}
    ),
    "marketing": frozenset(
        {"spam", "opened", "click", "hardBounce", "softBounce", "unsubscribed", "listAddition", "delivered",
         "contactUpdated", "contactDeleted"}
    ),
    "inbound": frozenset({"inboundEmailProcessed", "reply"}),
}  # fmt: skip
_SETTINGS = ("url", "description", "events", "batched", "auth", "headers", "domain")


@dataclass(frozen=True)
class WebhookTarget:
    """Where a webhook's pushes go (the shared pusher's `Target`): the URL without credentials, the headers."""

    url: str
    headers: tuple[tuple[str, str], ...]
    timeout_seconds: float
    duplicate_rate: float = 0.0  # duplicates come from fault rules (service `brevo_webhooks`, action `duplicate`)


@dataclass(frozen=True)
class Webhook:
    id: int
    type: str
    channel: str
    settings: dict[str, Any]
    created_at: float
    modified_at: float

    @property
    def events(self) -> list[str]:
        return self.settings["events"]

    @property
    def batched(self) -> bool:
        return bool(self.settings.get("batched"))

    def public(self) -> dict[str, Any]:
        """As GET /webhooks shows it."""
        shown: dict[str, Any] = {
            "id": self.id,
            "url": self.settings["url"],
            "description": self.settings.get("description", ""),
            "events": list(self.events),
            "type": self.type,
            "channel": self.channel,
            "batched": self.batched,
            "createdAt": iso(self.created_at),
            "modifiedAt": iso(self.modified_at),
        }
        for name in ("auth", "headers", "domain"):
            if self.settings.get(name):
                shown[name] = self.settings[name]
        return shown

    def redacted(self) -> dict[str, Any]:
        """As the admin listing shows it: no token, header value nor password."""
        shown = self.public()
        shown["url"] = _without_password(shown["url"])
        if "auth" in shown:
            shown["auth"] = {**shown["auth"], "token": REDACTED}
        if "headers" in shown:
            shown["headers"] = [{"key": h["key"], "value": REDACTED} for h in shown["headers"]]
        return shown

    def target(self) -> WebhookTarget:
        parts = urlsplit(self.settings["url"])
        headers = [(h["key"], h["value"]) for h in self.settings.get("headers") or []]
        auth = self.settings.get("auth")
        credentials = None
        if auth:
            credentials = f"Bearer {auth['token']}"
        elif parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            credentials = "Basic " + base64.b64encode(pair.encode()).decode()
        if credentials is not None:  # it wins over a custom Authorization header
            headers = [(k, v) for k, v in headers if k.lower() != "authorization"] + [("Authorization", credentials)]
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        return WebhookTarget(url, tuple(headers), PUSH_TIMEOUT_SECONDS)


def create(db: sqlite3.Connection, body: dict[str, Any]) -> int:
    """POST /webhooks -> the new webhook's id."""
    if db.execute("SELECT COUNT(*) FROM webhooks").fetchone()[0] >= MAX_WEBHOOKS:
        raise BrevoError(400, "invalid_parameter", TOO_MANY)
    kind = body.get("type", "transactional")
    channel = body.get("channel", "email")
    settings = _checked(kind, channel, {k: body[k] for k in _SETTINGS if k in body})
    now = clock.now()
    cursor = db.execute(
        "INSERT INTO webhooks (type, channel, body, created_at, modified_at) VALUES (?, ?, ?, ?, ?)",
        (kind, channel, orjson.dumps(settings).decode(), now, now),
    )
    return int(cursor.lastrowid)


def update(db: sqlite3.Connection, webhook_id: int, body: dict[str, Any]) -> None:
    """PUT /webhooks/{id}: the given settings replace the stored ones."""
    webhook = require(db, webhook_id)
    changed = {**webhook.settings, **{k: body[k] for k in _SETTINGS if k in body}}
    settings = _checked(webhook.type, webhook.channel, changed)
    db.execute(
        "UPDATE webhooks SET body=?, modified_at=? WHERE id=?",
        (orjson.dumps(settings).decode(), clock.now(), webhook_id),
    )


def delete(db: sqlite3.Connection, webhook_id: int) -> None:
    require(db, webhook_id)
    db.execute("DELETE FROM webhooks WHERE id=?", (webhook_id,))


def require(db: sqlite3.Connection, webhook_id: int) -> Webhook:
    row = db.execute("SELECT * FROM webhooks WHERE id=?", (webhook_id,)).fetchone()
    if row is None:
        raise not_found(WEBHOOK_NOT_FOUND)
    return _webhook(row)


def listing(db: sqlite3.Connection, kind: str | None = None, sort: str = "desc") -> list[Webhook]:
    """Webhooks of one type (every type for None), by creation."""
    order = "ASC" if sort == "asc" else "DESC"
    where, args = ("WHERE type=?", (kind,)) if kind else ("", ())
    rows = db.execute(f"SELECT * FROM webhooks {where} ORDER BY created_at {order}, id {order}", args)
    return [_webhook(row) for row in rows]


def subscribed(db: sqlite3.Connection, kind: str, channel: str = "email") -> list[Webhook]:
    """The webhooks pushes of `kind` go to, oldest first."""
    return [w for w in listing(db, kind, "asc") if w.channel == channel]


def _webhook(row: sqlite3.Row) -> Webhook:
    return Webhook(
        row["id"], row["type"], row["channel"], orjson.loads(row["body"]), row["created_at"], row["modified_at"]
    )


def _checked(kind: str, channel: str, settings: dict[str, Any]) -> dict[str, Any]:
    _check_url(settings.get("url"))
    events = settings.get("events")
    if not events:
        raise missing("events: at least one event is required")
    allowed = EMAIL_EVENTS[kind] if channel == "email" else None
    if allowed is not None:
        wrong = [e for e in events if e not in allowed]
        if wrong:
            raise invalid(
                f"events: {', '.join(wrong)} not valid for a {kind} webhook (valid: {', '.join(sorted(allowed))})"
            )
    settings["events"] = list(dict.fromkeys(events))
    if kind == "inbound" and not settings.get("domain"):
        raise missing("domain is required for an inbound webhook")
    auth = settings.get("auth")
    if auth:  # `{}` means no authentication
        if auth.get("type") != "bearer" or not isinstance(auth.get("token"), str) or not auth["token"]:
            raise invalid('auth must be {"type": "bearer", "token": "<non-empty token>"}')
        if any(c in auth["token"] for c in "\r\n\0"):
            raise invalid("auth.token must be a single line")
        settings["auth"] = {"type": "bearer", "token": auth["token"]}
    settings["headers"] = _checked_headers(settings.get("headers") or [])
    return settings


def _check_url(url: Any) -> None:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("url must be an absolute http or https URL")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise invalid("url has an invalid port") from None
    if parts.scheme == "http" and not _loopback(parts.hostname):
        # The sandbox never sends a token or a password in clear text off this machine.
        raise invalid("url must use https unless it points at a loopback address")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _checked_headers(headers: list[dict[str, Any]]) -> list[dict[str, str]]:
    try:
        check_custom_headers(((h.get("key"), h.get("value")) for h in headers), "Brevo")
    except ValueError as exc:
        raise invalid(f"headers: {exc}") from None
    return [{"key": h["key"], "value": h["value"]} for h in headers]


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:{REDACTED}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
