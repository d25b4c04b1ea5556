"""The target's settings: the typed, validated view of the config (schema and defaults in config_schema.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
from singer_sdk.exceptions import ConfigValidationError

from target_brevo.brevo.http import RetryPolicy, check_api_url
from target_brevo.config_schema import (
    CEILINGS,
    CONTACT_MODES,
    DEFAULT_STREAM_TYPES,
    DEFAULTS,
    DELETION_ACTIONS,
    DELETION_STATUSES,
    STREAM_TYPES,
    SYNC_MODES,
    WITHDRAWAL_ACTIONS,
)
from target_brevo.mapping.cohorts import DEFAULT_COHORT_FIELDS, DEFAULT_LIST_FIELDS, ListRules, MemberRules
from target_brevo.mapping.companies import DEFAULT_COMPANY_FIELDS, CompanyRules
from target_brevo.mapping.contacts import ContactRules, attribute_mapping
from target_brevo.mapping.events import DEFAULT_EVENT_FIELDS, EventRules, event_key_paths
from target_brevo.mapping.identity import IdentityRules, identity_of
from target_brevo.mapping.orders import DEFAULT_ORDER_FIELDS, OrderRules
from target_brevo.mapping.values import ATTRIBUTE_TYPES, BREVO_NAME, InvalidValue
from target_brevo.privacy.consent import ConsentRule
from target_brevo.privacy.erasure import DeletionRules


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
    contact_calls: int  # at most this many contacts go one call each instead of an import
    order_calls: int  # at most this many live orders go one call each instead of a batch


@dataclass(frozen=True)
class ImportWaits:
    """How long to wait for Brevo to apply an import before and between polls."""

    initial_seconds: float
    max_seconds: float
    timeout_seconds: float


@dataclass(frozen=True)
class PrivacySettings:
    """Erasure, consent and the store they keep."""

    store_path: str
    amplitude_id_paths: tuple[str, ...]
    deletions: DeletionRules
    deletion_action: str
    lookup_attribute: str | None
    transactional_logs: bool
    log_deletions_per_run: int
    consent: ConsentRule | None


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
    orders_historical: bool | None  # None: by the order's age
    live_window_seconds: float
    send_old_events: bool
    lists: dict[str, ListTarget]
    create_missing_lists: bool
    lists_folder: str
    contacts_list_id: int | None
    contacts_list_name: str
    cohort_sync_mode: str
    removal_cap: RemovalCap
    dry_run: bool
    rejects_file: str | None
    rejects_keep_runs: int
    ledger_path: str
    summary_file: str | None
    state_ack_file: str | None
    flush_interval_seconds: float
    limits: RequestLimits
    import_waits: ImportWaits
    contact_mode: str
    privacy: PrivacySettings
    companies: CompanyRules
    company_key_attribute: str

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

    def count(self, name: str) -> int:
        value = int(self.get(name))
        if value < 0:
            self.errors.append(f"{name} must be 0 or more")
        return value

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


def _api_url(read: _Reader) -> str:
    try:
        return check_api_url(str(read.get("api_url")))
    except ValueError as exc:
        read.errors.append(str(exc))
        return str(read.get("api_url"))


def _stream_types(read: _Reader) -> dict[str, str]:
    stream_types = {**DEFAULT_STREAM_TYPES, **(read.get("stream_types") or {})}
    for stream, stream_type in stream_types.items():
        if stream_type not in STREAM_TYPES:
            read.errors.append(f"stream_types.{stream} must be one of {', '.join(STREAM_TYPES)}, got {stream_type!r}")
    return stream_types


def _property_mapping(read: _Reader) -> dict[str, str]:
    property_mapping = flatten_paths(read.get("property_mapping") or {})
    for source, target in property_mapping.items():
        if not identity_of(target) and not BREVO_NAME.match(target):
            read.errors.append(f"property_mapping.{source}: {target!r} is not a valid Brevo attribute name")
    return property_mapping


def _attribute_types(read: _Reader) -> dict[str, str]:
    attribute_types = {str(k).upper(): str(v) for k, v in (read.get("attribute_types") or {}).items()}
    for name, attribute_type in attribute_types.items():
        if attribute_type not in ATTRIBUTE_TYPES:
            read.errors.append(
                f"attribute_types.{name} must be one of {', '.join(ATTRIBUTE_TYPES)}, got {attribute_type!r}"
            )
    return attribute_types


def _region(read: _Reader) -> str | None:
    region = read.text("default_region")
    if region:
        region = region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            read.errors.append(f"default_region {region!r} is not an ISO 3166 region known to libphonenumber")
    return region


def _orders_historical(read: _Reader) -> bool | None:
    value = read.get("orders_historical")
    forced = {True: True, False: False, "true": True, "false": False, "auto": None}
    if value not in forced:
        read.errors.append(f"orders_historical must be auto, true or false, got {value!r}")
    return forced.get(value)


def _lists(read: _Reader, mode: str, cap: RemovalCap) -> dict[str, ListTarget]:
    return {
        str(key): target
        for key, value in (read.get("lists") or {}).items()
        if (target := _list_target(read, str(key), value, mode, cap)) is not None
    }


def _mapping_rules(read: _Reader, identity: IdentityRules) -> tuple[EventRules, OrderRules, MemberRules, ListRules]:
    events = EventRules(
        fields={**DEFAULT_EVENT_FIELDS, **(read.get("event_fields") or {})},
        key_paths=event_key_paths(read.get("event_fields") or {}),
        names=read.names("event_mapping", "event name (1-255 letters, digits, '-' or '_')"),
        forward_unmapped=read.flag("forward_unmapped_events"),
        contact_properties=read.names("event_contact_properties", "attribute name", upper=True),
        identity=identity,
    )
    orders = OrderRules(
        fields={**DEFAULT_ORDER_FIELDS, **(read.get("order_fields") or {})},
        default_status=str(read.get("order_status")),
        identity=identity,
    )
    members = MemberRules({**DEFAULT_COHORT_FIELDS, **(read.get("cohort_fields") or {})})
    definitions = ListRules({**DEFAULT_LIST_FIELDS, **(read.get("list_fields") or {})})
    return events, orders, members, definitions


def _request_limits(read: _Reader) -> RequestLimits:
    return RequestLimits(
        import_rows=read.limited("import_max_rows"),
        import_bytes=read.limited("import_max_bytes"),
        events=read.limited("events_batch_max_events"),
        events_bytes=read.limited("events_batch_max_bytes"),
        orders=read.limited("orders_batch_max_orders"),
        orders_bytes=read.limited("orders_batch_max_bytes"),
        list_call_contacts=read.limited("list_call_max_contacts"),
        list_import_threshold=read.count("list_import_threshold"),
        contact_calls=read.count("contact_calls_max"),
        order_calls=read.count("order_calls_max"),
    )


def _waits(read: _Reader) -> tuple[RetryPolicy, ImportWaits, float]:
    """Retries, import waits and the flush interval."""
    retry = RetryPolicy(
        max_retries=int(read.get("max_retries")),
        backoff_base=read.number("backoff_base_seconds"),
        backoff_max=read.number("backoff_max_seconds"),
        timeout=read.number("request_timeout_seconds"),
    )
    import_waits = ImportWaits(
        initial_seconds=read.number("process_poll_initial_seconds"),
        max_seconds=read.number("process_poll_max_seconds"),
        timeout_seconds=read.number("process_timeout_seconds"),
    )
    flush_interval = read.number("flush_interval_seconds")
    if flush_interval < 0:
        read.errors.append("flush_interval_seconds must be 0 or more")
    return retry, import_waits, flush_interval


def _choice(read: _Reader, name: str, allowed: tuple[str, ...]) -> str:
    value = str(read.get(name))
    if value not in allowed:
        read.errors.append(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _privacy(read: _Reader, identity: IdentityRules, property_mapping: dict[str, str]) -> PrivacySettings:
    amplitude_id_paths = tuple(read.paths("amplitude_id_field"))
    statuses = [str(s) for s in read.get("deletion_statuses") or []]
    for status in statuses:
        if status not in DELETION_STATUSES:
            read.errors.append(f"deletion_statuses: {status!r} is not one of {', '.join(DELETION_STATUSES)}")
    lookup = read.text("amplitude_id_attribute")
    if lookup is None:
        lookup = next((t.upper() for s, t in property_mapping.items() if s in amplitude_id_paths), None)
    elif not BREVO_NAME.match(lookup):
        read.errors.append(f"amplitude_id_attribute: {lookup!r} is not a valid Brevo attribute name")
    consent = None
    try:
        consent = ConsentRule.configured(
            read.paths("consent_field"),
            list(read.get("consent_values") or []),
            _choice(read, "consent_withdrawn_action", WITHDRAWAL_ACTIONS),
        )
    except InvalidValue as exc:
        read.errors.append(f"consent_values: {exc}")
    ledger = read.text("ledger_path") or ""
    beside_ledger = ledger if ledger == ":memory:" else str(Path(ledger).with_name("privacy.sqlite3"))
    return PrivacySettings(
        store_path=read.text("privacy_store_path") or beside_ledger,
        amplitude_id_paths=amplitude_id_paths,
        deletions=DeletionRules(identity, amplitude_id_paths, frozenset(statuses)),
        deletion_action=_choice(read, "deletion_action", DELETION_ACTIONS),
        lookup_attribute=lookup.upper() if lookup else None,
        transactional_logs=read.flag("delete_transactional_logs"),
        log_deletions_per_run=read.count("transactional_log_deletions_per_run"),
        consent=consent,
    )


def parse_settings(config: dict[str, Any]) -> Settings:
    """The typed settings of `config`; ConfigValidationError listing every problem found."""
    read = _Reader(config)
    api_key = read.text("api_key") or ""
    if not api_key:
        read.errors.append("api_key is required")
    property_mapping = _property_mapping(read)
    identity = IdentityRules.configured(read.paths("email_field"), read.paths("ext_id_field"), property_mapping)
    events, orders, members, definitions = _mapping_rules(read, identity)
    mode = read.mode("cohort_sync_mode", read.get("cohort_sync_mode"))
    cap = RemovalCap(
        read.fraction("mirror_max_removal_fraction", read.get("mirror_max_removal_fraction")),
        read.flag("mirror_allow_large_removals"),
    )
    retry, import_waits, flush_interval = _waits(read)
    contacts_list_id = read.get("contacts_list_id")
    settings = Settings(
        api_key=api_key,
        api_url=_api_url(read),
        retry=retry,
        stream_types=_stream_types(read),
        identity=identity,
        contacts=ContactRules(attribute_mapping(property_mapping), _region(read)),
        events=events,
        orders=orders,
        members=members,
        cohort_definitions=definitions,
        attribute_types=_attribute_types(read),
        create_missing_attributes=read.flag("create_missing_attributes"),
        orders_historical=_orders_historical(read),
        live_window_seconds=read.number("live_window_hours") * 3600,
        send_old_events=read.flag("send_old_events"),
        lists=_lists(read, mode, cap),
        create_missing_lists=read.flag("create_missing_lists"),
        lists_folder=str(read.get("lists_folder")),
        contacts_list_id=int(contacts_list_id) if contacts_list_id is not None else None,
        contacts_list_name=str(read.get("contacts_list_name")),
        cohort_sync_mode=mode,
        removal_cap=cap,
        dry_run=read.flag("dry_run"),
        rejects_file=read.text("rejects_file"),
        rejects_keep_runs=int(read.get("rejects_keep_runs")),
        ledger_path=str(read.get("ledger_path")),
        summary_file=read.text("summary_file"),
        state_ack_file=read.text("state_ack_file"),
        flush_interval_seconds=flush_interval,
        limits=_request_limits(read),
        import_waits=import_waits,
        contact_mode=_choice(read, "contact_mode", CONTACT_MODES),
        privacy=_privacy(read, identity, property_mapping),
        companies=CompanyRules(
            fields={**DEFAULT_COMPANY_FIELDS, **{k: v for k, v in (read.get("company_fields") or {}).items() if v}},
            group_types=frozenset(str(t) for t in read.get("company_group_types") or []),
            attributes=flatten_paths(read.get("company_mapping") or {}),
            member_identity=IdentityRules.configured([], [], {}),
        ),
        company_key_attribute=str(read.get("company_key_attribute")),
    )
    if read.errors:
        raise ConfigValidationError("Invalid target-brevo config", errors=read.errors)
    return settings
