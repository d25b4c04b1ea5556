"""Consent: which value of a record's consent field means yes."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from target_brevo.mapping.values import InvalidValue, get_mapped


def consent_token(value: Any) -> tuple[str, Any]:
    """A value as compared with the configured yes-values: booleans, numbers and text (trimmed, lower case)
    are told apart, so `1` does not match `true`. InvalidValue for anything else (an object, a list)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float | Decimal):
        return ("number", float(value))
    if isinstance(value, str):
        return ("text", value.strip().lower())
    raise InvalidValue(f"consent value of unexpected type {type(value).__name__}: expected a boolean, a number or text")


@dataclass(frozen=True)
class ConsentRule:
    """Where a record's consent is (paths tried in turn) and the values that mean it was given."""

    paths: tuple[str, ...]
    granted: frozenset[tuple[str, Any]]
    on_withdrawal: str

    @classmethod
    def configured(cls, paths: list[str], granted_values: list[Any], on_withdrawal: str) -> ConsentRule | None:
        if not paths:
            return None
        return cls(tuple(paths), frozenset(consent_token(v) for v in granted_values), on_withdrawal)

    def read(self, record: dict[str, Any]) -> bool | None:
        """True (given), False (any other value: refused or withdrawn) or None (the record does not say)."""
        for path in self.paths:
            value = get_mapped(record, path)
            if value is not None and value != "":
                return consent_token(value) in self.granted
        return None
