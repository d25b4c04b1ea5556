"""The privacy gate every sink asks before a record reaches Brevo: erased people and people without
consent are dropped (and counted), and the identity map learns who each amplitude_id is."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from target_brevo.brevo.api import BrevoApi, ContactIdentity
from target_brevo.mapping.identity import IdentityRules
from target_brevo.mapping.values import get_path
from target_brevo.privacy.consent import ConsentRule
from target_brevo.privacy.store import PrivacyStore, person_keys
from target_brevo.report import RunReport

LOGGER = logging.getLogger("target_brevo.privacy")
REPORT_AS = "consent"


def amplitude_id_of(record: dict[str, Any], paths: tuple[str, ...]) -> int | None:
    """The record's amplitude_id when it has a numeric one (None otherwise)."""
    for path in paths:
        value = get_path(record, path)
        if isinstance(value, bool) or value in (None, ""):
            continue
        try:
            return int(str(value).strip())
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
        self._consent_seen: dict[str, bool | None] = {}  # person key -> consent, as known in this run
        self._consent_changed: dict[str, bool] = {}
        self._withdrawn: dict[tuple[str | None, str | None], ContactIdentity] = {}

    @property
    def store(self) -> PrivacyStore:
        return self._store()

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

    def _consents(self, record: dict[str, Any], keys: list[str], identity: ContactIdentity) -> bool:
        assert self.consent is not None
        stated = self.consent.read(record)
        previous = self._known_consent(keys)
        if stated is None:
            return bool(previous)
        if stated != previous:
            for key in keys:
                self._consent_seen[key] = self._consent_changed[key] = stated
            withdrawn = previous is True or (previous is None and self.store.is_known(identity))
            if not stated and withdrawn and self.consent.on_withdrawal == "blocklist" and identity != (None, None):
                self._withdrawn[tuple(identity)] = identity  # type: ignore[index]
        return stated

    def _known_consent(self, keys: list[str]) -> bool | None:
        for key in keys:
            if key in self._consent_seen:
                return self._consent_seen[key]
        known = self.store.consent_of(keys)
        for key in keys:
            self._consent_seen[key] = known
        return known

    def flush(self) -> None:
        """Write the identity map and consent changes, then blocklist the contacts whose consent was withdrawn."""
        if self.dry_run:
            if self._withdrawn:
                self.report.count(REPORT_AS, "would_blocklist", len(self._withdrawn))
            self._identities.clear()
            self._consent_changed.clear()
            self._withdrawn.clear()
            return
        if self._identities:
            self.store.remember(self._identities)
            self._identities.clear()
        if self._consent_changed:
            self.store.record_consent(self._consent_changed)
            self._consent_changed.clear()
        while self._withdrawn:
            _, identity = self._withdrawn.popitem()
            blocked = self.api.update_contact(identity, {"emailBlacklisted": True, "smsBlacklisted": True})
            self.report.count(REPORT_AS, "withdrawn_blocklisted" if blocked else "withdrawn_not_in_brevo")
