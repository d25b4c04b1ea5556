"""Who a record is about: its contact's email and ext_id, read from the configured fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from target_brevo.brevo.api import ContactIdentity
from target_brevo.mapping.values import get_mapped, normalise_email, to_identifier

DEFAULT_EMAIL_FIELDS = ("email", "user_properties.email", "properties.email")
DEFAULT_EXT_ID_FIELDS = ("user_id",)


def identity_of(attribute: str) -> str | None:
    """`email` or `ext_id` when a `property_mapping` target names a contact identifier, not an attribute.

    This is the one place that decides it: such targets set the contact's identity and are never
    created or sent as attributes."""
    name = attribute.lower()
    return name if name in ("email", "ext_id") else None


@dataclass(frozen=True)
class IdentityRules:
    """Where a record's email and ext_id are: paths tried in turn, the first non-empty value wins."""

    email_fields: tuple[str, ...]
    ext_id_fields: tuple[str, ...]

    @classmethod
    def configured(
        cls, email_fields: list[str], ext_id_fields: list[str], property_mapping: dict[str, str]
    ) -> IdentityRules:
        """Explicit fields win; else the property `property_mapping` maps to `email` / `ext_id`, then the defaults."""
        mapped = {identity_of(target): source for source, target in property_mapping.items() if identity_of(target)}
        emails = tuple(email_fields) or ((mapped["email"],) if "email" in mapped else ()) + DEFAULT_EMAIL_FIELDS
        ext_ids = tuple(ext_id_fields) or ((mapped["ext_id"],) if "ext_id" in mapped else DEFAULT_EXT_ID_FIELDS)
        return cls(emails, ext_ids)

    def read(self, record: dict[str, Any]) -> ContactIdentity:
        """The record's (email, ext_id); an invalid email raises InvalidValue."""
        email = None
        for path in self.email_fields:
            value = get_mapped(record, path)
            if value not in (None, ""):
                email = normalise_email(value)
                break
        ext_id = None
        for path in self.ext_id_fields:
            ext_id = to_identifier(get_mapped(record, path))
            if ext_id:
                break
        return ContactIdentity(email, ext_id)

    @staticmethod
    def event_identifiers(identity: ContactIdentity) -> dict[str, str]:
        """The `identifiers` object of a Brevo event or order."""
        return {k: v for k, v in (("email_id", identity.email), ("ext_id", identity.ext_id)) if v}
