"""The target's config schema: every setting with its description and default (declared here, once)."""

from __future__ import annotations

from typing import Any

from singer_sdk import typing as th

from target_brevo.brevo import limits
from target_brevo.mapping.companies import DEFAULT_COMPANY_FIELDS
from target_brevo.mapping.events import DEFAULT_EVENT_FIELDS, DEFAULT_EVENT_KEY
from target_brevo.mapping.orders import DEFAULT_ORDER_FIELDS

STREAM_TYPES = (
    "contacts", "events", "orders", "list_members", "list_changes", "lists", "deletions", "companies", "skip",
)  # fmt: skip
DEFAULT_STREAM_TYPES = {
    "users": "contacts",
    "events": "events",
    "revenue": "orders",
    "cohort_members": "list_members",
    "cohort_membership_changes": "list_changes",
    "cohorts": "lists",
    "deletions": "deletions",
    "groups": "companies",
}
SYNC_MODES = ("mirror", "append", "remove", "delta")
CONTACT_MODES = ("upsert", "update_only", "insert_only")
DELETION_ACTIONS = ("delete", "blocklist")
DELETION_STATUSES = ("staging", "submitted", "done")
WITHDRAWAL_ACTIONS = ("blocklist", "none")

_STRING_MAP = th.ObjectType(additional_properties=th.StringType)
# Path -> name; Meltano passes dotted keys as nested objects (`{user_properties: {plan: PLAN}}`).
_PATH_MAP = th.ObjectType(additional_properties=th.CustomType({"type": ["string", "object"]}))
_PATHS = th.CustomType({"type": ["string", "array", "null"], "items": {"type": "string"}})
# A number, or its text: Meltano 4.4 cannot pass `kind: decimal` values set from the environment, so
# meltano.yml declares these settings as text and the target reads both forms.
_NUMBER = th.CustomType({"type": ["number", "string"], "pattern": r"^-?[0-9]+(\.[0-9]+)?$"})
_LIST_TARGET = th.CustomType(
    {
        "anyOf": [
            {"type": "integer"},
            {"type": "string"},
            {
                "type": "object",
                "properties": {
                    "list_id": {"type": "integer"},
                    "list_name": {"type": "string"},
                    "sync_mode": {"type": "string", "enum": list(SYNC_MODES)},
                    "max_removal_fraction": {"type": "number"},
                    "allow_large_removals": {"type": "boolean"},
                },
                "additionalProperties": False,
            },
        ]
    }
)


#: Ceilings Brevo sets on the request-size settings (filled by `_request_size`).
CEILINGS: dict[str, int] = {}


def _request_size(name: str, description: str, *, ceiling: int, default: int | None = None) -> th.Property:
    """A request-size setting: at most Brevo's `ceiling`, which is also the default unless one is given."""
    CEILINGS[name] = ceiling
    return th.Property(name, th.IntegerType, default=ceiling if default is None else default, description=description)


def _fields(name: str, description: str, names: list[str]) -> th.Property:
    fields = th.ObjectType(*(th.Property(n, th.StringType(nullable=True)) for n in names), additional_properties=False)
    return th.Property(name, fields, description=description)


CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType,
        required=True,
        secret=True,
        description="Brevo API v3 key (`xkeysib-...`), sent in the `api-key` header. Never logged.",
    ),
    th.Property(
        "api_url",
        th.StringType,
        default="https://api.brevo.com/v3",
        description="Brevo API base URL. Override for the sandbox; plain http only for loopback hosts.",
    ),
    th.Property(
        "stream_types",
        _STRING_MAP,
        description="Stream name -> one of "
        + ", ".join(f"`{t}`" for t in STREAM_TYPES)
        + ". Merged over the defaults users->contacts, events->events, revenue->orders, "
        "cohort_members->list_members, cohort_membership_changes->list_changes, cohorts->lists, deletions->deletions, "
        "groups->companies. "
        "`list_changes` records are cohort entries and exits (delta mode, see `cohort_sync_mode`). "
        "Unrouted streams are skipped with one warning each.",
    ),
    th.Property(
        "email_field",
        _PATHS,
        description="Record property or dotted path (or a list, first non-empty wins) holding the contact "
        "email. Default: the property that `property_mapping` maps to `email`, then `email`, "
        "`user_properties.email`.",
    ),
    th.Property(
        "ext_id_field",
        _PATHS,
        description="Record property or path (or list) giving the contact ext_id. Default `user_id`.",
    ),
    th.Property(
        "property_mapping",
        _PATH_MAP,
        description="Record property or dotted path -> Brevo attribute (e.g. `first_name: FIRSTNAME`, "
        "`phone: SMS`, `user_properties.plan: PLAN`). Target `email` sets the email identity. Nested "
        "objects read as paths (`{user_properties: {plan: PLAN}}` = `user_properties.plan: PLAN`), which "
        "is how Meltano passes dotted keys.",
    ),
    th.Property(
        "attribute_types",
        _STRING_MAP,
        description="Brevo attribute -> type (`text`, `date`, `float`, `boolean`, `multiple-choice`) used "
        "when creating a missing attribute. Default: derived from the stream schema.",
    ),
    th.Property(
        "create_missing_attributes",
        th.BooleanType,
        default=True,
        description="Create mapped contact attributes that do not exist in Brevo (category `normal`).",
    ),
    th.Property(
        "default_region",
        th.StringType,
        description="ISO 3166 region (e.g. `FR`) for phone numbers written without a country code; phones "
        "are sent in E.164.",
    ),
    th.Property(
        "event_mapping",
        _STRING_MAP,
        description="Source event type -> Brevo event name (e.g. `Purchase: order_completed`). Names are "
        "validated at start-up: 1-255 letters, digits, `-`, `_`.",
    ),
    th.Property(
        "forward_unmapped_events",
        th.BooleanType,
        default=False,
        description="Also send events without an `event_mapping` entry, with names normalised to Brevo's "
        "allowed characters. Off: they are counted and skipped.",
    ),
    th.Property(
        "event_contact_properties",
        _STRING_MAP,
        description="Event record property or path -> contact attribute sent as `contact_properties`.",
    ),
    th.Property(
        "event_fields",
        th.ObjectType(
            th.Property("key", _PATHS),
            th.Property("uuid", th.StringType(nullable=True)),
            *(th.Property(name, th.StringType(nullable=True)) for name in DEFAULT_EVENT_FIELDS),
            additional_properties=False,
        ),
        description="Event record fields: `key`, the delivery key the ledger keeps so that each event reaches "
        "Brevo once (a path or a list of paths, first non-empty wins, else a hash of the record; default "
        + ", then ".join(f"`{path}`" for path in DEFAULT_EVENT_KEY)
        + ": Amplitude's `$insert_id` is the same whether an event is streamed or exported; `uuid` is the "
        "older spelling of a single key path), `name`, `time`, `properties` (defaults "
        + ", ".join(f"`{path}`" for path in DEFAULT_EVENT_FIELDS.values())
        + ").",
    ),
    _fields(
        "order_fields",
        "Order record fields: `id`, `created_at`, `amount`, `price`, `quantity`, `product_id`, `status`, "
        "`revenue_type`, `currency`. Defaults: `uuid`, `event_time`, `revenue`, `price`, `quantity`, "
        "`product_id`, `order_status`, `revenue_type`, `currency`.",
        list(DEFAULT_ORDER_FIELDS),
    ),
    th.Property(
        "order_status", th.StringType, default="completed", description="Order status when the record has none."
    ),
    th.Property(
        "orders_historical",
        th.CustomType({"type": ["boolean", "string"], "enum": [True, False, "auto", "true", "false"]}),
        default="auto",
        description="`auto`: an order within `live_window_hours` of now is sent live (`historical: false`, "
        "Brevo's order automations fire) and an older one historical (`historical: true`, no automation), so "
        "a backfill triggers nothing. `true` / `false` force every order.",
    ),
    th.Property(
        "live_window_hours",
        _NUMBER,
        default=24.0,
        description="How recent (by its own time, against Brevo's clock at send time) an event or order must "
        "be to count as live. Older events are not sent, because Brevo automations would fire on them "
        "(counted as `skipped_too_old` per event type); older orders are sent historical.",
    ),
    th.Property(
        "send_old_events",
        th.BooleanType,
        default=False,
        description="Also send events older than `live_window_hours` (history in Brevo for segments; "
        "automations triggered by those events will fire).",
    ),
    _fields(
        "cohort_fields",
        "List-member record fields: `cohort_id`, `cohort_name`, `snapshot_size` (members in the complete "
        "snapshot) and `snapshot_complete` (an optional boolean completion marker). Defaults "
        "`cohort_id`, `cohort_name`, `snapshot_size`, none. List-change records also have `in_cohort` "
        "(true: entered, false: left), `message_id` (changes of a message already applied are skipped) and "
        "`computed_time` (a change computed before the last one applied to the contact is skipped); "
        "defaults the same names.",
        ["cohort_id", "cohort_name", "snapshot_size", "snapshot_complete", "in_cohort", "message_id", "computed_time"],
    ),
    _fields("list_fields", "Lists-stream record fields: `id` and `name`. Defaults `id`, `name`.", ["id", "name"]),
    th.Property(
        "lists",
        th.ObjectType(additional_properties=_LIST_TARGET),
        description="Cohort id or name -> Brevo list id (e.g. `power_users: 11`), list name, or "
        "`{list_id|list_name, sync_mode, max_removal_fraction, allow_large_removals}`.",
    ),
    th.Property(
        "create_missing_lists",
        th.BooleanType,
        default=False,
        description="Create a Brevo list (named after the cohort, or `list_name`) in `lists_folder` when none "
        "is found.",
    ),
    th.Property(
        "lists_folder",
        th.StringType,
        default="target-brevo",
        description="Folder that created lists go into (created if missing).",
    ),
    th.Property(
        "contacts_list_id",
        th.IntegerType,
        description="List every imported contact joins (Brevo's import requires one). Default: the list "
        "named `contacts_list_name`, created if missing.",
    ),
    th.Property(
        "contacts_list_name",
        th.StringType,
        default="target-brevo contacts",
        description="Name of the contacts list used when `contacts_list_id` is not set.",
    ),
    th.Property(
        "cohort_sync_mode",
        th.StringType,
        default="mirror",
        allowed_values=list(SYNC_MODES),
        description="How cohort members change lists: `mirror` (add, and remove those no longer in a complete "
        "snapshot), `append` (add only), `remove` (remove the received members), `delta` (the list follows "
        "the cohort's entries and exits from a `list_changes` stream, such as Amplitude's Cohort Webhooks: "
        "entries are added, exits removed, repeated and late changes skipped; snapshot records of the "
        "cohort are ignored). Records of a `list_changes` stream are applied as `delta` whatever the mode.",
    ),
    th.Property(
        "mirror_max_removal_fraction",
        _NUMBER,
        default=0.25,
        description="Mirror never removes more than this fraction of a list's members in one run.",
    ),
    th.Property(
        "mirror_allow_large_removals",
        th.BooleanType,
        default=False,
        description="Apply mirror removals above `mirror_max_removal_fraction`.",
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        default=False,
        description="Plan only: read from Brevo, report what would change, write nothing.",
    ),
    th.Property(
        "rejects_file",
        th.StringType,
        description="Where to read the latest run's rejected records (JSONL, mode 0600: run id, time, stream, "
        "key, reason, record): a link to that run's own file in the folder of the same name without the "
        "extension (`output/brevo-rejects.jsonl` -> `output/brevo-rejects/<run id>.jsonl`), so a clean run reads clean.",
    ),
    th.Property(
        "rejects_keep_runs",
        th.IntegerType,
        default=168,
        description="How many runs' rejects files to keep (the newest; 168 = a week of hourly runs).",
    ),
    th.Property(
        "ledger_path",
        th.StringType,
        default=".target-brevo/ledger.sqlite3",
        description="SQLite delivery ledger: the event keys Brevo accepted and the last list change applied "
        "per contact; keep it between runs. Targets on one host may share it (a streaming one beside the "
        "hourly export one): each event key is claimed by one of them before it is sent.",
    ),
    _fields(
        "company_fields",
        "Group record fields: "
        + ", ".join(f"`{k}` (default `{v}`)" for k, v in DEFAULT_COMPANY_FIELDS.items())
        + ". `members` is a list of objects read like contacts (`email`, `user_id` as the ext_id).",
        list(DEFAULT_COMPANY_FIELDS),
    ),
    th.Property(
        "company_mapping",
        _PATH_MAP,
        description="Group record path -> Brevo company attribute (internal name, e.g. "
        "`group_properties.plan: plan`; nested objects read as paths, as in `property_mapping`). Missing "
        "attributes are created (text, number or boolean by the value).",
    ),
    th.Property(
        "company_group_types",
        th.ArrayType(th.StringType),
        default=["company"],
        description="Amplitude group types that become Brevo companies ([]: every group type).",
    ),
    th.Property(
        "company_key_attribute",
        th.StringType,
        default="amplitude_group",
        description="Company attribute (created if missing) holding `<group type>:<group value>`: how the target "
        "finds the companies its import created, and how people in Brevo see which group a company is.",
    ),
    th.Property(
        "privacy_store_path",
        th.StringType,
        description="SQLite privacy store: the identity map (amplitude_id -> the email and ext_id of each contact "
        "delivered), tombstones (keyed hashes of erased people's identifiers) and the last consent seen per "
        "person. Default: `privacy.sqlite3` beside `ledger_path`. Keep it between runs and share it like the ledger.",
    ),
    th.Property(
        "contact_mode",
        th.StringType,
        default="upsert",
        allowed_values=list(CONTACT_MODES),
        description="`upsert`: create or update contacts. `update_only`: only enrich contacts Brevo already has "
        "(never create one). `insert_only`: create new contacts, never change an existing one's attributes.",
    ),
    th.Property(
        "amplitude_id_field",
        _PATHS,
        default="amplitude_id",
        description="Record path (or list of paths) of the Amplitude ID, which the identity map and the "
        "tombstones know a person by.",
    ),
    th.Property(
        "amplitude_id_attribute",
        th.StringType,
        description="Brevo contact attribute holding the Amplitude ID: a deletion whose amplitude_id this target "
        "never delivered is looked up by it (`GET /contacts?filter=equals(...)`, one call). Default: the "
        "attribute `property_mapping` maps `amplitude_id` to, if any.",
    ),
    th.Property(
        "deletion_action",
        th.StringType,
        default="delete",
        allowed_values=list(DELETION_ACTIONS),
        description="What a deletion request does to the person's contacts: `delete` (`DELETE /contacts/{id}`) "
        "or `blocklist` (kept, email and SMS blocklisted). Either way the person is tombstoned.",
    ),
    th.Property(
        "deletion_statuses",
        th.ArrayType(th.StringType),
        default=list(DELETION_STATUSES),
        description="Statuses of Amplitude deletion jobs acted on (staging, submitted, done). Default: all, so "
        "Brevo forgets the person at once; `[submitted, done]` waits until the request can no longer be "
        "withdrawn in Amplitude. Requests without a status (a warehouse table) always apply.",
    ),
    th.Property(
        "delete_transactional_logs",
        th.BooleanType,
        default=False,
        description="Also erase an erased person's transactional email logs (`DELETE /smtp/log/{email}`, "
        "asynchronous in Brevo; one call per person from the 300-requests-per-hour bucket every `/smtp/*` "
        "endpoint shares, so at most `transactional_log_deletions_per_run` a run, the rest queued in the privacy store "
        "for the next runs).",
    ),
    th.Property(
        "transactional_log_deletions_per_run",
        th.IntegerType,
        default=50,
        description="At most this many `DELETE /smtp/log/{email}` calls per run (Brevo's 300-requests-per-hour "
        "`/smtp/*` bucket); the rest wait in the privacy store.",
    ),
    th.Property(
        "consent_field",
        _PATHS,
        description="Record path (or list) of the marketing consent. When set, a person whose consent is not "
        "one of `consent_values` (or unknown: never seen with a value) gets no contact, event, order or list "
        "add. Records without the field are judged by the last consent seen for the person.",
    ),
    th.Property(
        "consent_values",
        th.ArrayType(th.CustomType({"type": ["boolean", "number", "string"]})),
        default=[True, "true", "yes", "granted", "opt_in", "opted_in"],
        description="Values of `consent_field` that mean consent was given (text compared trimmed and "
        "case-insensitively; `1` and `true` are different values).",
    ),
    th.Property(
        "consent_withdrawn_action",
        th.StringType,
        default="blocklist",
        allowed_values=list(WITHDRAWAL_ACTIONS),
        description="When a person's consent changes from given to anything else: `blocklist` their contact "
        "(once, `PUT /contacts/{id}`) or `none` (only stop sending).",
    ),
    th.Property("summary_file", th.StringType, description="Also write the run summary (JSON) to this file."),
    th.Property(
        "state_ack_file",
        th.StringType,
        description="Also write each STATE the target emits (its JSON value) to this file, atomically "
        "(replaced, never half-written), so a tap running beside the target (the streaming receiver) can "
        "drop what that STATE covers. Not written in a dry run.",
    ),
    th.Property(
        "flush_interval_seconds",
        _NUMBER,
        default=300.0,
        description="How often a STATE is made durable: on a STATE message at least this long after the last "
        "flush, every held record is sent (partial batches too), the imports are waited for, and that STATE "
        "is emitted. Full batches are sent as they fill whatever the interval. 0 flushes at every STATE.",
    ),
    _request_size(
        "import_max_rows", "Contacts per /contacts/import call.", ceiling=limits.IMPORT_MAX_ROWS, default=100_000
    ),
    _request_size(
        "import_max_bytes",
        "Bytes per /contacts/import body (Brevo caps at 10 MB, recommends 8).",
        ceiling=limits.IMPORT_MAX_BYTES,
        default=limits.IMPORT_RECOMMENDED_BYTES,
    ),
    _request_size("events_batch_max_events", "Events per /events/batch (<= 200).", ceiling=limits.EVENTS_PER_BATCH),
    _request_size(
        "events_batch_max_bytes", "Bytes per /events/batch body (<= 512 KB).", ceiling=limits.EVENTS_BATCH_BYTES
    ),
    _request_size(
        "orders_batch_max_orders", "Orders per /orders/status/batch (<= 1000).", ceiling=limits.ORDERS_PER_BATCH
    ),
    _request_size(
        "orders_batch_max_bytes", "Bytes per /orders/status/batch body (<= 5 MB).", ceiling=limits.ORDERS_BATCH_BYTES
    ),
    _request_size(
        "list_call_max_contacts", "Contacts per list add/remove call (<= 150).", ceiling=limits.CONTACTS_PER_LIST_CALL
    ),
    th.Property(
        "list_import_threshold",
        th.IntegerType,
        default=1500,
        description="Adds to one list above this many members in one flush go through /contacts/import with "
        "the list id (one call per import body) instead of contacts/add (150 per call); so do all adds while "
        "contacts are being imported anyway.",
    ),
    th.Property(
        "contact_calls_max",
        th.IntegerType,
        default=20,
        description="A request of at most this many contacts (a flush's contacts, or list members Brevo does not "
        "know yet) upserts each with POST /contacts (contacts rate limit, 10 per second; applied when it "
        "answers) instead of one /contacts/import, whose status polls (GET /processes) draw on Brevo's "
        "100-requests-per-hour bucket: a target flushing every second stays off that bucket. 0: always import.",
    ),
    th.Property(
        "order_calls_max",
        th.IntegerType,
        default=10,
        description="A request of at most this many live orders sends each with POST /orders/status (orders rate "
        "limit, 5 per second) instead of one /orders/status/batch (Brevo's 100-requests-per-hour bucket). "
        "Historical orders always go by batch: the single-order endpoint has no `historical` flag and fires "
        "order automations. 0: always batch.",
    ),
    th.Property("max_retries", th.IntegerType, default=5, description="Retries of a call after 5xx or timeouts."),
    th.Property("backoff_base_seconds", _NUMBER, default=0.5, description="First retry delay (doubles, jittered)."),
    th.Property("backoff_max_seconds", _NUMBER, default=30.0, description="Longest retry delay."),
    th.Property("request_timeout_seconds", _NUMBER, default=60.0, description="HTTP timeout per call."),
    th.Property(
        "process_poll_initial_seconds",
        _NUMBER,
        default=1.0,
        description="Expected import time per 10,000 rows before the first poll, until the run has seen "
        "an import complete (then its own timing is used); later polls wait at least this, doubling up to "
        "the max.",
    ),
    th.Property("process_poll_max_seconds", _NUMBER, default=30.0, description="Longest wait between polls."),
    th.Property(
        "process_timeout_seconds",
        _NUMBER,
        default=3600.0,
        description="Give up on an import process after this long.",
    ),
).to_dict()

DEFAULTS: dict[str, Any] = {
    name: prop["default"] for name, prop in CONFIG_SCHEMA["properties"].items() if "default" in prop
}
