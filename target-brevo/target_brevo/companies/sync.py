"""Groups into Brevo companies: what changed since the last run goes in one CSV import per flush.

Brevo's company endpoints share the 100-requests-per-hour bucket, so a flush costs about the same whatever the
number of companies: the attribute list (once per run), one `POST /companies/import` (creates, attribute
updates by `company_id`, and new member links by email or contact id, never unlinking), its process polls,
and for new companies one `GET /companies?createdSince=` page per 100 to learn their ids. The ledger keeps
each company's id, a fingerprint of its name and attributes, and its linked members, so a re-run that
changes nothing makes no company call.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from target_brevo.brevo.api import BrevoApi, ContactIdentity
from target_brevo.delivery.imports import ContactImports
from target_brevo.delivery.ledger import Ledger
from target_brevo.mapping.companies import CompanyRow
from target_brevo.privacy.gate import PrivacyGate
from target_brevo.report import RunReport

REPORT_AS = "companies"
SPECIAL_COLUMNS = ("company_id", "name")
LINK_COLUMN = "associated_contact"


def member_key(member: ContactIdentity) -> str:
    """How the ledger knows a linked member (the keys an erasure forgets)."""
    return f"e:{member.email}" if member.email else f"x:{member.ext_id}"


def fingerprint(row: CompanyRow) -> str:
    content = orjson.dumps([row.name, row.attributes], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(content).hexdigest()[:32]


def attribute_type(value: Any) -> str:
    """The Brevo type of a company attribute created for `value`."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "text"


def cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class _Change:
    row: CompanyRow
    company_id: str | None
    fingerprint: str
    links: list[tuple[str, str]]  # (member key, the value Brevo links it by: an email or a contact id)


@dataclass
class CompanySync:
    """Holds the companies of a flush (by key, later records win, members merged) and applies what changed."""

    api: BrevoApi
    imports: ContactImports
    ledger: Callable[[], Ledger]
    privacy: PrivacyGate
    report: RunReport
    key_attribute: str  # the company attribute holding `<group type>:<group value>`
    dry_run: bool
    _held: dict[str, CompanyRow] = field(default_factory=dict, init=False)
    _known_attributes: set[str] | None = field(default=None, init=False)

    @property
    def pending(self) -> int:
        return len(self._held)

    def receive(self, row: CompanyRow) -> None:
        earlier = self._held.get(row.key)
        if earlier is not None:
            members = tuple(dict.fromkeys(earlier.members + row.members))
            row = CompanyRow(row.key, row.name, {**earlier.attributes, **row.attributes}, members)
        self._held[row.key] = row

    def flush(self, *, stream: str) -> None:
        rows, self._held = list(self._held.values()), {}
        if not rows:
            return
        ledger = self.ledger()
        if not self.dry_run:
            self._recover(ledger)
        known = ledger.companies([row.key for row in rows])
        changes = [change for row in rows if (change := self._change(ledger, row, known.get(row.key)))]
        self.report.count(REPORT_AS, "unchanged", len(rows) - len(changes))
        if not changes:
            return
        if self.dry_run:
            self.report.count(REPORT_AS, "would_create", sum(c.company_id is None for c in changes))
            self.report.count(REPORT_AS, "would_update", sum(c.company_id is not None for c in changes))
            return
        self.imports.settle()  # contacts imported before must exist to be linked
        self._ensure_attributes(changes)
        sent_at = self.api.now() - 1.0
        ledger.company_import_sent(sent_at)
        process_id = self.api.import_companies(self._csv(changes), link=True)
        self.report.count(REPORT_AS, "import_requests")
        self.imports.track(process_id, len(changes), REPORT_AS)
        self.imports.settle()
        created = self._created_since(sent_at) if any(c.company_id is None for c in changes) else {}
        for change in changes:
            company_id = change.company_id or created.get(change.row.key)
            if company_id is None:
                reason = (
                    "Brevo's import did not create the company (see the import's invalid_rows); sent again next run"
                )
                self.report.reject(REPORT_AS, stream, change.row.key, reason, {"name": change.row.name})
                continue
            ledger.record_company(change.row.key, company_id, change.fingerprint, [key for key, _ in change.links])
            self.report.count(REPORT_AS, "updated" if change.company_id else "created")
            self.report.count(REPORT_AS, "members_linked", len(change.links))
        ledger.company_imports_recorded()

    def _recover(self, ledger: Ledger) -> None:
        """An import sent before a crash, its new ids never recorded: find its companies by their key attribute
        (recorded with an empty fingerprint, so their attributes and links are sent once more, as updates)."""
        since = ledger.company_imports_unrecorded()
        if since is None:
            return
        found = self._created_since(since)
        known = ledger.companies(list(found))
        for key, company_id in found.items():
            if key not in known:
                ledger.record_company(key, company_id, "", [])
        self.report.count(REPORT_AS, "recovered_after_a_crash", len(found) - len(known))
        ledger.company_imports_recorded()

    def _change(self, ledger: Ledger, row: CompanyRow, known: tuple[str, str] | None) -> _Change | None:
        """What to send for `row`: None when Brevo has it as it is (same name and attributes, members linked)."""
        company_id, sent = known if known else (None, None)
        linked = ledger.linked_members(row.key) if company_id else set()
        links = []
        for member in row.members:
            key = member_key(member)
            if key in linked or self.privacy.is_erased_identity(member):
                continue
            value = member.email or self._contact_id(member)
            if value is not None:
                links.append((key, str(value)))
        print_ = fingerprint(row)
        if company_id and print_ == sent and not links:
            return None
        return _Change(row, company_id, print_, links)

    def _contact_id(self, member: ContactIdentity) -> int | None:
        """A member known by ext_id only is linked by its contact id (one contacts call)."""
        contact_id = self.api.contact_id("ext_id", str(member.ext_id))
        if contact_id is None:
            self.report.count(REPORT_AS, "members_not_in_brevo")
        return contact_id

    def _ensure_attributes(self, changes: list[_Change]) -> None:
        """Create the company attributes the changes use and Brevo lacks (their label is the internal name)."""
        if self._known_attributes is None:
            self._known_attributes = set(self.api.company_attributes())
        wanted = {self.key_attribute: "text"}
        for change in changes:
            for name, value in change.row.attributes.items():
                wanted.setdefault(name, attribute_type(value))
        for name, kind in wanted.items():
            if name not in self._known_attributes:
                self.api.create_company_attribute(name, kind)
                self._known_attributes.add(name)
                self.report.count(REPORT_AS, "attributes_created")

    def _csv(self, changes: list[_Change]) -> str:
        attributes = sorted({name for change in changes for name in change.row.attributes})
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*SPECIAL_COLUMNS, self.key_attribute, *attributes, LINK_COLUMN])
        for change in changes:
            row = change.row
            values = [cell(row.attributes[name]) if name in row.attributes else "" for name in attributes]
            links = ";".join(value for _, value in change.links)
            writer.writerow([change.company_id or "", row.name, row.key, *values, links])
        return out.getvalue()

    def _created_since(self, moment: float) -> dict[str, str]:
        """company key -> id of the companies created since `moment` (one call per page of 100)."""
        created: dict[str, str] = {}
        for company in self.api.companies_created_since(moment):
            key = (company.get("attributes") or {}).get(self.key_attribute)
            if key:
                created[str(key)] = str(company["id"])
        return created
