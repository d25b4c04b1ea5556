"""The Brevo emulator's run-time settings: names, defaults and validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.brevo import ratelimit

DEFAULTS: dict[str, Any] = {
    "import_delay_seconds": 0.5,
    "plan": "general",
    "rate_limit_window_scale": 1.0,
    "rate_limits_enabled": True,
    "ecommerce_active": True,
}


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"expected a boolean, got {value!r}")


def _number(minimum: float, strictly: bool = False) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")  # noqa: TRY004 - the Emulator protocol raises ValueError
        number = float(value)
        if number < minimum or (strictly and number == minimum):
            raise ValueError(f"expected a number {'>' if strictly else '>='} {minimum}, got {value!r}")
        return number

    return parse


def _plan(value: Any) -> str:
    if value not in ratelimit.PLANS:
        raise ValueError(f"plan must be one of {', '.join(ratelimit.PLANS)}")
    return value


PARSERS: dict[str, Callable[[Any], Any]] = {
    "import_delay_seconds": _number(0),
    "plan": _plan,
    "rate_limit_window_scale": _number(0, strictly=True),
    "rate_limits_enabled": _bool,
    "ecommerce_active": _bool,
}


def validated(values: dict[str, Any]) -> dict[str, Any]:
    """Every setting of `values` parsed; raises ValueError naming an unknown or bad setting."""
    unknown = set(values) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown Brevo settings: {', '.join(sorted(unknown))} (known: {', '.join(DEFAULTS)})")
    return {name: PARSERS[name](value) for name, value in values.items()}
