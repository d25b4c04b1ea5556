"""Deletion requests carried out in Brevo: each person's contacts deleted (or blocklisted), then tombstoned.

An erasure has two steps. When its request arrives, the person is resolved to their contacts and tombstoned
`erasing`: from then on no record of theirs is admitted or sent, in any process. After every other sink of the
flush has sent what it held and Brevo has applied the imports, each contact is deleted (or blocklisted) by every
identifier it has, the tombstones turn `erased`, and the identity map and the ledger's list changes forget them.
Brevo has no bulk delete, so a contact costs one call per identifier. Nothing about the person (email, ext_id) is
logged or written to the rejects file: a request is reported by its amplitude_id and non-identifying fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from target_brevo.brevo.api import BrevoApi, ContactIdentity
from target_brevo.brevo.errors import BrevoAuthError, BrevoError
from target_brevo.delivery.ledger import Ledger
from target_brevo.mapping.identity import IdentityRules
from target_brevo.mapping.values import InvalidValue, get_path, to_identifier
from target_brevo.privacy.gate import PrivacyGate, amplitude_id_value
from target_brevo.privacy.store import PrivacyStore, person_keys
from target_brevo.report import RunReport

REPORT_AS = "deletions"
#: Fields of Amplitude's deletion records that may appear in the rejects file (none names the person).
REPORTABLE_FIELDS = ("amplitude_id", "day", "status", "requested_on_day")


@dataclass(frozen=True)
class DeletionRequest:
    """Who is to be erased: an amplitude_id and/or a contact identity, and the request's status (if any)."""

    amplitude_id: int | None
    identity: ContactIdentity
    status: str | None


@dataclass(frozen=True)
class DeletionRules:
    """How a record becomes a deletion request, and which statuses are acted on."""

    identity: IdentityRules
    amplitude_id_paths: tuple[str, ...]
    statuses: frozenset[str]

    def read(self, record: dict[str, Any]) -> DeletionRequest:
        """InvalidValue (a reason that never quotes the person) for a request nobody can be found by."""
        amplitude_id = None
        for path in self.amplitude_id_paths:
            try:
                amplitude_id = amplitude_id_value(get_path(record, path))
            except ValueError:
                raise InvalidValue(f"{path} is not a number") from None
            if amplitude_id is not None:
                break
        try:
            identity = self.identity.read(record)
        except InvalidValue:
            raise InvalidValue("the email is not a valid address") from None
        if amplitude_id is None and not identity.email and not identity.ext_id:
            raise InvalidValue("no identifier: the deletion has no amplitude_id, email or ext_id")
        return DeletionRequest(amplitude_id, identity, to_identifier(record.get("status")))

    def acts_on(self, request: DeletionRequest) -> bool:
        """Requests from a table without statuses always apply; Amplitude's jobs by their status."""
        return request.status is None or request.status in self.statuses

    def reportable(self, record: dict[str, Any], key_properties: list[str] | None = None) -> dict[str, Any]:
        """What of a request may be reported: Amplitude's job fields and the stream's key properties (a
        request id), never a field the person is identified by."""
        personal = {*self.identity.email_fields, *self.identity.ext_id_fields}
        names = [*REPORTABLE_FIELDS, *(k for k in key_properties or () if k not in personal)]
        return {name: record[name] for name in dict.fromkeys(names) if name in record}


@dataclass
class Erasure:
    """A request under way: the person's keys (tombstoned `erasing`) and the contacts to delete."""

    amplitude_id: int | None
    keys: list[str]
    contacts: list[ContactIdentity]
    reported: dict[str, Any]


