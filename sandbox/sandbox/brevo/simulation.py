"""The admin simulations of sending email: a marketing campaign to a list, transactional emails.

Each answers the truth (every simulated event as its webhook payload, without the webhook's `id`) and the
pushes to make: the registered webhooks of that type subscribed to each event. A marketing unsubscribe
blacklists the contact (`emailBlacklisted`), as Brevo does; transactional events are recorded for
`GET /smtp/statistics/events`. Bodies (unknown fields refused, ValueError names what is wrong):

    campaign:      {"list_id", "name", "tag", "rates", "seed", "spread_seconds", "links", "realtime"}
    transactional: {"emails": [...] | "list_id", "subject", "template_id", "tags", "sender", "custom",
                    "rates", "seed", "spread_seconds", "links", "realtime"}
"""

from __future__ import annotations

import secrets
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from sandbox import clock
from sandbox.brevo import attributes as attrs
from sandbox.brevo import engagement, lists, webhook_payloads, webhooks
from sandbox.brevo.account import Account
from sandbox.brevo.engagement import Happening, Recipient
from sandbox.brevo.webhook_pushes import pushes_for
from sandbox.pushes import Push

DEFAULT_SUBJECT = "Sandbox email"
DEFAULT_SENDER = "no-reply@sandbox.example"
DEFAULT_CAMPAIGN_NAME = "Sandbox campaign"
MESSAGE_DOMAIN = "smtp-relay.mailin.fr"
MAX_RECIPIENTS = 100_000
_COMMON = {"rates", "seed", "spread_seconds", "links", "realtime"}
CAMPAIGN_FIELDS = _COMMON | {"list_id", "name", "tag"}
TRANSACTIONAL_FIELDS = _COMMON | {"emails", "list_id", "subject", "template_id", "tags", "sender", "custom"}

Planned = list[tuple[float, Push]]


def campaign(account: Account, body: Any) -> tuple[dict[str, Any], Planned]:
    body = _object(body, CAMPAIGN_FIELDS)
    list_id = _integer(body, "list_id", required=True)
    rates = engagement.parse_rates("marketing", body.get("rates"))
    realtime = _realtime(body)
    now = clock.now()
    with account.store.tx() as db:
        lists.require_list(db, list_id)
        recipients = _list_recipients(db, list_id, skip_blacklisted=True)
        name = _string(body, "name", DEFAULT_CAMPAIGN_NAME)
        campaign_id = int(
            db.execute(
                "INSERT INTO campaigns (name, list_id, sent_at) VALUES (?, ?, ?)", (name, list_id, now)
            ).lastrowid
        )
        details = {"id": campaign_id, "name": name, "tag": _string(body, "tag", ""), "list_id": list_id, "sent_at": now}
        happenings = _simulate("marketing", recipients, rates, body, now)
        unsubscribed = {h.recipient.contact_id for h in happenings if h.event == "unsubscribed"}
        db.executemany(
            "UPDATE contacts SET email_blacklisted=1, modified_at=? WHERE id=?", [(now, cid) for cid in unsubscribed]
        )
        hooks = webhooks.subscribed(db, "marketing")

    def payload(h: Happening) -> dict[str, Any]:
        return webhook_payloads.marketing(h, details)

    def key(h: Happening) -> str:
        return f"{campaign_id}|{h.recipient.email}|{h.event}"

    planned, per_webhook = _plan(hooks, happenings, payload, key, None if realtime else now)
    result = {
        "campaign_id": campaign_id,
        "recipients": len(recipients),
        "events": [payload(h) for h in happenings],
        "webhooks": per_webhook,
    }
    return result, planned


def transactional(account: Account, body: Any) -> tuple[dict[str, Any], Planned]:
    body = _object(body, TRANSACTIONAL_FIELDS)
    rates = engagement.parse_rates("transactional", body.get("rates"))
    realtime = _realtime(body)
    template_id = _integer(body, "template_id")
    tags = body.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError("tags must be a list of strings")
    now = clock.now()
    with account.store.tx() as db:
        recipients = _transactional_recipients(db, body)
        happenings = _simulate("transactional", recipients, rates, body, now)
        messages = {r.email: _message(body, template_id, tags, now) for r in recipients}
        db.executemany(
            "INSERT INTO smtp_events (message_id, email, event, at, template_id, body) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (messages[h.recipient.email]["message_id"], h.recipient.email, row["event"], h.at_ms / 1000,
                 template_id, orjson.dumps({**row, "tags": tags}).decode())
                for h in happenings
                if (row := webhook_payloads.statistics_row(h, messages[h.recipient.email])) is not None
            ],
        )  # fmt: skip
        hooks = webhooks.subscribed(db, "transactional")

    def payload(h: Happening) -> dict[str, Any]:
        return webhook_payloads.transactional(h, messages[h.recipient.email])

    def key(h: Happening) -> str:
        return f"{messages[h.recipient.email]['message_id']}|{h.event}|{h.at_ms}"

    planned, per_webhook = _plan(hooks, happenings, payload, key, None if realtime else now)
    result = {
        "messages": [{"email": email, "messageId": m["message_id"]} for email, m in messages.items()],
        "events": [payload(h) for h in happenings],
        "webhooks": per_webhook,
    }
    return result, planned


