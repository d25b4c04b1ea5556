"""Which contacts Brevo already has, for `update_only`: read once (1,000 per call) instead of one GET each.

Held as hashes of `e:<email>` / `x:<ext_id>` (an int each, about 60 bytes a contact), and read again when
older than `MAX_AGE_SECONDS`, so a long-running target does not re-create contacts deleted meanwhile.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

from target_brevo.brevo.api import BrevoApi, ContactIdentity
from target_brevo.brevo.limits import CONTACTS_PAGE
from target_brevo.report import RunReport

LOGGER = logging.getLogger("target_brevo.contacts")
MAX_AGE_SECONDS = 900.0


def _keys(identity: ContactIdentity) -> tuple[int | None, int | None]:
    return (
        hash("e:" + identity.email) if identity.email else None,
        hash("x:" + identity.ext_id) if identity.ext_id else None,
    )


@dataclass
class ExistingContacts:
    api: BrevoApi
    report: RunReport
    _known: set[int] = field(default_factory=set, init=False)
    _read_at: float | None = field(default=None, init=False)

    def _refresh(self) -> None:
        if self._read_at is not None and time.monotonic() - self._read_at < MAX_AGE_SECONDS:
            return
        started = time.monotonic()
        known: set[int] = set()
        contacts = 0
        for contact in self.api.all_contacts():
            contacts += 1
            known.update(key for key in _keys(contact) if key is not None)
        self._known, self._read_at = known, time.monotonic()
        self.report.count("contacts", "existing_contacts_read", contacts)
        LOGGER.info("update_only: %d contacts in Brevo, read in %.1f s", contacts, self._read_at - started)

    def calls_to_read(self) -> int:
        """The calls a read would cost now (0 while the last read is fresh; the account's size costs one call)."""
        if self._read_at is not None and time.monotonic() - self._read_at < MAX_AGE_SECONDS:
            return 0
        return math.ceil(self.api.contact_count() / CONTACTS_PAGE)

    def match(self, identity: ContactIdentity) -> str | None:
        """How Brevo knows the contact: `email`, `ext_id`, or None when it has no such contact."""
        self._refresh()
        by_email, by_ext_id = _keys(identity)
        if by_email is not None and by_email in self._known:
            return "email"
        if by_ext_id is not None and by_ext_id in self._known:
            return "ext_id"
        return None