@dataclass
class Erasures:
    """Starts erasures as requests arrive and finishes them at the flush."""

    api: BrevoApi
    store: Callable[[], PrivacyStore]  # opened on first use
    gate: PrivacyGate
    ledger: Callable[[], Ledger]
    report: RunReport
    action: str
    transactional_logs: bool
    lookup_attribute: str | None
    log_deletions_per_run: int
    dry_run: bool
    _log_budget: int = field(init=False)

    def __post_init__(self) -> None:
        self._log_budget = self.log_deletions_per_run

    def begin(self, request: DeletionRequest, stream: str, reported: dict[str, Any]) -> Erasure | None:
        """Resolve the person and tombstone them `erasing`; None when there is nothing (more) to do."""
        store = self.store()
        if store.fully_erased(person_keys(request.identity, request.amplitude_id)):
            self.report.count(REPORT_AS, "already_erased")
            return None
        if self.dry_run:
            self.report.count(REPORT_AS, "would_erase")
            return None
        self.gate.flush_identities()  # the identity map knows this run's contacts too
        contacts, amplitude_ids = self._resolve(store, request)
        keys = [f"a:{aid}" for aid in amplitude_ids]
        for contact in [request.identity, *contacts]:
            keys += [k for k in person_keys(contact, None) if k not in keys]
        store.bury(keys, state="erasing")  # from here no record of this person reaches Brevo, in any process
        if not contacts:
            self.report.reject(
                REPORT_AS,
                stream,
                request.amplitude_id,
                "no contact to erase: this amplitude_id was never delivered by this target"
                + ("" if self.lookup_attribute else " and no amplitude_id_attribute is set to look it up")
                + "; tombstoned, so none of its records reaches Brevo from now on",
                reported,
                outcome="unresolved",
            )
            store.bury(keys, state="erased")
            return None
        return Erasure(request.amplitude_id, keys, contacts, reported)

    def finish(self, erasure: Erasure, stream: str) -> None:
        """Delete (or blocklist) the contacts, then complete the tombstones and forget the person."""
        try:
            for contact in erasure.contacts:
                self._apply(contact)
        except BrevoAuthError:
            raise
        except BrevoError as error:
            reason = f"Brevo refused the erasure ({error.status} {error.code}); tombstoned, retried on the next run"
            self.report.reject(REPORT_AS, stream, erasure.amplitude_id, reason, erasure.reported, outcome="failed")
            return
        self.ledger().forget_contacts([k for k in erasure.keys if not k.startswith("a:")])
        self.store().bury(erasure.keys, state="erased")
        self.report.count(REPORT_AS, "erased")

    def _resolve(self, store: PrivacyStore, request: DeletionRequest) -> tuple[list[ContactIdentity], list[int]]:
        """The person's contacts and amplitude_ids: from the request, then through the identity map both ways
        (an email's amplitude_ids, their other identities), then Brevo's `amplitude_id_attribute`."""
        contacts = [request.identity] if request.identity.email or request.identity.ext_id else []
        amplitude_ids = [request.amplitude_id] if request.amplitude_id is not None else []
        for _ in range(3):  # identities and ids found through each other; a person has few
            found_ids = [aid for c in contacts for aid in store.amplitude_ids_of(c) if aid not in amplitude_ids]
            found = [who for aid in amplitude_ids + found_ids if (who := store.identity_of(aid)) is not None]
            new = [who for who in found if who not in contacts]
            amplitude_ids += found_ids
            contacts += new
            if not found_ids and not new:
                break
        if not contacts and request.amplitude_id is not None and self.lookup_attribute:
            contacts = self.api.contacts_with(self.lookup_attribute, str(request.amplitude_id))
            self.report.count(REPORT_AS, "looked_up_by_attribute")
        return list(dict.fromkeys(contacts)), amplitude_ids

    def _apply(self, contact: ContactIdentity) -> None:
        """By every identifier the contact has: Brevo may hold one contact per identifier (a row sent without
        its ext_id, an event known by its ext_id only)."""
        done = False
        for kind, value in (("email", contact.email), ("ext_id", contact.ext_id)):
            if not value:
                continue
            if self.action == "blocklist":
                one = ContactIdentity(value, None) if kind == "email" else ContactIdentity(None, value)
                done |= self.api.update_contact(one, {"emailBlacklisted": True, "smsBlacklisted": True})
            else:
                done |= self.api.delete_contact(kind, value)
        verb = "blocklisted" if self.action == "blocklist" else "deleted"
        self.report.count(REPORT_AS, f"contacts_{verb}" if done else "contacts_not_in_brevo")
        if self.transactional_logs and contact.email:
            self.store().queue_log_deletion(contact.email)  # sent by `erase_transactional_logs`, within its budget

    # -- transactional logs -------------------------------------------------------------------
    def logs_pending(self) -> bool:
        """Whether transactional logs wait to be erased and this run may still send some."""
        return (
            self.transactional_logs
            and not self.dry_run
            and self._log_budget > 0
            and bool(self.store().pending_log_deletions(1))
        )

    def erase_transactional_logs(self) -> None:
        """`DELETE /smtp/log/{email}` for queued erasures, oldest first, at most `log_deletions_per_run` a run:
        the rest wait in the privacy store for the next runs (the calls share Brevo's 100-per-hour bucket with
        import polls and order batches, and a run should not wait hours for that bucket). A queue left by an
        earlier configuration is dropped when the feature is off: its emails are kept for nothing else."""
        if self.dry_run:
            return
        store = self.store()
        if not self.transactional_logs:
            if dropped := store.drop_log_deletions():
                self.report.count(REPORT_AS, "transactional_logs_dropped", dropped)
            return
        for email in store.pending_log_deletions(self._log_budget):
            try:
                self.api.delete_transactional_logs(email)
            except BrevoAuthError:
                raise
            except BrevoError as error:
                if not error.refuses_items:
                    break  # Brevo unavailable or the bucket spent: the queue waits for the next run
                outcome = f"transactional_logs_refused_{error.status}"
            else:
                outcome = "transactional_logs_deleted"
            store.log_deletion_done(email)
            self._log_budget -= 1
            self.report.count(REPORT_AS, outcome)
        if waiting := store.log_deletions_waiting():
            self.report.count(REPORT_AS, "transactional_logs_waiting", waiting)
