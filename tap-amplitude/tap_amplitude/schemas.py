"""One JSON schema per stream. Every field is nullable (Amplitude sends nulls freely); objects stay open."""

from __future__ import annotations

from singer_sdk import typing as th

from tap_amplitude.derive import BOOLEAN, EVENT_FIELDS, INTEGER, NUMBER, OBJECT, STRING, STRING_OR_ARRAY, TIMESTAMP

_OPEN_OBJECT = th.ObjectType(additional_properties=True)
_TYPES = {
    INTEGER: th.IntegerType,
    NUMBER: th.NumberType,
    STRING: th.StringType,
    BOOLEAN: th.BooleanType,
    OBJECT: _OPEN_OBJECT,
    TIMESTAMP: th.DateTimeType,
    STRING_OR_ARRAY: th.CustomType({"type": ["array", "string", "null"], "items": {"type": "string"}}),
}

_EVENT_REQUIRED = ("uuid", "server_upload_time")
EVENTS = th.PropertiesList(
    *(th.Property(name, _TYPES[kind], required=name in _EVENT_REQUIRED) for name, kind in EVENT_FIELDS.items())
).to_dict()

REVENUE = th.PropertiesList(
    th.Property("uuid", th.StringType, required=True, description="The revenue event's uuid"),
    th.Property("event_type", th.StringType),
    th.Property("event_time", th.DateTimeType),
    th.Property("server_upload_time", th.DateTimeType),
    th.Property("amplitude_id", th.IntegerType),
    th.Property("user_id", th.StringType),
    th.Property("device_id", th.StringType),
    th.Property(
        "revenue", th.NumberType, description="$revenue or a revenue property, else price x quantity; may be negative"
    ),
    th.Property("price", th.NumberType),
    th.Property("quantity", th.NumberType, description="$quantity or a quantity property, 1 when absent"),
    th.Property("product_id", th.StringType),
    th.Property("revenue_type", th.StringType),
    th.Property("currency", th.StringType, description="ISO 4217 code"),
).to_dict()

USERS = th.PropertiesList(
    th.Property("amplitude_id", th.IntegerType, required=True),
    th.Property("user_id", th.StringType),
    th.Property("device_id", th.StringType),
    th.Property("first_active", th.DateTimeType, description="Earliest event time in the window"),
    th.Property("last_active", th.DateTimeType, description="Latest event time in the window"),
    th.Property("user_properties", _OPEN_OBJECT, description="User properties of the latest event"),
    th.Property("platform", th.StringType),
    th.Property("os_name", th.StringType),
    th.Property("os_version", th.StringType),
    th.Property("device_type", th.StringType),
    th.Property("device_family", th.StringType),
    th.Property("country", th.StringType),
    th.Property("region", th.StringType),
    th.Property("city", th.StringType),
    th.Property("language", th.StringType),
    th.Property("version_name", th.StringType),
    th.Property("event_count", th.IntegerType, required=True, description="Events in the window"),
    th.Property("session_count", th.IntegerType, required=True, description="Distinct sessions in the window"),
    th.Property("window_start", th.DateTimeType, required=True, description="First hour of the window"),
    th.Property("window_end", th.DateTimeType, required=True, description="End of the window (exclusive)"),
).to_dict()

GROUPS = th.PropertiesList(
    th.Property("group_type", th.StringType, required=True, description="e.g. company"),
    th.Property("group_value", th.StringType, required=True, description="The group (account) id"),
    th.Property(
        "group_properties",
        _OPEN_OBJECT,
        description="The latest non-empty group properties in the window, by event time",
    ),
    th.Property(
        "first_seen", th.DateTimeType, description="Earliest time of an event carrying the group in the window"
    ),
    th.Property("last_seen", th.DateTimeType, description="Latest time of an event carrying the group in the window"),
    th.Property(
        "members",
        th.ArrayType(
            th.ObjectType(
                th.Property("amplitude_id", th.IntegerType, required=True),
                th.Property("user_id", th.StringType),
                th.Property("email", th.StringType, description="user_properties.email of the member's latest event"),
            )
        ),
        required=True,
        description="The distinct users whose events carried the group in the window",
    ),
    th.Property("window_start", th.DateTimeType, required=True, description="First hour of the window"),
    th.Property("window_end", th.DateTimeType, required=True, description="End of the window (exclusive)"),
).to_dict()

