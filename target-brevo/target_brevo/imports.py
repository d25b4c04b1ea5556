"""Bulk contact upserts through POST /contacts/import, polled to completion via GET /processes/{id}."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from target_brevo.chunking import chunk
from target_brevo.client import BrevoError

if TYPE_CHECKING:
    from target_brevo.runtime import Runtime

LOGGER = logging.getLogger("target_brevo.imports")
_ENVELOPE = 256  # bytes of the import body around jsonBody


def import_contacts(runtime: Runtime, rows: list[dict[str, Any]], list_ids: list[int], *, obj: str, stream: str) -> int:
    """Upsert `rows` ({email?, attributes}) into Brevo and the lists `list_ids`; returns rows accepted.

    Rows are chunked by `import_max_rows` and `import_max_bytes`. A chunk Brevo refuses with a 4xx is
    halved until the offending rows stand alone; those go to the rejects file.
    """
    settings = runtime.settings
    accepted = 0

    def too_large(row: dict[str, Any], size: int) -> None:
        runtime.report.reject(obj, stream, row_key(row), f"contact row is {size} bytes, over import_max_bytes", row)

    for part in chunk(rows, max_rows=settings.import_max_rows, max_bytes=settings.import_max_bytes,
                      envelope_bytes=_ENVELOPE, on_too_large=too_large):
        accepted += _import_isolating(runtime, part, list_ids, obj=obj, stream=stream)
    return accepted


def row_key(row: dict[str, Any]) -> str | None:
    return row.get("email") or (row.get("attributes") or {}).get("EXT_ID")


def _import_isolating(runtime: Runtime, rows: list[dict[str, Any]], list_ids: list[int], *, obj: str, stream: str) -> int:
    body = {"jsonBody": rows, "listIds": list_ids, "updateExistingContacts": True, "emptyContactsAttributes": False}
    response = runtime.client.call("POST", "/contacts/import", json=body)
    if response.ok:
        process_id = (response.body or {}).get("processId")
        runtime.report.count(obj, "import_requests")
        if process_id is not None:
            wait_for_process(runtime, int(process_id), obj=obj)
        return len(rows)
    if len(rows) == 1:
        runtime.report.reject(obj, stream, row_key(rows[0]),
                              f"Brevo refused the contact ({response.status} {response.error_code}): {response.error_message}",
                              rows[0])
        return 0
    LOGGER.warning("Brevo refused an import of %d contacts (%s %s); splitting it to isolate the bad rows",
                   len(rows), response.status, response.error_message)
    runtime.report.count(obj, "import_splits")
    half = len(rows) // 2
    return (_import_isolating(runtime, rows[:half], list_ids, obj=obj, stream=stream)
            + _import_isolating(runtime, rows[half:], list_ids, obj=obj, stream=stream))


def wait_for_process(runtime: Runtime, process_id: int, *, obj: str) -> dict[str, Any]:
    """Poll a Brevo process with growing intervals (the calls draw on the 100-per-hour bucket)."""
    settings = runtime.settings
    interval = settings.process_poll_initial_seconds
    deadline = time.monotonic() + settings.process_timeout_seconds
    while True:
        response = runtime.client.call("GET", "/processes/{processId}", path_params={"processId": process_id})
        if not response.ok:
            raise BrevoError(f"GET /processes/{process_id}: {response.status} {response.error_message}",
                             status=response.status, code=response.error_code)
        process = response.body or {}
        status = process.get("status")
        if status == "completed":
            counters = ((process.get("info") or {}).get("import")) or {}
            for name, value in counters.items():
                if value:
                    runtime.report.count(obj, f"brevo_{name}", int(value))
            return process
        if status in ("failed", "cancelled"):
            raise BrevoError(f"Brevo import process {process_id} {status}: {process.get('error') or 'no detail'}")
        if time.monotonic() > deadline:
            raise BrevoError(f"Brevo import process {process_id} still {status} after {settings.process_timeout_seconds}s")
        time.sleep(interval)
        interval = min(interval * 2, settings.process_poll_max_seconds)
