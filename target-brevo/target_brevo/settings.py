"""The target's settings: the config schema (every default declared here, once) and its typed view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import phonenumbers
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from target_brevo.brevo import limits
from target_brevo.brevo.http import RetryPolicy, check_api_url
from target_brevo.mapping.cohorts import DEFAULT_COHORT_FIELDS, DEFAULT_LIST_FIELDS, ListRules, MemberRules
from target_brevo.mapping.contacts import ContactRules, attribute_mapping
from target_brevo.mapping.events import DEFAULT_EVENT_FIELDS, EventRules
from target_brevo.mapping.identity import IdentityRules, identity_of
from target_brevo.mapping.orders import DEFAULT_ORDER_FIELDS, OrderRules
from target_brevo.mapping.values import ATTRIBUTE_TYPES, BREVO_NAME

STREAM_TYPES = ("contacts", "events", "orders", "list_members", "lists", "skip")
DEFAULT_STREAM_TYPES = {
    "users": "contacts",
    "events": "events",
    "revenue": "orders",
    "cohort_members": "list_members",
    "cohorts": "lists",
}
SYNC_MODES = ("mirror", "append", "remove")

_STRING_MAP = th.ObjectType(additional_properties=th.StringType)
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
        "cohort_members->list_members, cohorts->lists. Unrouted streams are skipped with one warning each.",
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
        th.ObjectType(additional_properties=th.CustomType({"type": ["string", "object"]})),
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
    _fields(
        "event_fields",
        "Event record fields: `uuid` (ledger key), `name`, `time`, `properties`. Defaults `uuid`, "
        "`event_type`, `event_time`, `event_properties`.",
        list(DEFAULT_EVENT_FIELDS),
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
        th.BooleanType,
        default=True,
        description="Send orders as historical (`historical: true`), so backfills do not trigger automations.",
    ),
    _fields(
        "cohort_fields",
        "List-member record fields: `cohort_id`, `cohort_name`, `snapshot_size` (members in the complete "
        "snapshot) and `snapshot_complete` (an optional boolean completion marker). Defaults "
        "`cohort_id`, `cohort_name`, `snapshot_size`, none.",
        ["cohort_id", "cohort_name", "snapshot_size", "snapshot_complete"],
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
        "snapshot), `append` (add only), `remove` (remove the received members).",
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
        description="JSONL file (mode 0600) receiving rejected records with stream, key and reason.",
    ),
    th.Property(
        "ledger_path",
        th.StringType,
        default=".target-brevo/ledger.sqlite3",
        description="SQLite delivery ledger of accepted event uuids; keep it between runs.",
    ),
    th.Property("summary_file", th.StringType, description="Also write the run summary (JSON) to this file."),
    th.Property(
        "flush_interval_seconds",
        _NUMBER,
        default=300.0,
        description="How often a STATE is made durable: on a STATE message at least this long after the last "
        "flush, every held record is sent (partial batches too), the imports are waited for, and that STATE "
        "is emitted. Full batches are sent as they fill whatever the interval. 0 flushes at every STATE.",
    ),
    th.Property(
        "import_max_rows", th.IntegerType, default=100_000, description="Contacts per /contacts/import call."
    ),
    th.Property(
        "import_max_bytes",
        th.IntegerType,
        default=limits.IMPORT_RECOMMENDED_BYTES,
        description="Bytes per /contacts/import body (Brevo caps at 10 MB, recommends 8).",
    ),
    th.Property(
        "events_batch_max_events",
        th.IntegerType,
        default=limits.EVENTS_PER_BATCH,
        description="Events per /events/batch (<= 200).",
    ),
    th.Property(
        "events_batch_max_bytes",
        th.IntegerType,
        default=limits.EVENTS_BATCH_BYTES,
        description="Bytes per /events/batch body (<= 512 KB).",
    ),
    th.Property(
        "orders_batch_max_orders",
        th.IntegerType,
        default=limits.ORDERS_PER_BATCH,
        description="Orders per /orders/status/batch (<= 1000).",
    ),
    th.Property(
        "orders_batch_max_bytes",
        th.IntegerType,
        default=limits.ORDERS_BATCH_BYTES,
        description="Bytes per /orders/status/batch body (<= 5 MB).",
    ),
    th.Property(
        "list_call_max_contacts",
        th.IntegerType,
        default=limits.CONTACTS_PER_LIST_CALL,
        description="Contacts per list add/remove call (<= 150).",
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
        "max_retries", th.IntegerType, default=5, description="Retries of a call after 5xx or timeouts."
    ),
    th.Property(
        "backoff_base_seconds", _NUMBER, default=0.5, description="First retry delay (doubles, jittered)."
    ),
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
#: Ceilings Brevo sets on the request-size settings.
CEILINGS = {
    "import_max_rows": limits.IMPORT_MAX_ROWS,
    "import_max_bytes": limits.IMPORT_MAX_BYTES,
    "events_batch_max_events": limits.EVENTS_PER_BATCH,
    "events_batch_max_bytes": limits.EVENTS_BATCH_BYTES,
    "orders_batch_max_orders": limits.ORDERS_PER_BATCH,
    "orders_batch_max_bytes": limits.ORDERS_BATCH_BYTES,
    "list_call_max_contacts": limits.CONTACTS_PER_LIST_CALL,
}


@dataclass(frozen=True)
class RemovalCap:
    """How much of a list one mirror may remove: a fraction of its members, unless large removals are allowed."""

    max_fraction: float
    allow_large: bool


@dataclass(frozen=True)
class ListTarget:
    """Where one cohort goes: a Brevo list (by id, or by name to find or create) and how to sync it."""

    list_id: int | None
    list_name: str | None
    sync_mode: str
    removal_cap: RemovalCap


@dataclass(frozen=True)
class RequestLimits:
    """Rows and bytes per bulk request, as configured within Brevo's ceilings."""

    import_rows: int
    import_bytes: int
    events: int
    events_bytes: int
    orders: int
    orders_bytes: int
    list_call_contacts: int
    list_import_threshold: int


