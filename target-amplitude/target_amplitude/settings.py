"""The configuration read once into typed settings (an invalid one stops the run at start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from target_amplitude.amplitude.client import BATCH_PATH, HOSTS, HTTP_V2_PATH, RetryPolicy, check_api_url
from target_amplitude.config_schema import CONFIG_SCHEMA, MAX_BYTES, MAX_EVENTS_CEILING
from target_amplitude.mapping.events import EventRules
from target_amplitude.mapping.identity import IdentityRule

DEFAULTS = {name: spec["default"] for name, spec in CONFIG_SCHEMA["properties"].items() if "default" in spec}


@dataclass(frozen=True)
class Settings:
    api_key: str
    base_url: str
    path: str
    min_id_length: int | None
    rules: EventRules
    max_events: int
    max_bytes: int
    throttle_wait_seconds: float
    max_throttle_rounds: int
    retry: RetryPolicy
    flush_interval_seconds: float
    ledger_path: str
    rejects_file: str | None
    summary_file: str | None
    state_ack_file: str | None


def parse_settings(config: dict[str, Any]) -> Settings:
    get = {**DEFAULTS, **{k: v for k, v in config.items() if v is not None}}.get
    if not get("api_key"):
        raise ValueError("api_key is required")
    data_center = str(get("data_center")).upper()
    if data_center not in HOSTS:
        raise ValueError(f"data_center must be US or EU, got {get('data_center')!r}")
    use_batch = bool(get("use_batch"))
    ceiling = MAX_BYTES["batch" if use_batch else "http_v2"]
    max_events = int(get("max_events_per_request"))
    if not 1 <= max_events <= MAX_EVENTS_CEILING:
        raise ValueError(f"max_events_per_request must be between 1 and {MAX_EVENTS_CEILING}, got {max_events}")
    max_bytes = int(get("max_request_bytes") or ceiling)
    if not 1 <= max_bytes <= ceiling:
        raise ValueError(f"max_request_bytes must be between 1 and {ceiling}, got {max_bytes}")
    min_id_length = get("min_id_length")
    if min_id_length is not None and int(min_id_length) < 1:
        raise ValueError("min_id_length must be at least 1")
    email_rule = get("email_rule")
    identity = IdentityRule(
        user_id_paths=tuple(get("user_id_paths") or ()),
        email_field=get("email_field"),
        email_rule=email_rule,
        min_id_length=int(min_id_length) if min_id_length is not None else None,
    )
    rules = EventRules(
        event_field=get("event_field"),
        event_mapping={str(k): str(v) for k, v in get("event_mapping").items() if v},
        user_property_updates={str(k): dict(v) for k, v in get("user_property_updates").items() if v},
        event_properties=tuple(get("event_properties") or ()),
        time_field=get("time_field") or None,
        insert_id_field=get("insert_id_field"),
        insert_id_prefix=get("insert_id_prefix"),
        identity=identity,
    )
    return Settings(
        api_key=str(get("api_key")),
        base_url=check_api_url(get("api_url") or HOSTS[data_center]),
        path=BATCH_PATH if use_batch else HTTP_V2_PATH,
        min_id_length=identity.min_id_length,
        rules=rules,
        max_events=max_events,
        max_bytes=max_bytes,
        throttle_wait_seconds=float(get("throttle_wait_seconds")),
        max_throttle_rounds=int(get("max_throttle_rounds")),
        retry=RetryPolicy(
            max_retries=int(get("max_retries")),
            backoff_base=float(get("backoff_base_seconds")),
            backoff_max=float(get("backoff_max_seconds")),
            timeout=float(get("request_timeout_seconds")),
        ),
        flush_interval_seconds=float(get("flush_interval_seconds")),
        ledger_path=str(get("ledger_path")),
        rejects_file=get("rejects_file") or None,
        summary_file=get("summary_file") or None,
        state_ack_file=get("state_ack_file") or None,
    )
