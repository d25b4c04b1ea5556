"""The `email_events` schema (the issue-14 contract shared with target-amplitude)."""

from __future__ import annotations

from singer_sdk import typing as th

from tap_brevo.events import CANONICAL

_TEXT = th.StringType
EMAIL_EVENTS = th.PropertiesList(
    th.Property("event_id", _TEXT, required=True, description="32 hex chars: sha256 of tx|mk|ct|... (see README)"),
    th.Property("event", _TEXT, required=True, allowed_values=list(CANONICAL), description="Canonical event name"),
    th.Property("channel", _TEXT, required=True, allowed_values=["transactional", "marketing"]),
    th.Property("source", _TEXT, required=True, allowed_values=["webhook", "statistics"]),
    th.Property("email", _TEXT, description="Lower case"),
    th.Property("contact_id", th.IntegerType, description="Brevo contact id (0 in a payload: null)"),
    th.Property("ext_id", _TEXT, description="The contact's ext_id (with contact_lookup), else null"),
    th.Property(
        "contact_attributes",
        th.ObjectType(additional_properties=True),
        description="The contact's attributes named by contact_attributes (with contact_lookup), else null",
    ),
    th.Property("campaign_id", th.IntegerType),
    th.Property("campaign_name", _TEXT),
    th.Property("template_id", th.IntegerType),
    th.Property("message_id", _TEXT),
    th.Property("subject", _TEXT),
    th.Property("link", _TEXT),
    th.Property("reason", _TEXT),
    th.Property("tags", th.ArrayType(th.StringType), required=True),
    th.Property("list_ids", th.ArrayType(th.IntegerType), required=True),
    th.Property("sending_ip", _TEXT),
    th.Property("user_agent", _TEXT),
    th.Property("device_used", _TEXT),
    th.Property("event_time", th.DateTimeType, required=True, description="UTC"),
    th.Property("received_at", th.DateTimeType, required=True, description="When the tap got it (UTC)"),
).to_dict()
