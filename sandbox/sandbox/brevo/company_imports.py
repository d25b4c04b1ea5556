"""POST /companies/import: a CSV file and mapping options, applied later like contact imports.

The request is checked synchronously (the header, the mapping) and answered 200 `{"processId"}`;
the import worker applies the rows after `import_delay_seconds`, and GET /processes/{id} reports
it (name COMPANY_IMPORT, counters in `info.import`). From the spec: the header row names
attributes by internal name, plus `company_id` (update that company), `associated_contact` and
`associated_deal`; mapping options `link_entities`, `unlink_entities`, `update_existing_records`,
`unset_empty_attributes`. Chosen conventions (the spec is silent):
- the mapping defaults are the spec's example (true, false, true, false);
- the delimiter is `,`, or `;` when the header has a `;` and no `,`; UTF-8, a BOM is skipped;
- an unknown header column is a 400 for the whole request; read-only columns are ignored;
- a row matches an existing company only by `company_id` (with `update_existing_records`); a row
  without one creates a company (and needs a `name`); an unknown `company_id`, a bad value or a
  missing name skips the row (counted in `invalid_rows`);
- `associated_contact` holds contact ids or emails, `associated_deal` deal ids, several separated
  by `,` `;` or `|`; with `link_entities` they are linked, contacts that do not exist counted in
  `unknown_contacts`; with `unlink_entities` the row's list replaces the company's links (an empty
  cell unlinks every contact / deal);
- empty cells leave values alone, or unset them with `unset_empty_attributes` (never the name).
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson

from sandbox.brevo import companies, contacts, crm_attributes, imports
from sandbox.brevo.errors import BrevoError, invalid, missing
from sandbox.brevo.spec import COMPANY_IMPORT_PROCESS
from sandbox.brevo.store import Store

PROCESS_NAME = COMPANY_IMPORT_PROCESS  # in the overlaid process name enum
SPECIAL_COLUMNS = ("company_id", "associated_contact", "associated_deal")
MAPPING_DEFAULTS = {
    "link_entities": True,
    "unlink_entities": False,
    "update_existing_records": True,
    "unset_empty_attributes": False,
}
COUNTERS = ("created", "updated", "invalid_rows", "unknown_contacts")
CHUNK = 1000
_SEPARATORS = re.compile(r"[,;|]")


def start(db: sqlite3.Connection, form: dict[str, bytes], delay: float) -> int:
    """Check an import request (its multipart fields) and queue it; returns the process id."""
    if not form.get("file"):
        raise missing("file is required: a CSV file whose first row names the attributes")
    try:
        text = form["file"].decode("utf-8-sig")
    except UnicodeDecodeError:
        raise invalid("file must be UTF-8 encoded CSV") from None
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    header = [name.strip().lower() for name in next(csv.reader(io.StringIO(text), delimiter=delimiter), [])]
    defs = crm_attributes.load(db)
    if not any(header):
        raise invalid("file needs a header row naming the attributes")
    for name in header:
        if name not in defs and name not in SPECIAL_COLUMNS:
            raise invalid(f"Unknown attribute in the header: {name!r}")
    if len(set(header)) != len(header):
        raise invalid("A column is named twice in the header")
    if "name" not in header and "company_id" not in header:
        raise invalid("The header needs a name or a company_id column")
    return imports.queue(db, PROCESS_NAME, {"csv": text, "delimiter": delimiter, "mapping": _mapping(form)}, delay)


def _mapping(form: dict[str, bytes]) -> dict[str, bool]:
    given: Any = {}
    if form.get("mapping"):
        try:
            given = orjson.loads(form["mapping"])
        except orjson.JSONDecodeError:
            raise invalid("mapping must be a JSON object") from None
    if not isinstance(given, dict):
        raise invalid("mapping must be a JSON object")
    mapping = dict(MAPPING_DEFAULTS)
    for key in MAPPING_DEFAULTS:
        if key in given:
            if not isinstance(given[key], bool):
                raise invalid(f"mapping.{key} must be true or false")
            mapping[key] = given[key]
    return mapping


def _rows(payload: dict[str, Any]) -> Iterator[dict[str, str]]:
    reader = csv.reader(io.StringIO(payload["csv"]), delimiter=payload["delimiter"])
    header = [name.strip().lower() for name in next(reader, [])]
    for cells in reader:
        if any(cell.strip() for cell in cells):
            yield {name: cell.strip() for name, cell in zip(header, cells, strict=False)}


def apply(store: Store, process_id: int, payload: dict[str, Any]) -> dict[str, int] | None:
    """Apply an import's rows in chunks; None if the process vanished meanwhile (a reset)."""
    counters = dict.fromkeys(COUNTERS, 0)
    rows = _rows(payload)
    while True:
        chunk = [row for _, row in zip(range(CHUNK), rows, strict=False)]
        if not chunk:
            return counters
        with store.tx() as db:
            if db.execute("SELECT 1 FROM processes WHERE id=?", (process_id,)).fetchone() is None:
                return None
            defs = crm_attributes.load(db)
            for row in chunk:
                _apply_row(db, defs, row, payload["mapping"], counters)


def _apply_row(
    db: sqlite3.Connection,
    defs: dict[str, crm_attributes.CrmAttribute],
    row: dict[str, str],
    mapping: dict[str, bool],
    counters: dict[str, int],
) -> None:
    company_id = row.pop("company_id", "")
    contact_cell, deal_cell = row.pop("associated_contact", None), row.pop("associated_deal", None)
    seq = companies.find(db, company_id) if company_id and mapping["update_existing_records"] else None
    updating = seq is not None
    if company_id and mapping["update_existing_records"] and not updating:
        counters["invalid_rows"] += 1
        return
    try:
        values = _values(defs, row, unset_empty=updating and mapping["unset_empty_attributes"])
    except BrevoError:
        counters["invalid_rows"] += 1
        return
    if not updating and not values.get("name"):
        counters["invalid_rows"] += 1
        return
    contact_links = deal_links = companies.NO_CHANGE
    if mapping["link_entities"] and contact_cell is not None:
        contact_links = _links(_contact_ids(db, _split(contact_cell), counters), mapping)
    if mapping["link_entities"] and deal_cell is not None:
        deal_links = _links(_split(deal_cell), mapping)
    companies.write(db, seq, values=values, contacts=contact_links, deals=deal_links)
    counters["updated" if updating else "created"] += 1


def _values(defs: dict[str, crm_attributes.CrmAttribute], row: dict[str, str], *, unset_empty: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, text in row.items():
        attribute = defs[name]
        if attribute.readonly:
            continue
        if text:
            values[name] = attribute.from_text(text)
        elif unset_empty and name != "name":
            values[name] = crm_attributes.UNSET
    return values


def _split(cell: str) -> list[str]:
    return [part.strip() for part in _SEPARATORS.split(cell) if part.strip()]


def _contact_ids(db: sqlite3.Connection, tokens: list[str], counters: dict[str, int]) -> list[int]:
    found = []
    for token in tokens:
        column = "email" if "@" in token else "id"
        contact_id = contacts.lookup(db, column, token)
        if contact_id is None:
            counters["unknown_contacts"] += 1
        else:
            found.append(contact_id)
    return found


def _links(ids: list[Any], mapping: dict[str, bool]) -> companies.Links:
    return companies.Links(replace=ids) if mapping["unlink_entities"] else companies.Links(add=ids)
