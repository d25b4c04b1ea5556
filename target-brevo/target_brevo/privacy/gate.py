"""The privacy gate every sink asks before a record reaches Brevo: erased people and people without
consent are dropped (and counted), and the identity map learns who each amplitude_id is."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from target_brevo.brevo.api import BrevoApi, ContactIdentity
from target_brevo.brevo.errors import BrevoAuthError, BrevoError
from target_brevo.mapping.identity import IdentityRules
from target_brevo.mapping.values import InvalidValue, get_mapped, get_path
from target_brevo.privacy.consent import ConsentRule
from target_brevo.privacy.store import PrivacyStore, person_keys
from target_brevo.report import RunReport

REPORT_AS = "consent"


def amplitude_id_value(value: Any) -> int | None:
    """An Amplitude ID (a whole number, or its text); None when absent, ValueError when it is not one."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(value)  # noqa: TRY004 - a value error for the caller, whatever the type
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        return int(value)
    text = str(value).strip()
    if not text.isdigit():
        raise ValueError(value)
    return int(text)


def amplitude_id_of(record: dict[str, Any], paths: tuple[str, ...]) -> int | None:
    """The record's amplitude_id: the first path with a value; None when none has one or it is not a number."""
    for path in paths:
        value = get_path(record, path)
        if value is None or value == "":
            continue
        try:
            return amplitude_id_value(value)
        except ValueError:
            return None
    return None


