"""Bulk contact upserts through POST /contacts/import, and the wait for Brevo to apply them.

An import is sent as soon as its body is full and is not waited for on its own: `settle()` waits for
every outstanding import at once (before a STATE is emitted, and before list adds that need the
contacts to exist). Polls draw on Brevo's 100-requests-per-hour bucket, so `settle()` reads all
statuses from one `GET /processes` page where it can, and waits for the time the imports should
take (learned from the ones already completed in this run) before it polls, then polls at growing
intervals.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from target_brevo.client import BrevoError
from target_brevo.jsonsafe import encoded as keep_encoded

if TYPE_CHECKING:
    from target_brevo.runtime import Runtime

LOGGER = logging.getLogger("target_brevo.imports")
ENVELOPE_BYTES = 256  # bytes of the import body around the jsonBody array
PROCESS_PAGE = 50  # GET /processes allows at most 50 per page
ROWS_PER_INITIAL_WAIT = 10_000  # before any import completed, expect process_poll_initial_seconds per 10k rows


@dataclass
class _Outstanding:
    process_id: int
    rows: int
    obj: str
    sent_at: float  # monotonic
    due_at: float  # monotonic time by which it should be complete (our estimate)


def row_key(row: dict[str, Any]) -> str | None:
    return row.get("email") or (row.get("attributes") or {}).get("EXT_ID")


def import_body(rows: list[bytes], list_ids: list[int]) -> bytes:
    return (b'{"jsonBody":[' + b",".join(rows) + b'],"listIds":' + orjson.dumps(list_ids)
            + b',"updateExistingContacts":true,"emptyContactsAttributes":false}')


class ImportQueue:
    """Sends imports and tracks them until Brevo reports them completed."""

    def __init__(self, runtime: Runtime, sleep: Any = time.sleep) -> None:
        self.runtime = runtime
        self.outstanding: dict[int, _Outstanding] = {}
        self._sleep = sleep
        self._queue_end = 0.0  # when the newest import should be done (Brevo applies them in turn)
        self._base_seconds: float | None = None  # learned: fixed cost of one import
        self._seconds_per_row: float | None = None  # learned: cost per row beyond that
        self._largest_seen = 0
        self._last_completed_at: float | None = None

    # -- sending ------------------------------------------------------------------------------
    def send_rows(self, rows: Iterable[dict[str, Any]], list_ids: list[int], *, obj: str, stream: str) -> int:
        """Import contact rows ({email?, attributes}) into `list_ids`, chunked by the import limits.

        Rows are held encoded (a Python dict per row would take tens of times the bytes)."""
        settings = self.runtime.settings
        accepted = 0
        body: list[bytes] = []
        size = ENVELOPE_BYTES + 2
        for row in rows:
            encoded = keep_encoded(row)
            item = len(encoded) + 1
            if ENVELOPE_BYTES + 2 + item > settings.import_max_bytes:
                self.runtime.report.reject(obj, stream, row_key(row),
                                           f"contact row is {item} bytes, over import_max_bytes", row)
                continue
            if body and (len(body) >= settings.import_max_rows or size + item > settings.import_max_bytes):
                accepted += self.send(body, list_ids, obj=obj, stream=stream)
                body, size = [], ENVELOPE_BYTES + 2
            body.append(encoded)
            size += item
        return accepted + self.send(body, list_ids, obj=obj, stream=stream)

    def send(self, rows: list[bytes], list_ids: list[int], *, obj: str, stream: str) -> int:
        """Import encoded rows that fit one request; returns the rows Brevo accepted.

        A body Brevo refuses with a 4xx is halved until the offending rows stand alone; those go to
        the rejects file.
        """
        if not rows:
            return 0
        response = self.runtime.client.call("POST", "/contacts/import", body=import_body(rows, list_ids))
        if response.ok:
            self.runtime.report.count(obj, "import_requests")
            process_id = (response.body or {}).get("processId")
            if process_id is not None:
                self._track(int(process_id), len(rows), obj)
            return len(rows)
        if len(rows) == 1:
            row = orjson.loads(rows[0])
            self.runtime.report.reject(
                obj, stream, row_key(row),
                f"Brevo refused the contact ({response.status} {response.error_code}): {response.error_message}", row)
            return 0
        LOGGER.warning("Brevo refused an import of %d contacts (%s %s); splitting it to isolate the bad rows",
                       len(rows), response.status, response.error_message)
        self.runtime.report.count(obj, "import_splits")
        half = len(rows) // 2
        return (self.send(rows[:half], list_ids, obj=obj, stream=stream)
                + self.send(rows[half:], list_ids, obj=obj, stream=stream))

    def _track(self, process_id: int, rows: int, obj: str) -> None:
        now = time.monotonic()
        self._queue_end = max(self._queue_end, now) + self._expected_seconds(rows)
        self.outstanding[process_id] = _Outstanding(process_id, rows, obj, now, self._queue_end)

    def _due(self) -> float:
        """When the outstanding imports should all be done, at the learned speed, Brevo applying them in
        turn from the moment each was sent."""
        end = 0.0
        for item in sorted(self.outstanding.values(), key=lambda o: o.process_id):
            end = max(end, item.sent_at) + self._expected_seconds(item.rows)
        return end

    def _expected_seconds(self, rows: int) -> float:
        if self._base_seconds is None:  # nothing learned yet: the initial wait per 10,000 rows
            return self.runtime.settings.process_poll_initial_seconds * max(1.0, rows / ROWS_PER_INITIAL_WAIT)
        return self._base_seconds + rows * (self._seconds_per_row or 0.0)

    # -- waiting ------------------------------------------------------------------------------
    def settle(self) -> None:
        """Return once every import sent so far is completed; a failed import fails the run."""
        if not self.outstanding:
            return
        settings = self.runtime.settings
        deadline = time.monotonic() + settings.process_timeout_seconds
        interval = settings.process_poll_initial_seconds
        wait = max(o.due_at for o in self.outstanding.values()) - time.monotonic()
        while True:
            if wait > 0:
                LOGGER.info("Waiting %.1fs for %d Brevo import(s) to complete", wait, len(self.outstanding))
                self._sleep(wait)
            self._poll()
            if not self.outstanding:
                return
            if time.monotonic() > deadline:
                raise BrevoError(f"Brevo import processes {sorted(self.outstanding)} not completed after "
                                 f"{settings.process_timeout_seconds}s")
            wait = interval
            if self._base_seconds is not None:
                wait = max(interval, min(self._due() - time.monotonic(), settings.process_poll_max_seconds))
            interval = min(interval * 2, settings.process_poll_max_seconds)

    def _poll(self) -> None:
        """Read the status of every outstanding import: newest-first pages of GET /processes, then
        GET /processes/{id} for any the pages did not reach."""
        wanted = set(self.outstanding)
        seen: list[dict[str, Any]] = []
        offset = 0
        while wanted:
            response = self.runtime.client.call("GET", "/processes",
                                                params={"limit": PROCESS_PAGE, "offset": offset, "sort": "desc"})
            if not response.ok:
                break
            page = [p for p in (response.body or {}).get("processes") or [] if isinstance(p, dict)]
            for process in page:
                if process.get("id") in wanted:
                    wanted.discard(process["id"])
                    seen.append(process)
            ids = [p["id"] for p in page if isinstance(p.get("id"), int)]
            if len(page) < PROCESS_PAGE or not ids or not wanted or min(ids) <= min(wanted):
                break
            offset += len(page)
        for process_id in sorted(wanted):
            response = self.runtime.client.call("GET", "/processes/{processId}", path_params={"processId": process_id})
            if not response.ok:
                raise BrevoError(f"GET /processes/{process_id}: {response.status} {response.error_message}",
                                 status=response.status, code=response.error_code)
            seen.append(response.body or {})
        for process in sorted(seen, key=lambda p: p.get("id") or 0):  # oldest first: Brevo applies them in turn
            self._observe(process)

    def _observe(self, process: dict[str, Any]) -> None:
        item = self.outstanding.get(process.get("id"))  # type: ignore[arg-type]
        if item is None:
            return
        status = process.get("status")
        if status in ("failed", "cancelled"):
            raise BrevoError(f"Brevo import process {item.process_id} {status}: {process.get('error') or 'no detail'}")
        if status != "completed":
            return
        del self.outstanding[item.process_id]
        counters = ((process.get("info") or {}).get("import")) or {}
        for name, value in counters.items():
            if value:
                self.runtime.report.count(item.obj, f"brevo_{name}", int(value))
        self._learn(item.rows, process)

    def _learn(self, rows: int, process: dict[str, Any]) -> None:
        """How long an import takes: its own time, after the one before it finished (Brevo works in turn)."""
        created, completed = _moment(process.get("created_at")), _moment(process.get("completed_at"))
        if created is None or completed is None:
            return
        started = max(created, self._last_completed_at or created)
        self._last_completed_at = max(completed, self._last_completed_at or completed)
        seconds = max(0.0, completed - started)
        if self._base_seconds is None or seconds < self._base_seconds:
            self._base_seconds = seconds
        if rows >= self._largest_seen and rows:
            self._largest_seen = rows
            self._seconds_per_row = max(0.0, seconds - self._base_seconds) / rows


def _moment(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
