"""Brevo engagement events -> `email_events` records (the issue-14 contract), from either source.

- A webhook item (marketing, transactional or contact event) as Brevo posts it: every documented spelling of the
  event name and fields is accepted (`message-id`/`messageId`, `campaign name`/`campaign_name`, `link`/`URL`,
  `tags`/`tag`, `list_id` as a number or a list).
- A row of `GET /smtp/statistics/events` (`date`, `event` in the report's plural/camelCase names, `messageId`, ...).

The time is UTC: a webhook's `ts_epoch` (milliseconds), else `ts_event`, else `ts` (seconds); only a body with
none of them falls back to `date`, which Brevo documents as Paris time (CET/CEST). A report row's `date` carries
its offset. `event_id` is the first 32 hex chars of the SHA-256 of a canonical string at whole seconds, so a
transactional event has the same id whether the webhook or the report brought it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

TRANSACTIONAL = "transactional"
MARKETING = "marketing"
WEBHOOK = "webhook"
STATISTICS = "statistics"

CANONICAL = (
    "request", "delivered", "opened", "unique_opened", "proxy_open", "unique_proxy_open", "click", "hard_bounce",
    "soft_bounce", "spam", "blocked", "invalid_email", "deferred", "error", "unsubscribed", "list_addition",
    "contact_updated", "contact_deleted",
)  # fmt: skip
CONTACT_EVENTS = frozenset({"list_addition", "contact_updated", "contact_deleted"})

# Webhook payload spellings that are not canonical already.
WEBHOOK_ALIASES = {
    "hard_bounced": "hard_bounce",
    "soft_bounced": "soft_bounce",
    "unsubscribe": "unsubscribed",
    "invalid": "invalid_email",
    "sent": "request",
    "unique_open": "unique_opened",
    "clicked": "click",
}

# `GET /smtp/statistics/events` names (answers and the `event` filter). `bounces` (hard or soft) has no canonical
# name: the report is read unfiltered, or filtered per name, never by `bounces`.
STATISTICS_NAMES = {
    "requests": "request",
    "delivered": "delivered",
    "opened": "opened",
    "clicks": "click",
    "hardBounces": "hard_bounce",
    "softBounces": "soft_bounce",
    "spam": "spam",
    "invalid": "invalid_email",
    "deferred": "deferred",
    "blocked": "blocked",
    "unsubscribed": "unsubscribed",
    "error": "error",
    "loadedByProxy": "proxy_open",
}

BREVO_LOCAL_TIME = ZoneInfo("Europe/Paris")  # the zone of a webhook's `date` (CET/CEST, per Brevo's docs)
_EPOCH_MS_FROM = 10**11  # a `ts`/`ts_event` this large is milliseconds, not seconds (it would be after year 5000)


class UnknownEvent(ValueError):
    """An event name this tap does not know (the item is skipped, counted by name)."""


def canonical_webhook_event(name: Any) -> str:
    text = name.strip().lower() if isinstance(name, str) else ""
    text = WEBHOOK_ALIASES.get(text, text)
    if text not in CANONICAL:
        raise UnknownEvent(str(name))
    return text


def canonical_statistics_event(name: Any) -> str:
    canonical = STATISTICS_NAMES.get(name) if isinstance(name, str) else None
    if canonical is None:
        raise UnknownEvent(str(name))
    return canonical


# -- field readers ----------------------------------------------------------------------------------------


def _first(item: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = item.get(name)
        if value is not None and value != "":
            return value
    return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _integer(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number


def _email(value: Any) -> str | None:
    text = _text(value)
    return text.lower() if text else None


def _tags(item: Mapping[str, Any]) -> list[str]:
    tags = item.get("tags")
    if isinstance(tags, list):
        return [text for tag in tags if (text := _text(tag))]
    single = _text(tags) or _text(item.get("tag"))
    return [single] if single else []


def _list_ids(value: Any) -> list[int]:
    values = value if isinstance(value, list) else str(value).split(",") if isinstance(value, str) else [value]
    return [number for entry in values if (number := _integer(entry)) is not None]


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def webhook_time(item: Mapping[str, Any]) -> datetime | None:
    """The event's moment in UTC (see the module docstring); None when the body carries no usable time."""
    epoch_ms = _number(item.get("ts_epoch"))
    if epoch_ms is not None:
        return datetime.fromtimestamp(epoch_ms / 1000, UTC)
    for name in ("ts_event", "ts"):
        seconds = _number(item.get(name))
        if seconds is not None:
            return datetime.fromtimestamp(seconds / 1000 if seconds >= _EPOCH_MS_FROM else seconds, UTC)
    for name in ("date_event", "date"):
        moment = parse_time(item.get(name), BREVO_LOCAL_TIME)
        if moment is not None:
            return moment
    return None


