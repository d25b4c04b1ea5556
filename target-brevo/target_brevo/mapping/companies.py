"""Record -> Brevo company (an Amplitude group: name, attributes, members)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from target_brevo.brevo.api import ContactIdentity
from target_brevo.mapping.identity import IdentityRules
from target_brevo.mapping.values import InvalidValue, get_path, to_identifier

DEFAULT_COMPANY_FIELDS = {
    "group_type": "group_type",
    "group_value": "group_value",
    "name": "group_properties.name",
    "members": "members",
}


@dataclass(frozen=True)
class CompanyRow:
    """One company: its key (`<group type>:<group value>`), name, attribute values and member contacts."""

    key: str
    name: str
    attributes: dict[str, Any]
    members: tuple[ContactIdentity, ...] = field(default=())


def attribute_value(value: Any) -> str | int | float | bool:
    """A company attribute value as a CSV cell will carry it; InvalidValue for an object or a list."""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return float(value)
    raise InvalidValue(f"company attribute value of type {type(value).__name__}: expected text, a number or a boolean")


@dataclass(frozen=True)
class CompanyRules:
    """Which groups become companies, and how a group record becomes one."""

    fields: dict[str, str]
    group_types: frozenset[str]
    attributes: dict[str, str]  # source path -> company attribute (internal name)
    member_identity: IdentityRules

    def to_row(self, record: dict[str, Any]) -> CompanyRow | None:
        """The company of a group record; None for a group type that is not a company. InvalidValue when the
        record names no group."""
        group_type = to_identifier(get_path(record, self.fields["group_type"]))
        group_value = to_identifier(get_path(record, self.fields["group_value"]))
        if not group_type or not group_value:
            raise InvalidValue("no group: the record has no group type or group value")
        if self.group_types and group_type not in self.group_types:
            return None
        name = to_identifier(get_path(record, self.fields["name"])) or group_value
        attributes = {}
        for source, attribute in self.attributes.items():
            value = get_path(record, source)
            if value is not None and value != "":
                attributes[attribute] = attribute_value(value)
        return CompanyRow(f"{group_type}:{group_value}", name, attributes, tuple(self._members(record)))

    def _members(self, record: dict[str, Any]) -> list[ContactIdentity]:
        members = get_path(record, self.fields["members"]) or []
        found: list[ContactIdentity] = []
        for member in members if isinstance(members, list) else []:
            if not isinstance(member, dict):
                continue
            try:
                identity = self.member_identity.read(member)
            except InvalidValue:  # an invalid email: the member is linked by its ext_id, if it has one
                ext_ids = (to_identifier(get_path(member, p)) for p in self.member_identity.ext_id_fields)
                identity = ContactIdentity(None, next((x for x in ext_ids if x), None))
            if identity.email or identity.ext_id:
                found.append(identity)
        return found
