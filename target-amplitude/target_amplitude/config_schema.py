"""The target's settings: each with its description and default (declared here, once)."""

from __future__ import annotations

from singer_sdk import typing as th

from target_amplitude.mapping.events import (
    DEFAULT_EVENT_MAPPING,
    DEFAULT_EVENT_PROPERTIES,
    DEFAULT_USER_PROPERTY_UPDATES,
)
from target_amplitude.mapping.identity import EMAIL_RULES

DATA_CENTERS = ("US", "EU")
#: Amplitude's limits: fewer than 2,000 events per request; HTTP V2 under 1 MB, Batch under 20 MB.
MAX_EVENTS_CEILING = 1999
MAX_BYTES = {"http_v2": 1_000_000, "batch": 20_000_000}
# A number, or its text: Meltano 4.4 cannot pass `kind: decimal` values set from the environment, so
# meltano.yml declares these settings as text and settings.py reads both forms (with float()).
_NUMBER = th.CustomType({"type": ["number", "string"], "pattern": r"^-?[0-9]+(\.[0-9]+)?$"})

CONFIG_SCHEMA = th.PropertiesList(
    th.Property("api_key", th.StringType, required=True, secret=True, description="Amplitude project API key."),
    th.Property(
        "data_center",
        th.StringType(allowed_values=list(DATA_CENTERS)),
        default="US",
        description="US (https://api2.amplitude.com) or EU (https://api.eu.amplitude.com).",
    ),
    th.Property(
        "api_url",
        th.StringType,
        description="Overrides the data center's host (the sandbox); plain http only for loopback hosts.",
    ),
    th.Property(
        "use_batch",
        th.BooleanType,
        default=False,
        description="Send to the Batch API (`/batch`, 1,000 events/s per user) instead of HTTP V2 (`/2/httpapi`).",
    ),
    th.Property(
        "min_id_length",
        th.IntegerType,
        description="Passed as `options.min_id_length`: the shortest user id Amplitude takes (its default is 5).",
    ),
    th.Property(
        "event_field", th.StringType, default="event", description="Record field holding the source event name."
    ),
    th.Property(
        "event_mapping",
        th.ObjectType(additional_properties=th.StringType),
        default=DEFAULT_EVENT_MAPPING,
        description="Source event name -> Amplitude event_type (replaces the default mapping). Events not listed are "
        "skipped (counted).",
    ),
    th.Property(
        "user_property_updates",
        th.ObjectType(additional_properties=th.ObjectType(additional_properties=th.AnyType)),
        default=DEFAULT_USER_PROPERTY_UPDATES,
        description="Source event name -> user properties `$set` with its event.",
    ),
    th.Property(
        "event_properties",
        th.ArrayType(th.StringType),
        default=list(DEFAULT_EVENT_PROPERTIES),
        description="Record fields (dotted paths) sent as event properties when not null.",
    ),
    th.Property(
        "time_field",
        th.StringType,
        default="event_time",
        description="Record date-time field sent as the event `time` (epoch ms); empty: let Amplitude stamp it.",
    ),
    th.Property(
        "insert_id_field",
        th.StringType,
        default="event_id",
        description="Record field the insert_id is derived from (the record's key).",
    ),
    th.Property("insert_id_prefix", th.StringType, default="brevo-", description="Prefix of every insert_id."),
    th.Property(
        "user_id_paths",
        th.ArrayType(th.StringType),
        default=["ext_id", "contact_attributes.AMPLITUDE_USER_ID"],
        description="Record paths tried in order for the user_id; the first non-empty usable one wins.",
    ),
    th.Property("email_field", th.StringType, default="email", description="Record field holding the email."),
    th.Property(
        "email_rule",
        th.StringType(allowed_values=list(EMAIL_RULES)),
        default="email",
        description="Without a user id: `email` sends the lower-cased email as user_id, `sha256` its hash, "
        "`none` rejects the record.",
    ),
    th.Property(
        "max_events_per_request",
        th.IntegerType,
        default=1000,
        description=f"Events per request (at most {MAX_EVENTS_CEILING}; halved on a 413).",
    ),
    th.Property(
        "max_request_bytes",
        th.IntegerType,
        description="Request body ceiling in bytes; default and maximum: 1,000,000 (HTTP V2), 20,000,000 (Batch).",
    ),
    th.Property(
        "throttle_wait_seconds",
        _NUMBER,
        default=30,
        description="How long throttled events (429) are held before they are sent again.",
    ),
    th.Property(
        "max_throttle_rounds",
        th.IntegerType,
        default=20,
        description="Throttled waits one event may go through before the run stops (no STATE for it).",
    ),
    th.Property("max_retries", th.IntegerType, default=6, description="Retries of a 5xx or a timeout."),
    th.Property("backoff_base_seconds", _NUMBER, default=1.0, description="First retry delay (doubles)."),
    th.Property("backoff_max_seconds", _NUMBER, default=60.0, description="Longest retry delay."),
    th.Property("request_timeout_seconds", _NUMBER, default=60.0, description="Timeout of one request."),
    th.Property(
        "flush_interval_seconds",
        _NUMBER,
        default=5.0,
        description="On a STATE message, deliver what is held and emit that STATE if this long passed since the "
        "last delivery (the SDK alone waits for the end of input, or 5 minutes).",
    ),
    th.Property(
        "ledger_path",
        th.StringType,
        default=".target-amplitude/ledger.sqlite3",
        description="SQLite file of the insert_ids Amplitude accepted; keep it between runs (re-runs beyond "
        "Amplitude's 7-day dedupe send nothing twice).",
    ),
    th.Property(
        "rejects_file",
        th.StringType,
        default=".target-amplitude/rejects.jsonl",
        description="JSON lines of the records not sent, with the reason (mode 0600; appended to, each line names "
        "its run).",
    ),
    th.Property("summary_file", th.StringType, description="Also write the run summary (JSON) here."),
    th.Property(
        "state_ack_file",
        th.StringType,
        description="After each STATE it emits (everything before it accepted by Amplitude), write that STATE here "
        "too: tap-brevo's `delivered_state_file`, so that its spool is pruned while the service runs.",
    ),
).to_dict()
