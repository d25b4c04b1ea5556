"""CRM attributes of companies (and deals): Brevo's system attributes, custom ones, typed values.

`POST /crm/attributes` creates a custom attribute; `GET /crm/attributes/companies` lists the
system attributes then the custom ones. Chosen conventions (the spec and docs are silent):
- a custom attribute's internal name is its label in lower_snake_case ("Plan Tier" -> `plan_tier`),
  and so is each option's key; a label whose internal name or label (any case) is already taken,
  system attributes included, is a 400 `duplicate_parameter`;
- a company value for an unknown attribute is a 400 (not ignored as contact attributes are), a
  mistyped value too; null unsets; read-only attributes (created_at, last_updated_at,
  number_of_contacts, owner_assign_date) are ignored when sent;
- single-select takes an option key or label and stores the key; multi-choice a list of them (in
  a CSV cell, separated by commas); date takes YYYY-MM-DD or an ISO 8601 date-time; number any
  JSON number; user any non-empty string (a user id or email); phone a string or a number.
Attributes of deals are stored (objectType `deals`) but deals themselves are not emulated.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson

from sandbox.brevo import ids
from sandbox.brevo.errors import BrevoError, invalid, missing, out_of_range

MAX_LABEL = 50
SELECT_TYPES = ("single-select", "multi-choice")
UNSET = object()  # a value that removes the attribute
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def internal_name(label: str) -> str:
    """`Plan Tier` -> `plan_tier`."""
    return _NOT_WORD.sub("_", label.strip().lower()).strip("_")


@dataclass(frozen=True)
class CrmAttribute:
    """One company or deal attribute: how GET /crm/attributes/... shows it and which values it takes."""

    internal_name: str
    label: str
    type: str
    options: tuple[tuple[str, str], ...] = ()  # (key, label)
    required: bool = False
    readonly: bool = False

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "internalName": self.internal_name,
            "attributeTypeName": self.type,
            "label": self.label,
            "isRequired": self.required,
            "isValueReadonly": self.readonly,
        }
        if self.type in SELECT_TYPES:
            out["attributeOptions"] = [{"key": key, "value": label} for key, label in self.options]
        return out

    def coerce(self, value: Any) -> Any:
        """The stored value of a JSON value (UNSET for null); raises a 400 for a mistyped one."""
        if value is None:
            return UNSET
        kind = self.type
        if kind in ("text", "user") and isinstance(value, str) and (value or kind == "text"):
            return value
        if kind == "phone" and isinstance(value, (str, int)) and not isinstance(value, bool):
            return value
        if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if kind == "boolean" and isinstance(value, bool):
            return value
        if kind == "date" and isinstance(value, str) and _is_date(value):
            return value
        if kind == "single-select" and isinstance(value, str) and self._option(value):
            return self._option(value)
        if kind == "multi-choice" and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            keys = [self._option(v) for v in value]
            if all(keys):
                return list(dict.fromkeys(keys))
        raise invalid(f"attributes.{self.internal_name}: {value!r} is not a valid {kind} value{self._choices()}")

    def from_text(self, text: str) -> Any:
        """The stored value of a CSV cell (already stripped and not empty)."""
        if self.type == "number":
            try:
                return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
            except ValueError:
                pass
        elif self.type == "boolean":
            if text.lower() in ("true", "false", "1", "0", "yes", "no"):
                return text.lower() in ("true", "1", "yes")
        elif self.type == "multi-choice":
            return self.coerce([part.strip() for part in text.split(",") if part.strip()])
        else:
            return self.coerce(text)
        raise invalid(f"attributes.{self.internal_name}: {text!r} is not a valid {self.type} value")

    def _option(self, given: str) -> str | None:
        for key, label in self.options:
            if given in (key, label):
                return key
        return None

    def _choices(self) -> str:
        return f" (options: {', '.join(key for key, _ in self.options)})" if self.options else ""


def _is_date(text: str) -> bool:
    try:
        if len(text) == 10:
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


SYSTEM: dict[str, tuple[CrmAttribute, ...]] = {
    "companies": (
        CrmAttribute("name", "Company Name", "text", required=True),
        CrmAttribute("domain", "Domain", "text"),
        CrmAttribute("industry", "Industry", "text"),
        CrmAttribute("owner", "Owner", "user"),
        CrmAttribute("phone_number", "Phone Number", "phone"),
        CrmAttribute("number_of_employees", "Number of employees", "number"),
        CrmAttribute("revenue", "Revenue", "number"),
        CrmAttribute("created_at", "Created at", "date", readonly=True),
        CrmAttribute("last_updated_at", "Last updated at", "date", readonly=True),
        CrmAttribute("number_of_contacts", "Number of contacts", "number", readonly=True),
        CrmAttribute("owner_assign_date", "Owner assign date", "date", readonly=True),
    ),
    "deals": (),
}


def load(db: sqlite3.Connection, object_type: str = "companies") -> dict[str, CrmAttribute]:
    """internal name -> attribute: the system ones, then the custom ones oldest first."""
    found = {a.internal_name: a for a in SYSTEM[object_type]}
    for row in db.execute(
        "SELECT internal_name, label, type, options FROM crm_attributes WHERE object_type=? ORDER BY seq",
        (object_type,),
    ):
        options = tuple(tuple(pair) for pair in orjson.loads(row["options"])) if row["options"] else ()
        found[row["internal_name"]] = CrmAttribute(row["internal_name"], row["label"], row["type"], options)  # type: ignore[arg-type]
    return found


def create(db: sqlite3.Connection, body: dict[str, Any]) -> str:
    """POST /crm/attributes -> the new attribute's id."""
    label = body["label"].strip()
    if not label:
        raise invalid("label cannot be empty")
    if len(label) > MAX_LABEL:
        raise out_of_range(f"label is longer than {MAX_LABEL} characters")
    name = internal_name(label)
    if not name:
        raise invalid("label needs at least one letter or digit")
    object_type, kind = body["objectType"], body["attributeType"]
    existing = load(db, object_type).values()
    if any(a.internal_name == name or a.label.lower() == label.lower() for a in existing):
        raise BrevoError(400, "duplicate_parameter", f"An attribute with the label {label!r} already exists")
    options = None
    if kind in SELECT_TYPES:
        labels = [str(option).strip() for option in body.get("optionsLabels") or []]
        if not labels:
            raise missing(f"optionsLabels is required for a {kind} attribute")
        keys = [internal_name(option) for option in labels]
        if not all(keys) or len(set(keys)) != len(keys):
            raise invalid("optionsLabels must be distinct and each have a letter or digit")
        options = orjson.dumps(list(zip(keys, labels, strict=True))).decode()
    attribute_id = ids.object_id()
    db.execute(
        "INSERT INTO crm_attributes (id, object_type, internal_name, label, type, options, description)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (attribute_id, object_type, name, label, kind, options, body.get("description")),
    )
    return attribute_id


def values_from_json(defs: dict[str, CrmAttribute], given: dict[str, Any]) -> dict[str, Any]:
    """Company attributes of a request body -> {name: stored value or UNSET}; read-only ones dropped."""
    out = {}
    for name, value in given.items():
        attribute = defs.get(name)
        if attribute is None:
            raise invalid(f"attributes.{name}: Attribute not found")
        if not attribute.readonly:
            out[name] = attribute.coerce(value)
    return out
