"""Brevo's webhook payloads and subscription names (reference §1), and the statistics pull's event names.

Subscription names (what `POST /webhooks` takes) are camelCase; the `event` of a payload is snake case, and
marketing spells its unsubscribe `unsubscribe`. Times: `date`, `date_sent`, `date_event` are Europe/Paris local
time (`YYYY-MM-DD HH:MM:SS`, as Brevo documents); `ts*` are epoch seconds, `ts_epoch` milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.brevo.engagement import Happening

PARIS = ZoneInfo("Europe/Paris")

# subscription name -> the simulated events (transactional payload names) it receives
SUBSCRIPTIONS = {
    "transactional": {
        "sent": {"request"},
        "request": {"request"},
        "delivered": {"delivered"},
        "hardBounce": {"hard_bounce"},
        "softBounce": {"soft_bounce"},
        "blocked": {"blocked"},
        "spam": {"spam"},
        "invalid": {"invalid_email"},
        "deferred": {"deferred"},
        "click": {"click"},
        "opened": {"opened", "proxy_open"},
        "uniqueOpened": {"unique_opened", "unique_proxy_open"},
        "unsubscribed": {"unsubscribed"},
    },
    "marketing": {
        "spam": {"spam"},
        "opened": {"opened"},
        "click": {"click"},
        "hardBounce": {"hard_bounce"},
        "softBounce": {"soft_bounce"},
        "unsubscribed": {"unsubscribed"},
        "delivered": {"delivered"},
    },
}
MARKETING_NAMES = {"unsubscribed": "unsubscribe"}  # the rest keep the transactional spelling
# simulated event -> its name in GET /smtp/statistics/events (unique opens are a webhook notion only)
STATISTICS_NAMES = {
    "request": "requests",
    "delivered": "delivered",
    "hard_bounce": "hardBounces",
    "soft_bounce": "softBounces",
    "spam": "spam",
    "opened": "opened",
    "click": "clicks",
    "invalid_email": "invalid",
    "deferred": "deferred",
    "blocked": "blocked",
    "unsubscribed": "unsubscribed",
    "error": "error",
    "proxy_open": "loadedByProxy",
}
SENDING_IP = "185.41.28.109"  # the sandbox's one sending IP (documentation of a real one is not needed)


def wanted(kind: str, subscriptions: list[str]) -> set[str]:
    """The simulated events a webhook of `kind` subscribed to `subscriptions` receives."""
    names = SUBSCRIPTIONS[kind]
    return set().union(*(names.get(s, set()) for s in subscriptions))


def paris(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, PARIS).strftime("%Y-%m-%d %H:%M:%S")


def paris_iso(at_ms: int) -> str:
    """ISO 8601 with milliseconds and the Paris offset, e.g. `2026-11-30T17:42:10.123+01:00`."""
    return datetime.fromtimestamp(at_ms / 1000, PARIS).isoformat(timespec="milliseconds")


def utc_iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def marketing(happening: Happening, campaign: dict[str, Any]) -> dict[str, Any]:
    """A marketing campaign event's payload, without the webhook's `id`."""
    seconds, sent = happening.at_ms // 1000, int(campaign["sent_at"])
    payload: dict[str, Any] = {
        "camp_id": campaign["id"],
        "email": happening.recipient.email,
        "campaign name": campaign["name"],
        "date_sent": paris(round(campaign["sent_at"] * 1000)),
        "date_event": paris(happening.at_ms),
        "event": MARKETING_NAMES.get(happening.event, happening.event),
        "tag": campaign["tag"],
        "ts_sent": sent,
        "ts_event": seconds,
        "ts": seconds,
    }
    if "reason" in happening.details:
        payload["reason"] = happening.details["reason"]
    if happening.event == "click":
        payload["URL"] = happening.details["link"]
    if happening.event == "unsubscribed":
        payload["sending_ip"] = SENDING_IP
        payload["list_id"] = [campaign["list_id"]]
    return payload


def transactional(happening: Happening, message: dict[str, Any]) -> dict[str, Any]:
    """A transactional email event's payload, without the webhook's `id`."""
    seconds = happening.at_ms // 1000
    payload: dict[str, Any] = {
        "event": happening.event,
        "email": happening.recipient.email,
        "date": paris(happening.at_ms),
        "ts": seconds,
        "ts_event": seconds,
        "ts_epoch": happening.at_ms,
        "message-id": message["message_id"],
        "subject": message["subject"],
        "tags": list(message["tags"]),
        "sending_ip": SENDING_IP,
        "contact_id": happening.recipient.contact_id or 0,
        "mirror_link": message["mirror_link"],
    }
    if message.get("template_id") is not None:
        payload["template_id"] = message["template_id"]
    if message.get("custom") is not None:
        payload["X-Mailin-custom"] = message["custom"]
    for name in ("reason", "link", "user_agent", "device_used"):
        if name in happening.details:
            payload[name] = happening.details[name]
    return payload


def statistics_row(happening: Happening, message: dict[str, Any]) -> dict[str, Any] | None:
    """The event as GET /smtp/statistics/events shows it (its `date` added when read), or None."""
    name = STATISTICS_NAMES.get(happening.event)
    if name is None:
        return None
    row: dict[str, Any] = {
        "email": happening.recipient.email,
        "event": name,
        "messageId": message["message_id"],
        "from": message["sender"],
        "subject": message["subject"],
    }
    if name in ("opened", "clicks", "loadedByProxy"):
        row["ip"] = happening.details["ip"]
    if "link" in happening.details:
        row["link"] = happening.details["link"]
    if "reason" in happening.details:
        row["reason"] = happening.details["reason"]
    if message["tags"]:
        row["tag"] = message["tags"][0]
    if message.get("template_id") is not None:
        row["templateId"] = message["template_id"]
    return row
