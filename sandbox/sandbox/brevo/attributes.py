"""Contact attributes: definitions, typed values, identifiers (email, phones, ext_id).

Brevo ignores attributes it does not know and values that do not match their attribute's type;
so do we. Identifier attributes (EMAIL, SMS, WHATSAPP, LANDLINE_NUMBER, EXT_ID) are stored in
their own columns, unique across contacts.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
import phonenumbers

from sandbox.brevo.errors import INVALID_PHONE, BrevoError, invalid, not_found

# Which types each category accepts on creation (SPEC: createAttribute.type).
CATEGORY_TYPES = {
    "normal": {"text", "date", "float", "boolean", "multiple-choice", "user"},
    "transactional": {"text", "date", "float", "boolean", "id"},
    "category": {"category", "text"},
    "calculated": set(),
    "global": set(),
}
# Identifier attribute -> contacts column.
IDENTIFIERS = {
    "EMAIL": "email",
    "SMS": "sms",
    "WHATSAPP": "whatsapp",
    "LANDLINE_NUMBER": "landline",
    "EXT_ID": "ext_id",
}
PHONE_COLUMNS = ("sms", "whatsapp", "landline")
NAME_RE = re.compile(r"^[A-Z0-9_]{1,}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Attribute:
    """One contact attribute's definition: how the API shows it and which values it accepts."""

    name: str
    category: str
    type: str | None
    enumeration: list[dict[str, Any]] | None = None
    options: list[str] | None = None
    value: str | None = None

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "category": self.category}
        if self.type:
            # SPEC's response enum has no "category" type: category attributes show as text.
            out["type"] = "text" if self.type == "category" else self.type
        if self.enumeration is not None:
            out["enumeration"] = self.enumeration
        if self.options is not None:
            out["multiCategoryOptions"] = self.options
        if self.value is not None:
            out["calculatedValue"] = self.value
        return out

    def coerce(self, value: Any) -> tuple[bool, Any]:
        """(accepted, stored value). A mistyped value is not accepted (and so ignored)."""
        kind = self.type
        if self.category in ("calculated", "global"):
            return False, None
        if kind == "text" and self.category != "category":
            return isinstance(value, str), value
        if kind == "user":
            return isinstance(value, str) and bool(EMAIL_RE.match(value)), value
        if kind == "date":
            if isinstance(value, str) and len(value) == 10:
                try:
                    return True, date.fromisoformat(value).isoformat()
                except ValueError:
                    pass
            return False, None
        if kind == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            return ok, value
        if kind == "boolean":
            return isinstance(value, bool), value
        if kind == "id":
            ok = isinstance(value, (int, str)) and not isinstance(value, bool)
            return ok, value
        if kind == "multiple-choice":
            ok = isinstance(value, list) and all(isinstance(v, str) and v in (self.options or []) for v in value)
            return ok, value
        if self.category == "category" or kind == "category":
            for item in self.enumeration or []:
                if value == item["value"] or (isinstance(value, str) and value == item["label"]):
                    return True, item["label"]
            if isinstance(value, str) and value.isdigit():
                for item in self.enumeration or []:
                    if int(value) == item["value"]:
                        return True, item["label"]
            return False, None
        return False, None


def load(db: sqlite3.Connection) -> dict[str, Attribute]:
    rows = db.execute("SELECT name, category, type, enumeration, options, value FROM attributes ORDER BY position")
    return {
        name: Attribute(
            name,
            category,
            kind,
            orjson.loads(enum) if enum else None,
            orjson.loads(options) if options else None,
            value,
        )
        for name, category, kind, enum, options, value in rows
    }


def create(db: sqlite3.Connection, category: str, name: str, body: dict[str, Any]) -> None:
    name = name.upper()
    if not NAME_RE.match(name):
        raise invalid("Attribute name must contain only letters, digits and underscores")
    if name in IDENTIFIERS and name != "SMS" or name in load(db):
        raise invalid("Attribute name already exists")
    kind = body.get("type")
    if category == "category":
        kind = kind or "category"
        if not body.get("enumeration"):
            raise invalid("enumeration is required for category attributes")
    elif category in ("calculated", "global"):
        if not body.get("value"):
            raise invalid("value is required for calculated and global attributes")
        kind = None
    else:
        kind = kind or "text"
    if kind is not None and kind not in CATEGORY_TYPES[category]:
        raise invalid(f"Attribute type {kind} is not available for category {category}")
    if kind == "multiple-choice" and not body.get("multiCategoryOptions"):
        raise invalid("multiCategoryOptions is required for multiple-choice attributes")
    for option in body.get("multiCategoryOptions") or []:
        if len(option) > 200:
            raise invalid("multiCategoryOptions cannot exceed 200 characters")
    db.execute(
        "INSERT INTO attributes (name, category, type, enumeration, options, value) VALUES (?, ?, ?, ?, ?, ?)",
        (
            name,
            category,
            kind,
            orjson.dumps(body["enumeration"]).decode() if body.get("enumeration") else None,
            orjson.dumps(body["multiCategoryOptions"]).decode() if kind == "multiple-choice" else None,
            body.get("value"),
        ),
    )


