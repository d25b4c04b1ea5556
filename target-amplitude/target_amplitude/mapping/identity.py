"""Who an event is about: the first usable user id among the configured record paths, else the email by rule."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

EMAIL_RULES = ("email", "sha256", "none")
#: Ids Amplitude refuses with a 400 (HTTP V2 documentation): never sent as a user id.
PLACEHOLDER_IDS = frozenset({
    "anonymous", "nil", "none", "null", "n/a", "na", "undefined", "unknown", "",
    "00000000-0000-0000-0000-000000000000", "{}", "lmy47d", "0", "-1",
})  # fmt: skip
#: Amplitude's own minimum when `min_id_length` is not set.
AMPLITUDE_MIN_ID_LENGTH = 5


class NoIdentity(ValueError):
    """The record names nobody Amplitude can take (the message is the reason)."""


def read_path(record: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (`contact_attributes.AMPLITUDE_USER_ID`), None when any step is missing."""
    value: Any = record
    for step in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = str(value).strip()
    return text or None


@dataclass(frozen=True)
class IdentityRule:
    user_id_paths: tuple[str, ...]
    email_field: str
    email_rule: str
    min_id_length: int | None

    def user_id(self, record: dict[str, Any]) -> str:
        """The event's user_id; raises NoIdentity with the reason when there is none."""
        shortest = self.min_id_length or AMPLITUDE_MIN_ID_LENGTH
        refused: list[str] = []
        for path in self.user_id_paths:
            value = _text(read_path(record, path))
            if value is None:
                continue
            if value.lower() in PLACEHOLDER_IDS:
                refused.append(f"{path} is a placeholder id")
            elif len(value) < shortest:
                refused.append(f"{path} is shorter than min_id_length {shortest}")
            else:
                return value
        email = _text(read_path(record, self.email_field))
        if email is not None and self.email_rule != "none":
            email = email.lower()
            return email if self.email_rule == "email" else hashlib.sha256(email.encode()).hexdigest()
        paths = ", ".join(self.user_id_paths) or "no user_id_paths"
        why = f" ({'; '.join(refused)})" if refused else ""
        if email is not None:
            raise NoIdentity(f"no user id at {paths}{why}, and email_rule is none")
        raise NoIdentity(f"no user id at {paths}{why} and no {self.email_field}")