def parse_time(value: Any, default_zone: Any = UTC) -> datetime | None:
    """An ISO 8601 (or `YYYY-MM-DD HH:MM:SS`) time in UTC; `default_zone` when it has no offset."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=default_zone)
    return moment.astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def event_id(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _seconds(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def _link_part(event: str, link: str | None) -> str:
    """A click's link is part of its identity: a link scanner clicks every link of a message in one second."""
    return f"|{link or ''}" if event == "click" else ""


def transactional_id(message_id: str, email: str | None, event: str, moment: datetime, link: str | None) -> str:
    """One message id can carry several recipients (to, cc, bcc): the email is part of the identity. The webhook
    and the report row of one event give the same id (both carry the email and the link)."""
    return event_id(f"tx|{message_id}|{email or ''}|{event}|{_seconds(moment)}{_link_part(event, link)}")


def marketing_id(campaign_id: int, email: str | None, event: str, moment: datetime, link: str | None) -> str:
    return event_id(f"mk|{campaign_id}|{email or ''}|{event}|{_seconds(moment)}{_link_part(event, link)}")


def contact_id_key(email: str | None, event: str, moment: datetime) -> str:
    return event_id(f"ct|{email or ''}|{event}|{_seconds(moment)}")


# -- records ----------------------------------------------------------------------------------------------


def _record(**fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event_id": None, "event": None, "channel": None, "source": None, "email": None, "contact_id": None,
        "ext_id": None, "contact_attributes": None, "campaign_id": None, "campaign_name": None, "template_id": None,
        "message_id": None, "subject": None, "link": None, "reason": None, "tags": [], "list_ids": [],
        "sending_ip": None, "user_agent": None, "device_used": None, "event_time": None, "received_at": None,
    }  # fmt: skip
    record.update(fields)
    return record


def from_webhook(item: Mapping[str, Any], channel_hint: str, received_at: datetime) -> dict[str, Any]:
    """The record of one webhook item; `channel_hint` is the endpoint's channel. UnknownEvent for an event name
    outside the contract; ValueError when the item has no time."""
    event = canonical_webhook_event(item.get("event"))
    moment = webhook_time(item)
    if moment is None:
        raise ValueError("no ts_epoch, ts_event, ts or date")
    email = _email(item.get("email"))
    message_id = _text(_first(item, "message-id", "messageId", "message_id", "Message-Id"))
    campaign_id = _integer(_first(item, "camp_id", "campaign_id", "campaignId"))
    link = _text(_first(item, "link", "URL", "url"))
    if message_id is not None and campaign_id is None:
        channel = TRANSACTIONAL
        key = transactional_id(message_id, email, event, moment, link)
    elif campaign_id is not None:
        channel = MARKETING
        key = marketing_id(campaign_id, email, event, moment, link)
    else:  # contact events, and any item carrying neither a message id nor a campaign
        channel = MARKETING if event in CONTACT_EVENTS else channel_hint
        key = contact_id_key(email, event, moment)
    contact = _integer(item.get("contact_id"))
    return _record(
        event_id=key,
        event=event,
        channel=channel,
        source=WEBHOOK,
        email=email,
        contact_id=contact or None,
        campaign_id=campaign_id,
        campaign_name=_text(_first(item, "campaign name", "campaign_name", "campaignName")),
        template_id=_integer(_first(item, "template_id", "templateId")),
        message_id=message_id,
        subject=_text(item.get("subject")),
        link=link,
        reason=_text(item.get("reason")),
        tags=_tags(item),
        list_ids=_list_ids(_first(item, "list_id", "list_ids", "listIds")),
        sending_ip=_text(item.get("sending_ip")),
        user_agent=_text(item.get("user_agent")),
        device_used=_text(item.get("device_used")),
        event_time=iso_utc(moment),
        received_at=iso_utc(received_at),
    )


def from_statistics(row: Mapping[str, Any], received_at: datetime) -> dict[str, Any]:
    """The record of one `GET /smtp/statistics/events` row. UnknownEvent for a name outside the contract
    (`bounces`); ValueError without a usable `date` or `messageId`."""
    event = canonical_statistics_event(row.get("event"))
    moment = parse_time(row.get("date"))
    if moment is None:
        raise ValueError("no usable date")
    message_id = _text(row.get("messageId"))
    if message_id is None:
        raise ValueError("no messageId")
    email = _email(row.get("email"))
    link = _text(row.get("link"))
    return _record(
        event_id=transactional_id(message_id, email, event, moment, link),
        event=event,
        channel=TRANSACTIONAL,
        source=STATISTICS,
        email=email,
        template_id=_integer(row.get("templateId")),
        message_id=message_id,
        subject=_text(row.get("subject")),
        link=link,
        reason=_text(row.get("reason")),
        tags=_tags(row),
        event_time=iso_utc(moment),
        received_at=iso_utc(received_at),
    )