class PrivacyGate:
    """Decides per record; what it learns (identities, consent states, withdrawals) is written at `flush`."""

    def __init__(
        self,
        store: Callable[[], PrivacyStore],
        api: BrevoApi,
        report: RunReport,
        *,
        identity: IdentityRules,
        amplitude_id_paths: tuple[str, ...],
        consent: ConsentRule | None,
        dry_run: bool,
    ) -> None:
        self._store = store
        self.api = api
        self.report = report
        self.identity = identity
        self.amplitude_id_paths = amplitude_id_paths
        self.consent = consent
        self.dry_run = dry_run
        self._identities: dict[int, ContactIdentity] = {}
        self._consent_seen: dict[str, bool | None] = {}  # person key -> consent, as known in this flush interval
        self._consent_changed: dict[str, bool] = {}
        self._withdrawn: dict[tuple[str | None, str | None], list[str]] = {}  # identity -> its person keys

    @property
    def store(self) -> PrivacyStore:
        return self._store()

    # -- per record ---------------------------------------------------------------------------
    def admits(self, record: dict[str, Any], report_as: str) -> bool:
        """Whether the record may reach Brevo. InvalidValue for an invalid email or a consent value of an
        unexpected type (the record is rejected with that reason)."""
        identity = self.identity.read(record)
        amplitude_id = amplitude_id_of(record, self.amplitude_id_paths)
        keys = person_keys(identity, amplitude_id)
        if keys and self.store.is_erased(keys):
            self.report.count(report_as, "dropped_erased")
            return False
        if self.consent is not None and not self._consents(record, keys, identity):
            self.report.count(report_as, "dropped_no_consent")
            return False
        if amplitude_id is not None and (identity.email or identity.ext_id):
            self._identities[amplitude_id] = identity
        return True

    def is_erased_record(self, record: dict[str, Any]) -> bool:
        """Whether the record is about an erased person, read leniently (an invalid email as written), so a
        record that cannot be written is still recognised before it is reported."""
        keys = [f"a:{aid}"] if (aid := amplitude_id_of(record, self.amplitude_id_paths)) is not None else []
        try:
            keys += person_keys(self.identity.read(record), None)
        except InvalidValue:
            keys += [f"e:{str(v).strip().lower()}" for p in self.identity.email_fields if (v := get_mapped(record, p))]
            keys += [f"x:{str(v).strip()}" for p in self.identity.ext_id_fields if (v := get_mapped(record, p))]
        return bool(keys) and self.store.is_erased(keys)

    def is_erased_identity(self, identity: ContactIdentity) -> bool:
        keys = person_keys(identity, None)
        return bool(keys) and self.store.is_erased(keys)

    # -- before a send ------------------------------------------------------------------------
    def generation(self) -> int:
        """The tombstones' generation, other processes' new ones read first: a delivery holding items admitted
        under an older generation checks them again before sending."""
        store = self.store
        store.refresh_now()
        return store.generation

    def without_erased(self, items: Iterable[Any], identity_of: Callable[[Any], Any], report_as: str) -> list[Any]:
        """`items` less those of people erased since they were admitted (`identity_of` gives an item's record
        or ContactIdentity); counted `dropped_erased`."""
        kept = []
        for item in items:
            who = identity_of(item)
            erased = self.is_erased_identity(who) if isinstance(who, ContactIdentity) else self.is_erased_record(who)
            if erased:
                self.report.count(report_as, "dropped_erased")
            else:
                kept.append(item)
        return kept

    # -- consent ------------------------------------------------------------------------------
    def _consents(self, record: dict[str, Any], keys: list[str], identity: ContactIdentity) -> bool:
        assert self.consent is not None
        stated = self.consent.read(record)
        previous = self._known_consent(keys)
        if stated is None:
            return bool(previous)
        if stated != previous:
            for key in keys:
                self._consent_seen[key] = self._consent_changed[key] = stated
            # A contact this target delivered (or one whose consent it saw given) loses it: blocklisted. A person it
            # never delivered costs no call, whatever their value.
            withdrawn = previous is True or (previous is None and self.store.is_known(identity))
            if not stated and withdrawn and self.consent.on_withdrawal == "blocklist" and identity != (None, None):
                self._withdrawn[(identity.email, identity.ext_id)] = keys
        return stated

    def _known_consent(self, keys: list[str]) -> bool | None:
        for key in keys:
            if key in self._consent_seen:
                return self._consent_seen[key]
        known = self.store.consent_of(keys)
        for key in keys:
            self._consent_seen[key] = known
        return known

    # -- flush --------------------------------------------------------------------------------
    def flush_identities(self) -> None:
        """Write the identities learnt since the last flush (an erasure resolves through them)."""
        identities, self._identities = self._identities, {}
        if identities and not self.dry_run:
            self.store.remember(identities)

    def flush(self) -> None:
        """Write the identity map, blocklist the contacts whose consent was withdrawn, then record the consent
        changes (a withdrawal whose blocklist failed is not recorded, so the next run tries it again)."""
        self.flush_identities()
        withdrawn, self._withdrawn = self._withdrawn, {}
        changed, self._consent_changed = self._consent_changed, {}
        self._consent_seen.clear()  # another process may record a change meanwhile
        if self.dry_run:
            if withdrawn:
                self.report.count(REPORT_AS, "would_blocklist", len(withdrawn))
            return
        for (email, ext_id), keys in withdrawn.items():
            if not self._blocklist(ContactIdentity(email, ext_id)):
                for key in keys:
                    changed.pop(key, None)
        if changed:
            self.store.record_consent(changed)

    def _blocklist(self, identity: ContactIdentity) -> bool:
        """Blocklist the contact for email and SMS; False when Brevo refused (retried next run)."""
        try:
            blocked = self.api.update_contact(identity, {"emailBlacklisted": True, "smsBlacklisted": True})
        except BrevoAuthError:
            raise
        except BrevoError as error:
            self.report.count(REPORT_AS, f"withdrawn_blocklist_failed_{error.status}")
            return False
        self.report.count(REPORT_AS, "withdrawn_blocklisted" if blocked else "withdrawn_not_in_brevo")
        return True


class HeldItemsCheck:
    """For a delivery that holds items before sending: drops the held items of people erased after their items
    were admitted (by this process or another), looking again only when the tombstones changed since the last look."""

    def __init__(self, gate: PrivacyGate, identity_of: Callable[[Any], Any], report_as: str) -> None:
        self.gate = gate
        self.identity_of = identity_of
        self.report_as = report_as
        self._generation: int | None = None

    def kept(self, items: list[Any]) -> list[Any]:
        generation = self.gate.generation()
        if generation == self._generation:
            return items
        self._generation = generation
        return self.gate.without_erased(items, self.identity_of, self.report_as)
