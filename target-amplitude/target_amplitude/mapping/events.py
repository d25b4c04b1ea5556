"""One record -> one Amplitude event: event type by mapping, user id, time in ms, insert_id, properties, `$set`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from target_amplitude.mapping.identity import IdentityRule, NoIdentity, read_path

#: Canonical Brevo event -> Amplitude event type (the `email_events` contract); others are not sent.
DEFAULT_EVENT_MAPPING = {
    "request": "Email Sent",
    "delivered": "Email Delivered",
    "opened": "Email Opened",
    "click": "Email Link Clicked",
    "hard_bounce": "Email Bounced",
    "soft_bounce": "Email Bounced",
    "spam": "Email Marked As Spam",
    "unsubscribed": "Email Unsubscribed",
    "blocked": "Email Blocked",
}
#: Canonical event -> user properties `$set` with it.
DEFAULT_USER_PROPERTY_UPDATES = {
    "unsubscribed": {"email_unsubscribed": True},
    "hard_bounce": {"email_hard_bounced": True},
}
DEFAULT_EVENT_PROPERTIES = (
    "channel", "campaign_id", "campaign_name", "template_id", "message_id", "subject", "link", "reason", "tags", "source",
)  # fmt: skip
LIBRARY = "target-amplitude/0.1.0"


class Rejected(ValueError):
    """The record cannot become an event (the message is the reason)."""


class Skipped(Exception):
    """The record's event is not mapped: counted, not sent, not a reject."""

    def __init__(self, source_event: str) -> None:
        super().__init__(source_event)
        self.source_event = source_event


@dataclass(frozen=True)
class EventRules:
    event_field: str
    event_mapping: dict[str, str]
    user_property_updates: dict[str, dict[str, Any]]
    event_properties: tuple[str, ...]
    time_field: str | None
    insert_id_field: str
    insert_id_prefix: str
    identity: IdentityRule

    def source_event(self, record: dict[str, Any]) -> str:
        value = read_path(record, self.event_field)
        if value is None or str(value).strip() == "":
            raise Rejected(f"no event name at {self.event_field}")
        return str(value).strip()

    def to_event(self, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """(source event name, the Amplitude event); raises Skipped or Rejected."""
        source = self.source_event(record)
        event_type = self.event_mapping.get(source)
        if not event_type:
            raise Skipped(source)
        try:
            user_id = self.identity.user_id(record)
        except NoIdentity as exc:
            raise Rejected(str(exc)) from None
        event: dict[str, Any] = {
            "user_id": user_id,
            "event_type": event_type,
            "insert_id": self.insert_id(record),
        }
        if self.time_field:
            event["time"] = epoch_ms(read_path(record, self.time_field), self.time_field)
        properties = {
            name: plain(value) for name in self.event_properties if (value := read_path(record, name)) is not None
        }
        if properties:
            event["event_properties"] = properties
        updates = self.user_property_updates.get(source)
        if updates:
            event["user_properties"] = {"$set": dict(updates)}
        event["library"] = LIBRARY
        return source, event

    def insert_id(self, record: dict[str, Any]) -> str:
        """Derived from the record's key only: the same record always gives the same insert_id."""
        key = read_path(record, self.insert_id_field)
        if key is None or str(key).strip() == "":
            raise Rejected(f"no {self.insert_id_field} to derive the insert_id from")
        return f"{self.insert_id_prefix}{str(key).strip()}"


def epoch_ms(value: Any, field: str) -> int:
    """A date-time (datetime or ISO 8601 text; no zone means UTC) as milliseconds since the epoch."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise Rejected(f"{field} is not an ISO 8601 date-time: {value[:40]!r}") from None
    if not isinstance(value, datetime):
        raise Rejected(f"no {field}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1000)


def plain(value: Any) -> Any:
    """JSON-ready: Decimals as int or float, date-times as ISO text (the SDK hands sinks typed values)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
