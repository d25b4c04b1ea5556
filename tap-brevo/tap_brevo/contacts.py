"""Optional enrichment: the contact's ext_id (target-brevo sets it to the Amplitude user_id) and chosen attributes,
from `GET /contacts/{email}` (paced in the `/contacts` bucket by the client), looked up once per email per run."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from tap_brevo.client import BrevoClient, BrevoError

EXT_ID_ATTRIBUTE = "EXT_ID"


class ContactLookup:
    def __init__(self, client: BrevoClient, attributes: Sequence[str], logger: logging.Logger) -> None:
        self.client = client
        self.attributes = tuple(attributes)
        self.logger = logger
        self._cache: dict[str, tuple[int | None, str | None, dict[str, Any] | None]] = {}
        self.failures = 0

    def _fetch(self, email: str) -> tuple[int | None, str | None, dict[str, Any] | None]:
        try:
            contact = self.client.get(
                f"/contacts/{quote(email, safe='')}", {"identifierType": "email_id"}, allow=(404,)
            )
        except BrevoError as exc:
            self.failures += 1
            self.logger.warning("Contact lookup failed (%s): the record goes without ext_id", exc)
            return None, None, None
        if not isinstance(contact, dict):
            return None, None, None  # no such contact
        attributes = contact.get("attributes") if isinstance(contact.get("attributes"), dict) else {}
        ext_id = contact.get("ext_id") or contact.get("extId") or attributes.get(EXT_ID_ATTRIBUTE)
        chosen = {name: attributes.get(name) for name in self.attributes} if self.attributes else None
        contact_id = contact.get("id") if type(contact.get("id")) is int else None
        return contact_id, (str(ext_id) if ext_id not in (None, "") else None), chosen

    def enrich(self, record: dict[str, Any]) -> None:
        email = record.get("email")
        if not email:
            return
        if email not in self._cache:
            self._cache[email] = self._fetch(email)
        contact_id, ext_id, attributes = self._cache[email]
        record["ext_id"] = ext_id
        record["contact_attributes"] = attributes
        if record.get("contact_id") is None:
            record["contact_id"] = contact_id

    @property
    def looked_up(self) -> int:
        return len(self._cache)
