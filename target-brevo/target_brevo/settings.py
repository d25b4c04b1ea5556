"""Typed, validated view of the target's config (the JSON schema lives in target.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from singer_sdk.exceptions import ConfigValidationError

from target_brevo.client import check_api_url
from target_brevo.mapping import ATTRIBUTE_TYPES, BREVO_NAME, IDENTIFIER_ATTRIBUTES

STREAM_TYPES = ("contacts", "events", "orders", "list_members", "lists", "skip")
DEFAULT_STREAM_TYPES = {
    "users": "contacts",
    "events": "events",
    "revenue": "orders",
    "cohort_members": "list_members",
    "cohorts": "lists",
}
SYNC_MODES = ("mirror", "append", "remove")
DEFAULT_EMAIL_FIELDS = ["email", "user_properties.email", "properties.email"]
DEFAULT_EXT_ID_FIELDS = ["user_id"]
DEFAULT_EVENT_FIELDS = {"uuid": "uuid", "name": "event_type", "time": "event_time", "properties": "event_properties"}
DEFAULT_ORDER_FIELDS = {
    "id": "uuid",
    "created_at": "event_time",
    "amount": "revenue",
    "price": "price",
    "quantity": "quantity",
    "product_id": "product_id",
    "status": "order_status",
    "revenue_type": "revenue_type",
    "currency": "currency",
}
DEFAULT_COHORT_FIELDS = {
    "cohort_id": "cohort_id",
    "cohort_name": "cohort_name",
    "snapshot_id": "snapshot_id",
    "snapshot_size": "snapshot_size",
    "snapshot_complete": "snapshot_end",
}
DEFAULT_LIST_FIELDS = {"id": "id", "name": "name"}


@dataclass(frozen=True)
class ListTarget:
    """Where one cohort goes: a Brevo list (by id, or by name to find or create) and how to sync it."""

    list_id: int | None
    list_name: str | None
    sync_mode: str
    max_removal_fraction: float
    allow_large_removals: bool


@dataclass
class Settings:
    api_key: str
    api_url: str
    stream_types: dict[str, str]
    email_fields: list[str]
    ext_id_fields: list[str]
    property_mapping: dict[str, str]
    attribute_types: dict[str, str]
    create_missing_attributes: bool
    default_region: str | None
    event_mapping: dict[str, str]
    forward_unmapped_events: bool
    event_contact_properties: dict[str, str]
    event_fields: dict[str, str]
    order_fields: dict[str, str | None]
    order_status: str
    orders_historical: bool
    cohort_fields: dict[str, str | None]
    list_fields: dict[str, str]
    lists: dict[str, ListTarget]
    create_missing_lists: bool
    lists_folder: str
    contacts_list_id: int | None
    contacts_list_name: str
    cohort_sync_mode: str
    mirror_max_removal_fraction: float
    mirror_allow_large_removals: bool
    dry_run: bool
    rejects_file: str | None
    ledger_path: str
    summary_file: str | None
    import_max_rows: int
    import_max_bytes: int
    events_batch_max_events: int
    events_batch_max_bytes: int
    orders_batch_max_orders: int
    orders_batch_max_bytes: int
    list_call_max_contacts: int
    list_import_threshold: int
    flush_interval_seconds: float
    max_retries: int
    backoff_base_seconds: float
    backoff_max_seconds: float
    request_timeout_seconds: float
    process_poll_initial_seconds: float
    process_poll_max_seconds: float
    process_timeout_seconds: float
    errors: list[str] = field(default_factory=list)

    @property
    def attribute_for_email(self) -> str | None:
        for source, target in self.property_mapping.items():
            if target.upper() == "EMAIL":
                return source
        return None



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

def _fail(errors: list[str]) -> None:
    if errors:
        raise ConfigValidationError("Invalid target-brevo config", errors=errors)


def _list_target(key: str, value: Any, defaults: dict[str, Any], errors: list[str]) -> ListTarget | None:
    spec: dict[str, Any]
    if isinstance(value, bool):
        errors.append(f"lists.{key}: expected a list id or an object, got a boolean")
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        spec = {"list_id": int(value)}
    elif isinstance(value, str):
        spec = {"list_name": value}
    elif isinstance(value, dict):
        spec = value
    else:
        errors.append(f"lists.{key}: expected a list id, a list name or an object")
        return None
    mode = spec.get("sync_mode", defaults["sync_mode"])
    if mode not in SYNC_MODES:
        errors.append(f"lists.{key}.sync_mode must be one of {', '.join(SYNC_MODES)}, got {mode!r}")
    fraction = float(spec.get("max_removal_fraction", defaults["fraction"]))
    if not 0 <= fraction <= 1:
        errors.append(f"lists.{key}.max_removal_fraction must be between 0 and 1")
    list_id = spec.get("list_id")
    list_name = spec.get("list_name")
    if list_id is None and not list_name:
        errors.append(f"lists.{key}: give list_id or list_name")
    return ListTarget(
        list_id=int(list_id) if list_id is not None else None,
        list_name=list_name,
        sync_mode=mode,
        max_removal_fraction=fraction,
        allow_large_removals=bool(spec.get("allow_large_removals", defaults["allow"])),
    )


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def parse_settings(config: dict[str, Any]) -> Settings:
    errors: list[str] = []
    api_url = config.get("api_url") or "https://api.brevo.com/v3"
    try:
        api_url = check_api_url(api_url)
    except ValueError as exc:
        errors.append(str(exc))

    stream_types = dict(DEFAULT_STREAM_TYPES)
    stream_types.update(config.get("stream_types") or {})
    for stream, kind in stream_types.items():
        if kind not in STREAM_TYPES:
            errors.append(f"stream_types.{stream} must be one of {', '.join(STREAM_TYPES)}, got {kind!r}")

    property_mapping = flatten_paths(config.get("property_mapping") or {})
    for source, target in property_mapping.items():
        if target.lower() not in ("email", "ext_id") and not BREVO_NAME.match(target):
            errors.append(f"property_mapping.{source}: {target!r} is not a valid Brevo attribute name")
    attribute_types = {str(k).upper(): str(v) for k, v in (config.get("attribute_types") or {}).items()}
    for name, kind in attribute_types.items():
        if kind not in ATTRIBUTE_TYPES:
            errors.append(f"attribute_types.{name} must be one of {', '.join(ATTRIBUTE_TYPES)}, got {kind!r}")

    event_mapping = {str(k): str(v) for k, v in (config.get("event_mapping") or {}).items()}
    for source, target in event_mapping.items():
        if not BREVO_NAME.match(target):
            errors.append(
                f"event_mapping.{source}: {target!r} is not a valid Brevo event name "
                "(1-255 letters, digits, '-' or '_')"
            )
    event_contact_properties = {str(k): str(v).upper() for k, v in (config.get("event_contact_properties") or {}).items()}
    for source, target in event_contact_properties.items():
        if not BREVO_NAME.match(target):
            errors.append(f"event_contact_properties.{source}: {target!r} is not a valid Brevo attribute name")

    mode = config.get("cohort_sync_mode") or "mirror"
    if mode not in SYNC_MODES:
        errors.append(f"cohort_sync_mode must be one of {', '.join(SYNC_MODES)}, got {mode!r}")
    fraction = float(config.get("mirror_max_removal_fraction", 0.25))
    if not 0 <= fraction <= 1:
        errors.append("mirror_max_removal_fraction must be between 0 and 1")
    allow = bool(config.get("mirror_allow_large_removals", False))
    defaults = {"sync_mode": mode, "fraction": fraction, "allow": allow}
    lists: dict[str, ListTarget] = {}
    for key, value in (config.get("lists") or {}).items():
        target = _list_target(str(key), value, defaults, errors)
        if target is not None:
            lists[str(key)] = target

    region = config.get("default_region")
    if region:
        import phonenumbers

        region = str(region).upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            errors.append(f"default_region {region!r} is not an ISO 3166 region known to libphonenumber")

    mapped_email = next((s for s, t in property_mapping.items() if t.lower() == "email"), None)
    mapped_ext = next((s for s, t in property_mapping.items() if t.lower() == "ext_id" or t == "EXT_ID"), None)
    email_fields = _as_list(config.get("email_field")) or ([mapped_email] if mapped_email else []) + DEFAULT_EMAIL_FIELDS
    ext_id_fields = _as_list(config.get("ext_id_field")) or ([mapped_ext] if mapped_ext else DEFAULT_EXT_ID_FIELDS)

    def limited(name: str, default: int, maximum: int) -> int:
        value = int(config.get(name) or default)
        if not 1 <= value <= maximum:
            errors.append(f"{name} must be between 1 and {maximum}")
        return value

    settings = Settings(
        api_key=str(config.get("api_key") or ""),
        api_url=api_url,
        stream_types=stream_types,
        email_fields=email_fields,
        ext_id_fields=ext_id_fields,
        property_mapping=property_mapping,
        attribute_types=attribute_types,
        create_missing_attributes=bool(config.get("create_missing_attributes", True)),
        default_region=region or None,
        event_mapping=event_mapping,
        forward_unmapped_events=bool(config.get("forward_unmapped_events", False)),
        event_contact_properties=event_contact_properties,
        event_fields={**DEFAULT_EVENT_FIELDS, **(config.get("event_fields") or {})},
        order_fields={**DEFAULT_ORDER_FIELDS, **(config.get("order_fields") or {})},
        order_status=str(config.get("order_status") or "completed"),
        orders_historical=bool(config.get("orders_historical", True)),
        cohort_fields={**DEFAULT_COHORT_FIELDS, **(config.get("cohort_fields") or {})},
        list_fields={**DEFAULT_LIST_FIELDS, **(config.get("list_fields") or {})},
        lists=lists,
        create_missing_lists=bool(config.get("create_missing_lists", False)),
        lists_folder=str(config.get("lists_folder") or "target-brevo"),
        contacts_list_id=int(config["contacts_list_id"]) if config.get("contacts_list_id") is not None else None,
        contacts_list_name=str(config.get("contacts_list_name") or "target-brevo contacts"),
        cohort_sync_mode=mode,
        mirror_max_removal_fraction=fraction,
        mirror_allow_large_removals=allow,
        dry_run=bool(config.get("dry_run", False)),
        rejects_file=config.get("rejects_file") or None,
        ledger_path=str(config.get("ledger_path") or ".target-brevo/ledger.sqlite3"),
        summary_file=config.get("summary_file") or None,
        import_max_rows=limited("import_max_rows", 100_000, 1_000_000),
        import_max_bytes=limited("import_max_bytes", 8_000_000, 10_000_000),
        events_batch_max_events=limited("events_batch_max_events", 200, 200),
        events_batch_max_bytes=limited("events_batch_max_bytes", 512_000, 512_000),
        orders_batch_max_orders=limited("orders_batch_max_orders", 1000, 1000),
        orders_batch_max_bytes=limited("orders_batch_max_bytes", 5_000_000, 5_000_000),
        list_call_max_contacts=limited("list_call_max_contacts", 150, 150),
        list_import_threshold=int(config.get("list_import_threshold", 1500)),
        flush_interval_seconds=float(config.get("flush_interval_seconds", 300.0)),
        max_retries=int(config.get("max_retries", 5)),
        backoff_base_seconds=float(config.get("backoff_base_seconds", 0.5)),
        backoff_max_seconds=float(config.get("backoff_max_seconds", 30.0)),
        request_timeout_seconds=float(config.get("request_timeout_seconds", 60.0)),
        process_poll_initial_seconds=float(config.get("process_poll_initial_seconds", 1.0)),
        process_poll_max_seconds=float(config.get("process_poll_max_seconds", 30.0)),
        process_timeout_seconds=float(config.get("process_timeout_seconds", 3600.0)),
    )
    if settings.flush_interval_seconds < 0:
        errors.append("flush_interval_seconds must be 0 or more")
    if settings.list_import_threshold < 0:
        errors.append("list_import_threshold must be 0 or more")
    if not settings.api_key:
        errors.append("api_key is required")
    _fail(errors)
    return settings


__all__ = ["IDENTIFIER_ATTRIBUTES", "ListTarget", "Settings", "parse_settings"]
