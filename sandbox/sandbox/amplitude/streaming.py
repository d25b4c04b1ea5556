"""Webhooks Streaming payloads (reference: amplitude-streaming-and-privacy.md §1): what is pushed per ingested event.

- An event is pushed in the Export API's event format: the very bytes the export serves for it later
  (same `uuid`, `$insert_id`, field names and `YYYY-MM-DD HH:MM:SS.ffffff` times).
- An identify (`/identify`, or an HTTP V2 / batch event of type `$identify`) is pushed, with
  `send_users`, in the Identify format: `user_id` (absent for a device-only identify), `device_id`,
  `user_properties` (the user's properties after the update, every value as a string, as Amplitude
  sends custom properties), `groups` when set, and the device fields the identify carried. An identify
  is never pushed as an event.
"""

from __future__ import annotations

from typing import Any

import orjson

from sandbox.amplitude.destinations import WebhookDestination
from sandbox.amplitude.pushes import Push

IDENTIFY_EVENT_TYPE = "$identify"
IDENTIFY_DEVICE_FIELDS = (
    "platform", "os_name", "os_version", "device_brand", "device_manufacturer", "device_model", "carrier",
    "country", "region", "city", "dma", "language", "app_version", "start_version", "paying",
)  # fmt: skip

# One accepted event as ingestion hands it over: (the validated event as sent, its uuid, its stored export form).
Accepted = tuple[dict[str, Any], str, bytes]


def webhook_pushes(destination: WebhookDestination, accepted: list[Accepted], accepted_at: float) -> list[Push]:
    """What `destination` is sent for one ingestion request's accepted events, one push per event or user."""
    pushes = []
    for event, event_uuid, exported in accepted:
        if event["event_type"] == IDENTIFY_EVENT_TYPE:
            if destination.send_users:
                user = identify_payload(event, orjson.loads(exported))
                key = user.get("user_id") or user["device_id"]
                pushes.append(Push("user", key, destination.delivery, orjson.dumps(user), accepted_at))
        elif destination.wants_event(event["event_type"]):
            key = event.get("insert_id") or event_uuid
            pushes.append(Push("event", key, destination.delivery, exported, accepted_at))
    return pushes


def identify_payload(sent: dict[str, Any], exported: dict[str, Any]) -> dict[str, Any]:
    """The Identify-format user of an identify: ids and groups as stored, properties as strings, device fields as sent."""
    user: dict[str, Any] = {}
    if exported.get("user_id"):
        user["user_id"] = exported["user_id"]
    user["device_id"] = exported["device_id"]
    user["user_properties"] = {
        name: as_string(value) for name, value in (exported.get("user_properties") or {}).items() if value is not None
    }
    if exported.get("groups"):
        user["groups"] = exported["groups"]
    for name in IDENTIFY_DEVICE_FIELDS:
        if sent.get(name) is not None:
            user[name] = sent[name]
    return user


def as_string(value: Any) -> str:
    """A property value as Amplitude forwards custom properties: strings as they are, anything else as JSON text."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()