COHORTS = th.PropertiesList(
    th.Property("id", th.StringType, required=True),
    th.Property("name", th.StringType),
    th.Property("description", th.StringType),
    th.Property("size", th.IntegerType),
    th.Property("last_computed", th.DateTimeType),
    th.Property("last_modified", th.DateTimeType),
    th.Property("created_at", th.DateTimeType),
    th.Property("archived", th.BooleanType),
    th.Property("published", th.BooleanType),
    th.Property("finished", th.BooleanType),
    th.Property("hidden", th.BooleanType),
    th.Property("owners", th.ArrayType(th.StringType)),
    th.Property("viewers", th.ArrayType(th.StringType)),
    th.Property("type", th.StringType),
    th.Property("app_id", th.IntegerType),
    th.Property("definition", _OPEN_OBJECT),
).to_dict()

COHORT_MEMBERS = th.PropertiesList(
    th.Property("cohort_id", th.StringType, required=True),
    th.Property("cohort_name", th.StringType),
    th.Property(
        "snapshot_id",
        th.StringType,
        required=True,
        description="Amplitude's request id of this download; the same on every record of one snapshot",
    ),
    th.Property(
        "snapshot_size",
        th.IntegerType,
        required=True,
        description="Members in the snapshot; the same on every record of one snapshot",
    ),
    th.Property("snapshot_at", th.DateTimeType, required=True, description="When the file was downloaded"),
    th.Property(
        "position",
        th.IntegerType,
        required=True,
        description="1..snapshot_size for members; snapshot_size + 1 on the end record",
    ),
    th.Property(
        "snapshot_end",
        th.BooleanType,
        required=True,
        description="False on members; true on the one record that closes a complete snapshot",
    ),
    th.Property("amplitude_id", th.IntegerType, description="Null on the end record"),
    th.Property("user_id", th.StringType, description="Null for anonymous members and on the end record"),
    th.Property("properties", _OPEN_OBJECT, description="The requested cohort_properties"),
).to_dict()

EVENT_TYPES = th.PropertiesList(
    th.Property("value", th.StringType, required=True, description="The event type"),
    th.Property("display", th.StringType),
    th.Property("id", th.IntegerType),
    th.Property("totals", th.IntegerType, description="Events this week"),
    th.Property("totals_delta", th.IntegerType),
    th.Property("deleted", th.BooleanType),
    th.Property("hidden", th.BooleanType),
    th.Property("non_active", th.BooleanType),
    th.Property("flow_hidden", th.BooleanType),
    th.Property("autohidden", th.BooleanType),
    th.Property("in_waitroom", th.BooleanType),
    th.Property("timeline_hidden", th.BooleanType),
    th.Property("clusters_hidden", th.BooleanType),
).to_dict()

DELETIONS = th.PropertiesList(
    th.Property("amplitude_id", th.IntegerType, required=True),
    th.Property("day", th.DateType, required=True, description="The deletion job's day (when it runs)"),
    th.Property("status", th.StringType, description="staging (IDs can still be removed), submitted, then done"),
    th.Property("requester", th.StringType, description="Who asked for the deletion, as the request named them"),
    th.Property("requested_on_day", th.DateType),
    th.Property(
        "app",
        th.CustomType({"type": ["integer", "string", "null"]}),
        description="The project id, as Amplitude sends it",
    ),
    th.Property("active_scrub_done_date", th.DateType, description="Set once the job is done"),
).to_dict()

_CHART_FETCH = (
    th.Property("chart_id", th.StringType, required=True, description="The saved chart's id (chart_ids)"),
    th.Property(
        "fetched_day",
        th.DateType,
        required=True,
        description="Amplitude's UTC day of the fetch: a re-run on the same day replaces that day's result",
    ),
    th.Property("fetched_at", th.DateTimeType, required=True, description="When the result was fetched"),
    th.Property("endpoint", th.StringType, required=True, description="query or csv: the endpoint that answered"),
)

CHART_RESULTS = th.PropertiesList(
    *_CHART_FETCH,
    th.Property(
        "raw",
        _OPEN_OBJECT,
        required=True,
        description='The response as Amplitude sent it: {"data": {series, seriesLabels, seriesCollapsed, xValues, '
        '...}} from /query, {"data": "<CSV text>"} from /csv',
    ),
).to_dict()

CHART_SERIES = th.PropertiesList(
    *_CHART_FETCH,
    th.Property("series_index", th.IntegerType, required=True, description="The series' position in the result"),
    th.Property(
        "series_label",
        th.StringType,
        description='The series label as text: an index ("0"), group-by values ("France; iOS"), a step or a day',
    ),
    th.Property("x_index", th.IntegerType, required=True, description="The x value's position in the result"),
    th.Property("x_value", th.StringType, required=True, description="The x value, usually a day (YYYY-MM-DD)"),
    th.Property("value", th.NumberType, description="Null where Amplitude gives none (e.g. retention still to come)"),
    th.Property(
        "series_total",
        th.NumberType,
        description="The series over the chart's whole range (seriesCollapsed; null from /csv)",
    ),
).to_dict()
