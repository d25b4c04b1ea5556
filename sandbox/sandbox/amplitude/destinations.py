"""The two streaming destinations' settings (reference: amplitude-streaming-and-privacy.md §1, §2), validated.

A Webhooks Streaming destination pushes each ingested event (and, with `send_users`, each identify)
to one URL; a Cohort Webhooks destination pushes cohort membership changes at a cadence. Both send
`Content-Type: application/json`, `User-Agent: Amplitude/Webhook/1.0` and up to 5 custom headers.
`parse_webhook` / `parse_cohort_webhook` turn an admin request body into a destination or raise
ValueError with the reason (the admin route answers 400 with it). Each default is declared here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sandbox.custom_headers import check_custom_headers

REGIONS = ("us", "eu")
MAX_CUSTOM_HEADERS = 5

WEBHOOK_PUSH_DELAY_SECONDS = 5.0  # ingestion -> push, on the sandbox clock (Amplitude's p95 is ~60 s)
WEBHOOK_TIMEOUT_SECONDS = 10.0
COHORT_TIMEOUT_SECONDS = 2.0  # "the receiver must answer 200 within 1-2 s"
COHORT_BATCH_SIZE = 1000
MAX_COHORT_PROPERTIES = 50
COHORT_USER_PROPERTIES = ("email",)
# Seconds of sandbox clock between cohort computations; one-time computes once.
CADENCE_SECONDS: dict[str, float | None] = {"one-time": None, "hourly": 3600.0, "daily": 86400.0, "realtime": 60.0}
DEFAULT_CADENCE = "realtime"


@dataclass(frozen=True)
class Delivery:
    """Where and how pushes go: shared by both destinations."""

    url: str
    headers: tuple[tuple[str, str], ...]
    timeout_seconds: float
    duplicate_rate: float  # sandbox-only: chance that a delivered push is delivered once more

    def public(self) -> dict[str, Any]:
        """As the admin API shows it: header values are secrets (a shared token), so only names are shown."""
        return {
            "url": self.url,
            "headers": {name: "<redacted>" for name, _value in self.headers},
            "timeout_seconds": self.timeout_seconds,
            "duplicate_rate": self.duplicate_rate,
        }


@dataclass(frozen=True)
class WebhookDestination:
    """Webhooks Streaming: events (all, or only `event_types`) and, with `send_users`, identifies."""

    region: str
    delivery: Delivery
    event_types: frozenset[str] | None
    send_events: bool
    send_users: bool
    push_delay_seconds: float

    def wants_event(self, event_type: str) -> bool:
        return self.send_events and (self.event_types is None or event_type in self.event_types)

    def public(self) -> dict[str, Any]:
        return {
            "region": self.region,
            **self.delivery.public(),
            "event_types": sorted(self.event_types) if self.event_types is not None else None,
            "send_events": self.send_events,
            "send_users": self.send_users,
            "push_delay_seconds": self.push_delay_seconds,
        }


@dataclass(frozen=True)
class CohortWebhookDestination:
    """Cohort Webhooks: membership changes of `cohort_ids`, computed every `cadence`, in batches of `batch_size`."""

    region: str
    delivery: Delivery
    cohort_ids: tuple[str, ...]
    cadence: str
    batch_size: int
    user_properties: tuple[str, ...]

    @property
    def interval_seconds(self) -> float | None:
        return CADENCE_SECONDS[self.cadence]

    def public(self) -> dict[str, Any]:
        return {
            "region": self.region,
            **self.delivery.public(),
            "cohort_ids": list(self.cohort_ids),
            "cadence": self.cadence,
            "batch_size": self.batch_size,
            "user_properties": list(self.user_properties),
        }


_DELIVERY_FIELDS = frozenset({"region", "url", "headers", "timeout_seconds", "duplicate_rate"})
_WEBHOOK_FIELDS = _DELIVERY_FIELDS | {"event_types", "send_events", "send_users", "push_delay_seconds"}
_COHORT_FIELDS = _DELIVERY_FIELDS | {"cohort_ids", "cadence", "batch_size", "user_properties"}


def parse_webhook(body: Any) -> WebhookDestination:
    """A Webhooks Streaming destination from an admin request body; ValueError names what is wrong."""
    body = _object(body, _WEBHOOK_FIELDS)
    event_types = body.get("event_types")
    if event_types is not None:
        event_types = frozenset(_strings(event_types, "event_types"))
    return WebhookDestination(
        region=_region(body),
        delivery=_delivery(body, WEBHOOK_TIMEOUT_SECONDS),
        event_types=event_types,
        send_events=_boolean(body, "send_events", True),
        send_users=_boolean(body, "send_users", False),
        push_delay_seconds=_number(body, "push_delay_seconds", WEBHOOK_PUSH_DELAY_SECONDS, lowest=0),
    )


def parse_cohort_webhook(body: Any) -> CohortWebhookDestination:
    """A Cohort Webhooks destination from an admin request body; ValueError names what is wrong."""
    body = _object(body, _COHORT_FIELDS)
    if "cohort_ids" not in body:
        raise ValueError("cohort_ids is required: a non-empty list of cohort ids")
    cohort_ids = _strings(body["cohort_ids"], "cohort_ids")
    if not cohort_ids:
        raise ValueError("cohort_ids must not be empty")
    cadence = body.get("cadence", DEFAULT_CADENCE)
    if cadence not in CADENCE_SECONDS:
        raise ValueError(f"cadence must be one of {', '.join(CADENCE_SECONDS)}, got {cadence!r}")
    batch_size = body.get("batch_size", COHORT_BATCH_SIZE)
    if not _is_int(batch_size) or not 1 <= batch_size <= COHORT_BATCH_SIZE:
        raise ValueError(f"batch_size must be an integer from 1 to {COHORT_BATCH_SIZE}, got {batch_size!r}")
    properties = _strings(body.get("user_properties", list(COHORT_USER_PROPERTIES)), "user_properties")
    if len(properties) > MAX_COHORT_PROPERTIES:
        raise ValueError(f"at most {MAX_COHORT_PROPERTIES} user_properties, got {len(properties)}")
    return CohortWebhookDestination(
        region=_region(body),
        delivery=_delivery(body, COHORT_TIMEOUT_SECONDS),
        cohort_ids=tuple(dict.fromkeys(cohort_ids)),
        cadence=cadence,
        batch_size=batch_size,
        user_properties=tuple(dict.fromkeys(properties)),
    )


def region_of(value: str | None) -> str:
    """The data center a query parameter names (`us` when absent); ValueError otherwise."""
    region = value or "us"
    if region not in REGIONS:
        raise ValueError(f"region must be one of {', '.join(REGIONS)}, got {region!r}")
    return region


def _object(body: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")  # noqa: TRY004 - the admin route turns ValueError into a 400
    unknown = set(body) - allowed
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))} (known: {', '.join(sorted(allowed))})")
    return body


def _region(body: dict[str, Any]) -> str:
    return region_of(body.get("region"))


def _delivery(body: dict[str, Any], default_timeout: float) -> Delivery:
    duplicate_rate = _number(body, "duplicate_rate", 0.0, lowest=0)
    if duplicate_rate > 1:
        raise ValueError(f"duplicate_rate must be between 0 and 1, got {duplicate_rate!r}")
    return Delivery(
        url=_url(body.get("url")),
        headers=_headers(body.get("headers", {})),
        timeout_seconds=_number(body, "timeout_seconds", default_timeout, lowest=0.001),
        duplicate_rate=duplicate_rate,
    )


def _url(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("url is required: the receiver's http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("url must be an absolute http or https URL")
    return value


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ValueError("headers must be an object of header name -> value")  # noqa: TRY004
    if len(value) > MAX_CUSTOM_HEADERS:
        raise ValueError(f"at most {MAX_CUSTOM_HEADERS} custom headers, got {len(value)}")
    check_custom_headers(value.items(), "Amplitude")
    return tuple(value.items())


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{name} must be a list of strings")
    return [str(v) for v in value]


def _boolean(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")  # noqa: TRY004
    return value


def _number(body: dict[str, Any], name: str, default: float, lowest: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < lowest:
        raise ValueError(f"{name} must be a number >= {lowest}, got {value!r}")
    return float(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
