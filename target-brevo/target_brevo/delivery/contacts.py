"""Contacts into Brevo: one import body held, merged per contact, sent through `ContactImports` when full; a
flush with few contacts writes them one call each (`ContactUpserts`), leaving no import to poll.

`contact_mode`: `upsert` creates or updates; `insert_only` imports only the contacts Brevo did not have (one
call each: create without `updateEnabled`); `update_only` imports only the contacts Brevo has (one call each:
`PUT /contacts/{id}`, which never creates). Which contacts Brevo has is read 1,000 per call
(`ExistingContacts`)."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from target_brevo.brevo.api import ContactIdentity
from target_brevo.delivery.batch import HeldRequest
from target_brevo.delivery.existing import ExistingContacts
from target_brevo.delivery.imports import ContactImports
from target_brevo.delivery.upserts import ContactUpserts
from target_brevo.mapping.contacts import ContactRow, merge_rows
from target_brevo.mapping.jsonsafe import encoded
from target_brevo.privacy.gate import HeldItemsCheck, PrivacyGate
from target_brevo.report import RunReport

REPORT_AS = "contacts"


def _row_identity(item: bytes) -> ContactIdentity:
    row = orjson.loads(item)
    return ContactIdentity(row.get("email"), (row.get("attributes") or {}).get("EXT_ID"))


IMPORT_CALLS = 2  # an import and (usually) one poll of its process


class ContactDelivery(HeldRequest[bytes]):
    """Upserts one stream's contact rows in bulk into the list every imported contact joins."""

    def __init__(
        self,
        imports: ContactImports,
        upserts: ContactUpserts,
        report: RunReport,
        *,
        stream: str,
        contacts_list: Callable[[], int],
        mode: str,
        existing: ExistingContacts,
        privacy: PrivacyGate,
        dry_run: bool,
    ) -> None:
        super().__init__(imports.new_batch())
        self.imports = imports
        self.upserts = upserts
        self.report = report
        self.contacts_list = contacts_list
        self.dry_run = dry_run
        self.stream = stream
        self.mode = mode
        self.existing = existing
        self.held_check = HeldItemsCheck(privacy, _row_identity, REPORT_AS)

    def put(self, contact: ContactRow) -> None:
        """Hold the contact's row; a contact already held gets one merged row (later values win), since
        Brevo counts repeats within an import as duplicates."""
        row = contact.row
        if contact.key in self._batch:
            self.report.count(REPORT_AS, "merged_duplicates")
            row = merge_rows(orjson.loads(self._batch.items[contact.key]), row)
        line = encoded(row)
        size = len(line) + 1
        if not self._hold(contact.key, line, size):
            self.report.reject(
                REPORT_AS, self.stream, contact.key, f"contact row is {size} bytes, over import_max_bytes", row
            )

    def _send(self, items: list[bytes]) -> None:
        items = self.held_check.kept(items)  # people erased since their rows were held are left out
        if self.dry_run:
            self.report.count(REPORT_AS, "would_upsert", len(items))
            return
        list_ids = [self.contacts_list()]
        if self.upserts.takes(len(items)) or self._cheaper_one_by_one(len(items)):
            rows = [orjson.loads(item) for item in items]
            accepted = self.upserts.send(rows, list_ids, report_as=REPORT_AS, stream=self.stream, mode=self.mode)
        else:
            if self.mode != "upsert":
                items = self._by_existence(items)
            accepted = self.imports.send(items, list_ids, report_as=REPORT_AS, stream=self.stream)
        self.report.count(REPORT_AS, "upserted", accepted)

    def _cheaper_one_by_one(self, rows: int) -> bool:
        """`update_only`: a `PUT` per contact when that is fewer calls than reading which contacts Brevo has and
        importing (the read's pages, the import and about one poll). Not for `insert_only`: a create without
        update cannot tell a contact an event of this run created first from one that existed."""
        return self.mode == "update_only" and rows <= self.existing.calls_to_read() + IMPORT_CALLS

    def _by_existence(self, items: list[bytes]) -> list[bytes]:
        """`update_only`: the rows of contacts Brevo had (a row it knows by ext_id only goes without its email,
        which the import would otherwise create a contact for). `insert_only`: the rows of contacts it did not
        have, imported as upserts, so a contact that one of this run's events created first gets its attributes.
        Brevo's contacts are read once per run (`ExistingContacts`), so the contacts this run creates stay new."""
        kept: list[bytes] = []
        for item in items:
            row = orjson.loads(item)
            match = self.existing.match(_row_identity(item))
            if self.mode == "insert_only":
                if match is None:
                    kept.append(item)
                else:
                    self.report.count(REPORT_AS, "existing_untouched")
            elif match is None:
                self.report.count(REPORT_AS, "not_in_brevo")
            elif match == "ext_id" and row.get("email"):
                kept.append(encoded({"attributes": row["attributes"]}))
            else:
                kept.append(item)
        return kept