@dataclass(frozen=True)
class ImportWaits:
    """How long to wait for Brevo to apply an import before and between polls."""

    initial_seconds: float
    max_seconds: float
    timeout_seconds: float


@dataclass(frozen=True)
class Settings:
    """The validated configuration, with the mapping rules built from it."""

    api_key: str
    api_url: str
    retry: RetryPolicy
    stream_types: dict[str, str]
    identity: IdentityRules
    contacts: ContactRules
    events: EventRules
    orders: OrderRules
    members: MemberRules
    cohort_definitions: ListRules
    attribute_types: dict[str, str]
    create_missing_attributes: bool
    orders_historical: bool
    lists: dict[str, ListTarget]
    create_missing_lists: bool
    lists_folder: str
    contacts_list_id: int | None
    contacts_list_name: str
    cohort_sync_mode: str
    removal_cap: RemovalCap
    dry_run: bool
    rejects_file: str | None
    ledger_path: str
    summary_file: str | None
    flush_interval_seconds: float
    limits: RequestLimits
    import_waits: ImportWaits

    def list_target(self, cohort_key: str, cohort_name: str | None) -> ListTarget | None:
        """The configured list of a cohort, by its id, else by its name."""
        return self.lists.get(cohort_key) or (self.lists.get(cohort_name) if cohort_name else None)


def flatten_paths(mapping: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """`{"user_properties": {"plan": "PLAN"}}` -> `{"user_properties.plan": "PLAN"}` (Meltano nests dotted keys)."""
    flat: dict[str, str] = {}
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_paths(value, path + "."))
        else:
            flat[path] = str(value)
    return flat