def update(db: sqlite3.Connection, category: str, name: str, body: dict[str, Any]) -> None:
    attribute = load(db).get(name.upper())
    if attribute is None or attribute.category != category:
        raise not_found("Attribute not found")
    if body.get("enumeration") is not None:
        db.execute(
            "UPDATE attributes SET enumeration=? WHERE name=?",
            (orjson.dumps(body["enumeration"]).decode(), attribute.name),
        )
    if body.get("multiCategoryOptions") is not None:
        options = list(dict.fromkeys((attribute.options or []) + body["multiCategoryOptions"]))
        db.execute("UPDATE attributes SET options=? WHERE name=?", (orjson.dumps(options).decode(), attribute.name))
    if body.get("value") is not None:
        db.execute("UPDATE attributes SET value=? WHERE name=?", (body["value"], attribute.name))


def delete(db: sqlite3.Connection, category: str, name: str) -> None:
    deleted = db.execute("DELETE FROM attributes WHERE name=? AND category=?", (name.upper(), category)).rowcount
    if not deleted:
        raise not_found("Attribute not found")


def normalize_phone(value: Any) -> str:
    """Brevo's stored form of a phone: country code and number, digits only (e.g. 33612345678).

    Accepted inputs carry a country code: `91xxxxxxxxxx`, `+91xxxxxxxxxx` or `0091xxxxxxxxxx`.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BrevoError(400, "invalid_parameter", INVALID_PHONE)
    text = re.sub(r"[\s().-]", "", str(value))
    if text.startswith("00"):
        text = "+" + text[2:]
    elif not text.startswith("+"):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise BrevoError(400, "invalid_parameter", INVALID_PHONE) from None
    if not phonenumbers.is_valid_number(number):
        raise BrevoError(400, "invalid_parameter", INVALID_PHONE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def normalize_email(value: Any) -> str:
    if not isinstance(value, str) or not EMAIL_RE.match(value.strip()):
        raise invalid("Invalid email address")
    return value.strip().lower()


def normalize_identifier(column: str, value: Any) -> str:
    if column == "email":
        return normalize_email(value)
    if column in PHONE_COLUMNS:
        return normalize_phone(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
        raise invalid("Invalid ext_id")
    return str(value)


def split(
    defs: dict[str, Attribute], incoming: dict[str, Any], *, strict: bool = True
) -> tuple[dict[str, Any], dict[str, str], set[str]]:
    """Sort incoming attributes into (typed values, identifier values, names to erase).

    Unknown attributes and mistyped values are dropped; an empty string or null asks to erase.
    An invalid phone raises 400 `Invalid phone number` when `strict`, else is dropped.
    """
    values: dict[str, Any] = {}
    identifiers: dict[str, str] = {}
    erase: set[str] = set()
    for raw_name, value in incoming.items():
        name = raw_name.upper()
        empty = value is None or value == ""
        if name in IDENTIFIERS:
            column = IDENTIFIERS[name]
            if empty:
                erase.add(name)
                continue
            try:
                identifiers[column] = normalize_identifier(column, value)
            except BrevoError:
                if strict:
                    raise
            continue
        attribute = defs.get(name)
        if attribute is None:
            continue
        if empty:
            erase.add(name)
            continue
        ok, stored = attribute.coerce(value)
        if ok:
            values[name] = stored
    return values, identifiers, erase


def from_text(attribute: Attribute | None, text: str) -> Any:
    """A CSV cell converted to its attribute's JSON type (left as text when it does not parse)."""
    if attribute is None or text == "":
        return text
    if attribute.type == "float":
        try:
            number = float(text.replace(",", "."))
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in text and "," not in text else number
    if attribute.type == "boolean":
        return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(text.lower(), text)
    if attribute.type == "multiple-choice":
        return [option.strip() for option in text.split(",") if option.strip()]
    return text
