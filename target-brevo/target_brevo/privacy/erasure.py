"""Deletion requests carried out in Brevo: each person's contacts deleted (or blocklisted), then tombstoned.

Brevo has no bulk delete, so a request costs one call per contact found (plus one per transactional-log
deletion, which draws on the 100-requests-per-hour bucket). Nothing about the person (email, ext_id) is
logged or written to the rejects file: a request is reported by its amplitude_id, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from target_brevo.brevo.api import BrevoApi, ContactIdentity
from target_brevo.brevo.errors import BrevoAuthError, BrevoError
from target_brevo.mapping.identity import IdentityRules
from target_brevo.mapping.values import InvalidValue, get_path, to_identifier
from target_brevo.privacy.store import PrivacyStore, person_keys
from target_brevo.report import RunReport

REPORT_AS = "deletions"
#: The fields of a deletion record that may appear in the rejects file (none names the person).
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
            value = get_path(record, path)
            if value in (None, ""):
                continue
            if isinstance(value, bool) or not str(value).strip().isdigit():
                raise InvalidValue(f"{path} is not a number")
            amplitude_id = int(str(value).strip())
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


def reportable(record: dict[str, Any]) -> dict[str, Any]:
    return {name: record[name] for name in REPORTABLE_FIELDS if name in record}


@dataclass
class Erasures:
    """Carries out deletion requests one by one, as they arrive in a flush."""

    api: BrevoApi
    store: Callable[[], PrivacyStore]  # opened on first use
    report: RunReport
    action: str
    transactional_logs: bool
    lookup_attribute: str | None
    log_deletions_per_run: int
    dry_run: bool

    def __post_init__(self) -> None:
        self._log_budget = self.log_deletions_per_run

    def erase(self, request: DeletionRequest, stream: str, record: dict[str, Any]) -> None:
        store = self.store()
        keys = person_keys(request.identity, request.amplitude_id)
        if store.fully_erased(keys):
            self.report.count(REPORT_AS, "already_erased")
            return
        if self.dry_run:
            self.report.count(REPORT_AS, "would_erase")
            return
        contacts = self._resolve(store, request)
        for contact in contacts:
            keys += [k for k in person_keys(contact, None) if k not in keys]
            # the person's other amplitude_ids (a request by email names none): their records are theirs too
            keys += [f"a:{aid}" for aid in store.amplitude_ids_of(contact) if f"a:{aid}" not in keys]
        store.bury(keys, state="erasing")  # from here no record of this person reaches Brevo, in any process
        if not contacts:
            self.report.reject(
                REPORT_AS,
                stream,
                request.amplitude_id,
                "no contact to erase: this amplitude_id was never delivered by this target"
                + ("" if self.lookup_attribute else " and no amplitude_id_attribute is set to look it up")
                + "; tombstoned, so none of its records reaches Brevo from now on",
                reportable(record),
                outcome="unresolved",
            )
            store.bury(keys, state="erased")
            return
        try:
            for contact in contacts:
                self._apply(contact)
        except BrevoAuthError:
            raise
        except BrevoError as error:
            reason = f"Brevo refused the erasure ({error.status} {error.code}); tombstoned, retried on the next run"
            self.report.reject(REPORT_AS, stream, request.amplitude_id, reason, reportable(record), outcome="failed")
            return
        store.bury(keys, state="erased")
        self.report.count(REPORT_AS, "erased")

    def logs_pending(self) -> bool:
        """Whether transactional logs wait to be erased and this run may still send some."""
        return self.transactional_logs and self._log_budget > 0 and bool(self.store().pending_log_deletions(1))

    def erase_transactional_logs(self) -> None:
        """`DELETE /smtp/log/{email}` for queued erasures, oldest first, at most `log_deletions_per_run` a run:
        the rest wait in the privacy store for the next runs (the calls share Brevo's 100-per-hour bucket with
        import polls and order batches, and a run should not wait hours for that bucket)."""
        if not self.transactional_logs or self.dry_run:
            return
        store = self.store()
        for email in store.pending_log_deletions(self._log_budget):
            self.api.delete_transactional_logs(email)
            store.log_deletion_done(email)
            self._log_budget -= 1
            self.report.count(REPORT_AS, "transactional_logs_deleted")
        if waiting := store.log_deletions_waiting():
            self.report.count(REPORT_AS, "transactional_logs_waiting", waiting)

    def _resolve(self, store: PrivacyStore, request: DeletionRequest) -> list[ContactIdentity]:
        found: list[ContactIdentity] = []
        if request.identity.email or request.identity.ext_id:
            found.append(request.identity)
        if request.amplitude_id is not None:
            mapped = store.identity_of(request.amplitude_id)
            if mapped is not None:
                found.append(mapped)
            elif not found and self.lookup_attribute:
                found.extend(self.api.contacts_with(self.lookup_attribute, str(request.amplitude_id)))
                self.report.count(REPORT_AS, "looked_up_by_attribute")
        return list(dict.fromkeys(found))

    def _apply(self, contact: ContactIdentity) -> None:
        if self.action == "blocklist":
            done = self.api.update_contact(contact, {"emailBlacklisted": True, "smsBlacklisted": True})
            self.report.count(REPORT_AS, "contacts_blocklisted" if done else "contacts_not_in_brevo")
        else:
            done = False
            for kind, value in (("email", contact.email), ("ext_id", contact.ext_id)):
                if value and not done:
                    done = self.api.delete_contact(kind, value)
            self.report.count(REPORT_AS, "contacts_deleted" if done else "contacts_not_in_brevo")
        if self.transactional_logs and contact.email:
            self.store().queue_log_deletion(contact.email)  # sent by `erase_transactional_logs`, within its budget
