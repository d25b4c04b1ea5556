"""Record -> Brevo contact row (`{email?, attributes}`) for `/contacts/import`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from target_brevo.brevo.api import PHONE_ATTRIBUTES, ContactIdentity
from target_brevo.mapping.identity import identity_of
from target_brevo.mapping.values import InvalidValue, coerce_attribute, get_mapped

#: Attributes every Brevo account has: never created, always sent as text.
BUILT_IN_ATTRIBUTES = frozenset({"EXT_ID"}) | PHONE_ATTRIBUTES
#: What a contact is known by: `EMAIL` (a row's `email`), `EXT_ID` and the phone attributes.
IDENTIFIERS = frozenset({"EMAIL"}) | BUILT_IN_ATTRIBUTES


class RefusedValue(NamedTuple):
    """A mapped value Brevo cannot take: the contact is sent without it."""

    attribute: str
    reason: str


@dataclass(frozen=True)
class ContactRow:
    """One contact of an import: its identity key, the row, and the values left out of it."""

    key: str
    row: dict[str, Any]
    refused: tuple[RefusedValue, ...]
    filled: tuple[str, ...]  # the mapped source paths that had a value


def attribute_mapping(property_mapping: dict[str, str]) -> dict[str, str]:
    """Source path -> upper-case attribute name, without the identity targets."""
    return {source: target.upper() for source, target in property_mapping.items() if not identity_of(target)}


@dataclass(frozen=True)
class ContactRules:
    """How a record becomes a contact row: the attribute mapping and the region for national phones."""

    attributes: dict[str, str]
    default_region: str | None

    def to_row(self, record: dict[str, Any], identity: ContactIdentity, types: dict[str, str]) -> ContactRow:
        """The contact row of `record`; InvalidValue when the record identifies no contact.

        `types` is the Brevo type of each mapped attribute."""
        attributes: dict[str, Any] = {}
        refused: list[RefusedValue] = []
        filled: list[str] = []
        for source, name in self.attributes.items():
            value = get_mapped(record, source)
            if value is None or value == "":
                continue
            filled.append(source)
            try:
                attributes[name] = coerce_attribute(name, value, types.get(name, "text"), self.default_region)
            except InvalidValue as exc:
                refused.append(RefusedValue(name, self._why(name, value, exc)))
        if identity.ext_id:
            attributes["EXT_ID"] = identity.ext_id
        if not identity.email and not identity.ext_id and not any(name in attributes for name in PHONE_ATTRIBUTES):
            detail = "".join(f"; {r.reason}" for r in refused)
            raise InvalidValue(f"no identifier: the record has no valid email, ext_id or phone{detail}")
        row: dict[str, Any] = {"attributes": attributes}
        if identity.email:
            row["email"] = identity.email
        return ContactRow(row_key(row), row, tuple(refused), tuple(filled))

    def _why(self, name: str, value: Any, exc: InvalidValue) -> str:
        shown = str(value)[:60]
        if name in PHONE_ATTRIBUTES:
            return (
                f"invalid phone number for {name}: {shown!r} is not a valid E.164 number "
                f"(default_region {self.default_region or 'not set'})"
            )
        return f"invalid value for {name}: {exc}"


def member_row(identity: ContactIdentity) -> dict[str, Any]:
    """The import row that creates (or finds) a list member's contact."""
    row: dict[str, Any] = {"attributes": {"EXT_ID": identity.ext_id} if identity.ext_id else {}}
    if identity.email:
        row["email"] = identity.email
    return row


def row_key(row: dict[str, Any]) -> str:
    """One key per contact: its email, else its ext_id, else its phone."""
    attributes = row.get("attributes") or {}
    if row.get("email"):
        return "e:" + row["email"]
    if attributes.get("EXT_ID"):
        return "x:" + str(attributes["EXT_ID"])
    return "p:" + str(next(attributes[name] for name in PHONE_ATTRIBUTES if name in attributes))


def reject_key(row: dict[str, Any]) -> str | None:
    """The key a refused contact row is reported under: its email, else its ext_id."""
    return row.get("email") or (row.get("attributes") or {}).get("EXT_ID")


def row_values(row: dict[str, Any]) -> set[str]:
    """The attribute names a row has values for, `EMAIL` for its email."""
    return set(row.get("attributes") or {}) | ({"EMAIL"} if row.get("email") else set())


def without_values(row: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The row without the values of `names` (`EMAIL`: its email)."""
    attributes = {name: value for name, value in (row.get("attributes") or {}).items() if name not in names}
    rest = {
        key: value for key, value in row.items() if key != "attributes" and not (key == "email" and "EMAIL" in names)
    }
    return {**rest, "attributes": attributes}


def identifies(row: dict[str, Any]) -> bool:
    """Whether the row still names a contact: an email, an ext_id or a phone."""
    return bool(row_values(row) & IDENTIFIERS)


def merge_rows(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """One row for a contact seen twice in one import: later values win, attributes merged."""
    attributes = {**earlier.get("attributes", {}), **later.get("attributes", {})}
    return {**earlier, **{k: v for k, v in later.items() if k != "attributes"}, "attributes": attributes}