def _plan(
    hooks: list[webhooks.Webhook],
    happenings: list[Happening],
    payload: Any,
    key: Any,
    due_now: float | None,
) -> tuple[Planned, list[dict[str, Any]]]:
    planned: Planned = []
    per_webhook = []
    for hook in hooks:
        found = pushes_for(hook, happenings, payload, key, due_now)
        planned += found
        count = sum(p.details["events"] for _due, p in found)
        per_webhook.append({"id": hook.id, "events": count, "requests": len(found)})
    return planned, per_webhook


def _realtime(body: dict[str, Any]) -> bool:
    realtime = body.get("realtime", False)
    if not isinstance(realtime, bool):
        raise ValueError("realtime must be true or false")  # noqa: TRY004 - the admin route answers 400
    return realtime


def _simulate(
    channel: str, recipients: list[Recipient], rates: dict[str, float], body: dict[str, Any], now: float
) -> list[Happening]:
    seed = body.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, (int, str)):
        raise ValueError("seed must be an integer or a string")  # noqa: TRY004
    spread = body.get("spread_seconds", engagement.DEFAULT_SPREAD_SECONDS)
    if isinstance(spread, bool) or not isinstance(spread, (int, float)) or spread <= 0:
        raise ValueError("spread_seconds must be a positive number")
    links = body.get("links", list(engagement.DEFAULT_LINKS))
    if not isinstance(links, list) or not links or not all(isinstance(x, str) and x for x in links):
        raise ValueError("links must be a non-empty list of URLs")
    return engagement.simulate(channel, recipients, rates, seed, now, float(spread), tuple(links))


def _message(body: dict[str, Any], template_id: int | None, tags: list[str], now: float) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H%M")
    return {
        "message_id": f"<{stamp}.{secrets.randbelow(10**11):011d}@{MESSAGE_DOMAIN}>",
        "subject": _string(body, "subject", DEFAULT_SUBJECT),
        "sender": _string(body, "sender", DEFAULT_SENDER),
        "template_id": template_id,
        "tags": tags,
        "custom": body.get("custom"),
        "mirror_link": f"https://app-smtp.brevo.com/log/preview/{uuid.uuid4()}",
    }


def _list_recipients(db: sqlite3.Connection, list_id: int, *, skip_blacklisted: bool) -> list[Recipient]:
    blacklisted = " AND c.email_blacklisted=0" if skip_blacklisted else ""
    rows = db.execute(
        "SELECT c.id, c.email FROM list_members m JOIN contacts c ON c.id = m.contact_id "
        f"WHERE m.list_id=? AND c.email IS NOT NULL{blacklisted} ORDER BY c.id",
        (list_id,),
    ).fetchall()
    if len(rows) > MAX_RECIPIENTS:
        raise ValueError(f"at most {MAX_RECIPIENTS} recipients per simulation")
    return [Recipient(row["email"], row["id"]) for row in rows]


def _transactional_recipients(db: sqlite3.Connection, body: dict[str, Any]) -> list[Recipient]:
    if ("emails" in body) == ("list_id" in body):
        raise ValueError("give exactly one of emails and list_id")
    if "list_id" in body:
        list_id = _integer(body, "list_id", required=True)
        lists.require_list(db, list_id)
        return _list_recipients(db, list_id, skip_blacklisted=False)
    emails = body["emails"]
    if not isinstance(emails, list) or not emails or len(emails) > MAX_RECIPIENTS:
        raise ValueError(f"emails must be a list of 1 to {MAX_RECIPIENTS} addresses")
    recipients = []
    for given in emails:
        if not isinstance(given, str) or not attrs.EMAIL_RE.match(given):
            raise ValueError(f"invalid email address {given!r}")
        email = attrs.normalize_email(given)
        row = db.execute("SELECT id FROM contacts WHERE email=?", (email,)).fetchone()
        recipients.append(Recipient(email, row[0] if row else None))
    return list({r.email: r for r in recipients}.values())


def _object(body: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")  # noqa: TRY004 - the admin route answers 400
    unknown = set(body) - allowed
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))} (known: {', '.join(sorted(allowed))})")
    return body


def _integer(body: dict[str, Any], name: str, *, required: bool = False) -> Any:
    value = body.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer")
    return value


def _string(body: dict[str, Any], name: str, default: str) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")  # noqa: TRY004
    return value