class _Reader:
    """Reads config values with the schema's defaults, collecting every error before failing."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.errors: list[str] = []

    def get(self, name: str) -> Any:
        value = self.config.get(name)
        return DEFAULTS.get(name) if value is None else value

    def text(self, name: str) -> str | None:
        value = self.get(name)
        return str(value) if value not in (None, "") else None

    def flag(self, name: str) -> bool:
        return bool(self.get(name))

    def number(self, name: str) -> float:
        return float(self.get(name))

    def limited(self, name: str) -> int:
        value = int(self.get(name))
        if not 1 <= value <= CEILINGS[name]:
            self.errors.append(f"{name} must be between 1 and {CEILINGS[name]}")
        return value

    def names(self, name: str, what: str, *, upper: bool = False) -> dict[str, str]:
        """A source -> Brevo name map whose names must be valid Brevo names."""
        out = {str(k): str(v).upper() if upper else str(v) for k, v in (self.get(name) or {}).items()}
        for source, target in out.items():
            if not BREVO_NAME.match(target):
                self.errors.append(f"{name}.{source}: {target!r} is not a valid Brevo {what}")
        return out

    def paths(self, name: str) -> list[str]:
        value = self.get(name)
        if value is None:
            return []
        return [value] if isinstance(value, str) else [str(v) for v in value]

    def fraction(self, where: str, value: Any) -> float:
        fraction = float(value)
        if not 0 <= fraction <= 1:
            self.errors.append(f"{where} must be between 0 and 1")
        return fraction

    def mode(self, where: str, value: Any) -> str:
        if value not in SYNC_MODES:
            self.errors.append(f"{where} must be one of {', '.join(SYNC_MODES)}, got {value!r}")
        return str(value)


def _list_target(read: _Reader, key: str, value: Any, mode: str, cap: RemovalCap) -> ListTarget | None:
    spec: dict[str, Any]
    if isinstance(value, bool):
        read.errors.append(f"lists.{key}: expected a list id or an object, got a boolean")
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        spec = {"list_id": int(value)}
    elif isinstance(value, str):
        spec = {"list_name": value}
    elif isinstance(value, dict):
        spec = value
    else:
        read.errors.append(f"lists.{key}: expected a list id, a list name or an object")
        return None
    list_id = spec.get("list_id")
    list_name = spec.get("list_name")
    if list_id is None and not list_name:
        read.errors.append(f"lists.{key}: give list_id or list_name")
    return ListTarget(
        list_id=int(list_id) if list_id is not None else None,
        list_name=list_name,
        sync_mode=read.mode(f"lists.{key}.sync_mode", spec.get("sync_mode", mode)),
        removal_cap=RemovalCap(
            read.fraction(f"lists.{key}.max_removal_fraction", spec.get("max_removal_fraction", cap.max_fraction)),
            bool(spec.get("allow_large_removals", cap.allow_large)),
        ),
    )


def parse_settings(config: dict[str, Any]) -> Settings:
    """The typed settings of `config`; ConfigValidationError listing every problem found."""
    read = _Reader(config)
    api_url = str(read.get("api_url"))
    try:
        api_url = check_api_url(api_url)
    except ValueError as exc:
        read.errors.append(str(exc))

    stream_types = {**DEFAULT_STREAM_TYPES, **(read.get("stream_types") or {})}
    for stream, stream_type in stream_types.items():
        if stream_type not in STREAM_TYPES:
            read.errors.append(
                f"stream_types.{stream} must be one of {', '.join(STREAM_TYPES)}, got {stream_type!r}"
            )

    property_mapping = flatten_paths(read.get("property_mapping") or {})
    for source, target in property_mapping.items():
        if not identity_of(target) and not BREVO_NAME.match(target):
            read.errors.append(f"property_mapping.{source}: {target!r} is not a valid Brevo attribute name")
    attribute_types = {str(k).upper(): str(v) for k, v in (read.get("attribute_types") or {}).items()}
    for name, attribute_type in attribute_types.items():
        if attribute_type not in ATTRIBUTE_TYPES:
            read.errors.append(
                f"attribute_types.{name} must be one of {', '.join(ATTRIBUTE_TYPES)}, got {attribute_type!r}"
            )
    event_names = read.names("event_mapping", "event name (1-255 letters, digits, '-' or '_')")
    event_contact_properties = read.names("event_contact_properties", "attribute name", upper=True)

    mode = read.mode("cohort_sync_mode", read.get("cohort_sync_mode"))
    cap = RemovalCap(
        read.fraction("mirror_max_removal_fraction", read.get("mirror_max_removal_fraction")),
        read.flag("mirror_allow_large_removals"),
    )
    lists = {
        str(key): target
        for key, value in (read.get("lists") or {}).items()
        if (target := _list_target(read, str(key), value, mode, cap)) is not None
    }

    region = read.text("default_region")
    if region:
        region = region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            read.errors.append(f"default_region {region!r} is not an ISO 3166 region known to libphonenumber")

    identity = IdentityRules.configured(read.paths("email_field"), read.paths("ext_id_field"), property_mapping)
    contacts_list_id = read.get("contacts_list_id")
    settings = Settings(
        api_key=read.text("api_key") or "",
        api_url=api_url,
        retry=RetryPolicy(
            max_retries=int(read.get("max_retries")),
            backoff_base=read.number("backoff_base_seconds"),
            backoff_max=read.number("backoff_max_seconds"),
            timeout=read.number("request_timeout_seconds"),
        ),
        stream_types=stream_types,
        identity=identity,
        contacts=ContactRules(attribute_mapping(property_mapping), region),
        events=EventRules(
            fields={**DEFAULT_EVENT_FIELDS, **(read.get("event_fields") or {})},
            names=event_names,
            forward_unmapped=read.flag("forward_unmapped_events"),
            contact_properties=event_contact_properties,
            identity=identity,
        ),
        orders=OrderRules(
            fields={**DEFAULT_ORDER_FIELDS, **(read.get("order_fields") or {})},
            default_status=str(read.get("order_status")),
            identity=identity,
        ),
        members=MemberRules({**DEFAULT_COHORT_FIELDS, **(read.get("cohort_fields") or {})}),
        cohort_definitions=ListRules({**DEFAULT_LIST_FIELDS, **(read.get("list_fields") or {})}),
        attribute_types=attribute_types,
        create_missing_attributes=read.flag("create_missing_attributes"),
        orders_historical=read.flag("orders_historical"),
        lists=lists,
        create_missing_lists=read.flag("create_missing_lists"),
        lists_folder=str(read.get("lists_folder")),
        contacts_list_id=int(contacts_list_id) if contacts_list_id is not None else None,
        contacts_list_name=str(read.get("contacts_list_name")),
        cohort_sync_mode=mode,
        removal_cap=cap,
        dry_run=read.flag("dry_run"),
        rejects_file=read.text("rejects_file"),
        ledger_path=str(read.get("ledger_path")),
        summary_file=read.text("summary_file"),
        flush_interval_seconds=read.number("flush_interval_seconds"),
        limits=RequestLimits(
            import_rows=read.limited("import_max_rows"),
            import_bytes=read.limited("import_max_bytes"),
            events=read.limited("events_batch_max_events"),
            events_bytes=read.limited("events_batch_max_bytes"),
            orders=read.limited("orders_batch_max_orders"),
            orders_bytes=read.limited("orders_batch_max_bytes"),
            list_call_contacts=read.limited("list_call_max_contacts"),
            list_import_threshold=int(read.get("list_import_threshold")),
        ),
        import_waits=ImportWaits(
            initial_seconds=read.number("process_poll_initial_seconds"),
            max_seconds=read.number("process_poll_max_seconds"),
            timeout_seconds=read.number("process_timeout_seconds"),
        ),
    )
    if settings.flush_interval_seconds < 0:
        read.errors.append("flush_interval_seconds must be 0 or more")
    if settings.limits.list_import_threshold < 0:
        read.errors.append("list_import_threshold must be 0 or more")
    if not settings.api_key:
        read.errors.append("api_key is required")
    if read.errors:
        raise ConfigValidationError("Invalid target-brevo config", errors=read.errors)
    return settings
