"""The Amplitude emulator's run-time settings: names, defaults and validation."""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "project_id": 374182,
    "project_id_eu": 374183,
    "export_latency_hours": 2.0,
    "export_max_bytes": 4 * 1024**3,
    "export_timeout_bytes": 0,
    "export_partition_events": 100_000,
    "export_max_days": 365,
    "export_cache_bytes": 2 * 1024**3,
    "cohort_request_seconds": 3.0,
    "cohort_redirect_rows": 10_000,
    "cohort_url_ttl_seconds": 60,
    "rate_limit_scale": 1.0,
    "insert_id_window_days": 7,
    "api_delay_ms": 0,
    "key_region": "any",
    "chart_query_removed": 0,
}
KEY_REGIONS = ("any", "us", "eu")

_TYPES = {
    name: (float if isinstance(value, float) else int) for name, value in DEFAULTS.items() if name != "key_region"
}
_MINIMUM = {
    "export_latency_hours": -1,
    "export_partition_events": 1,
    "export_max_days": 1,
    "export_max_bytes": 1,
    "cohort_redirect_rows": 0,
    "cohort_url_ttl_seconds": 0,
    "rate_limit_scale": 0.0001,
}


def validated(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`current` updated with `changes`; raises ValueError naming the bad setting."""
    unknown = set(changes) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown amplitude settings: {', '.join(sorted(unknown))} (known: {', '.join(DEFAULTS)})")
    result = dict(current)
    for name, raw in changes.items():
        if name == "key_region":
            if raw not in KEY_REGIONS:
                raise ValueError(f"key_region must be one of {', '.join(KEY_REGIONS)}, got {raw!r}")
            result[name] = raw
            continue
        kind = _TYPES[name]
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise ValueError(f"{name} must be a number")  # noqa: TRY004 - the Emulator protocol raises ValueError
        try:
            value = kind(float(raw)) if kind is int else float(raw)
        except ValueError:
            raise ValueError(f"{name} must be a number, got {raw!r}") from None
        if kind is int and float(raw) != value:
            raise ValueError(f"{name} must be an integer, got {raw!r}")
        lowest = _MINIMUM.get(name, 0)
        if value < lowest:
            raise ValueError(f"{name} must be >= {lowest}, got {raw!r}")
        result[name] = value
    return result
