"""The streaming tap's schemas: `events` and `revenue` are the export's, unchanged; `users` is the export's with
`amplitude_id` nullable (an Identify body need not carry it); `cohort_membership_changes` is new."""

from __future__ import annotations

import copy
from typing import Any

from singer_sdk import typing as th

from tap_amplitude import schemas as export_schemas

EVENTS = export_schemas.EVENTS
REVENUE = export_schemas.REVENUE


def _streamed_users() -> dict[str, Any]:
    schema = copy.deepcopy(export_schemas.USERS)
    schema["properties"]["amplitude_id"] = {
        "type": ["integer", "null"],
        "description": "Null when the forwarded user did not carry it",
    }
    schema["required"] = [name for name in schema["required"] if name != "amplitude_id"]
    return schema


USERS = _streamed_users()

COHORT_MEMBERSHIP_CHANGES = th.PropertiesList(
    th.Property("cohort_id", th.StringType, required=True),
    th.Property("cohort_name", th.StringType),
    th.Property(
        "in_cohort", th.BooleanType, required=True, description="True: the user entered the cohort; false: left it"
    ),
    th.Property(
        "message_id",
        th.StringType,
        required=True,
        description="Amplitude's id of the batch; the same on a retried delivery (the key for de-duplicating it)",
    ),
    th.Property("computed_time", th.DateTimeType, description="When Amplitude computed the change (UTC)"),
    th.Property("user_id", th.StringType, description="Null for a member without a user id"),
    th.Property("email", th.StringType, description="user_properties.email, when the batch carries it"),
    th.Property(
        "user_properties",
        th.ObjectType(additional_properties=True),
        description="The properties chosen for the sync, as sent (custom ones as strings)",
    ),
).to_dict()
