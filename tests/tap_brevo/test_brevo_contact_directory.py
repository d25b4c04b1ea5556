"""The contact directory against the sandbox: the account's contacts in pages of GET /contacts, later runs read
only what changed (modifiedSince), a miss reads the changes again at most every REFRESH_SECONDS."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from tap_brevo import contacts
from tap_brevo.client import BrevoClient
from tap_brevo.contacts import ContactLookup

LOGGER = logging.getLogger("test")


def post_contact(sandbox: Any, email: str, ext_id: str, **attributes: Any) -> None:
    answer = requests.post(
        sandbox.brevo["api"] + "/contacts",
        json={"email": email, "ext_id": ext_id, "attributes": attributes},
        headers={"api-key": sandbox.brevo["api_key"]},
        timeout=30,
    )
    assert answer.status_code in (201, 204), answer.text


def listing_calls(sandbox: Any) -> int:
    return sandbox.requests_log("brevo")["counts"]["brevo"].get("GET /v3/contacts", 0)


def lookup(sandbox: Any, path: Path) -> ContactLookup:
    client = BrevoClient(sandbox.brevo["api"], sandbox.brevo["api_key"], LOGGER)
    return ContactLookup(client, ["FIRSTNAME"], LOGGER, path)


def test_the_directory_reads_pages_then_only_changes(sandbox, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(contacts, "PAGE", 2)  # three pages for five contacts
    for n in range(5):
        post_contact(sandbox, f"p{n}@example.com", f"user-{n}", FIRSTNAME=f"P{n}")
        time.sleep(0.11)  # distinct modifiedAt, and within the /contacts bucket's 10 requests/s
    path = tmp_path / "contacts.sqlite3"
    first = lookup(sandbox, path)
    record: dict[str, Any] = {"email": "p3@example.com", "contact_id": None}
    first.enrich(record)
    assert (record["ext_id"], record["contact_attributes"]) == ("user-3", {"FIRSTNAME": "P3"})
    assert isinstance(record["contact_id"], int)
    for n in range(5):
        first.enrich({"email": f"P{n}@Example.com".lower()})
    assert listing_calls(sandbox) == 3 and first.contacts_read == 5

    nobody: dict[str, Any] = {"email": "stranger@example.com", "contact_id": None}
    first.enrich(nobody)  # not a contact: no read within REFRESH_SECONDS of the last
    assert (nobody["ext_id"], nobody["contact_attributes"]) == (None, None) and listing_calls(sandbox) == 3
    first.close()

    post_contact(sandbox, "new@example.com", "user-new", FIRSTNAME="New")
    second = lookup(sandbox, path)  # a later run: only what changed since
    fresh: dict[str, Any] = {"email": "new@example.com", "contact_id": None}
    second.enrich(fresh)
    assert fresh["ext_id"] == "user-new"
    # modifiedSince is inclusive: the last contact of the previous read comes again, with the new one
    assert second.contacts_read == 2, "only the contacts modified since the last read"
    second.enrich({"email": "p1@example.com"})
    assert listing_calls(sandbox) == 5  # a full page of 2, then an empty one
    second.close()


@pytest.mark.parametrize("value", ["2026-11-30T17:00:01.5+01:00", "2026-11-30T16:00:01.500Z"])
def test_modified_at_becomes_brevo_s_modified_since_form(value: str) -> None:
    assert contacts._utc(value) == "2026-11-30T16:00:01.500Z"
