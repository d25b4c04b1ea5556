"""Bulk contact upserts through `/contacts/import`, and the wait for Brevo to apply them.

An import is sent as soon as its body is full and is not waited for on its own: `settle()` waits for
every outstanding import at once (before a STATE is emitted, and before list adds that need the
contacts to exist). Polls draw on Brevo's 100-requests-per-hour bucket, so `settle()` reads all
statuses from one `GET /processes` page where it can, and waits for the time the imports should
take (learned from the ones already completed in this run) before it polls, then polls at growing
intervals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from target_brevo.brevo.api import IMPORT_ENVELOPE_BYTES, BrevoApi, ImportProcess
from target_brevo.brevo.errors import BrevoError
from target_brevo.brevo.limits import PROCESSES_PAGE
from target_brevo.delivery.batch import KeyedBatch, send_splitting
from target_brevo.mapping.contacts import reject_key, row_key
from target_brevo.mapping.jsonsafe import encoded
from target_brevo.report import RunReport
from target_brevo.settings import ImportWaits

LOGGER = logging.getLogger("target_brevo.imports")
ROWS_PER_INITIAL_WAIT = 10_000  # before any import completed, expect `initial_seconds` per 10k rows


@dataclass
class _Outstanding:
    """An import sent and not yet reported completed."""

    process_id: int
    rows: int
    report_as: str
    sent_at: float  # monotonic
    due_at: float  # monotonic time by which it should be complete (our estimate)


@dataclass
class ContactImports:
    """Sends imports and tracks them until Brevo reports them completed."""

    api: BrevoApi
    report: RunReport
    max_rows: int
    max_bytes: int
    waits: ImportWaits
    sleep: Callable[[float], None] = time.sleep
    outstanding: dict[int, _Outstanding] = field(default_factory=dict, init=False)
    _queue_end: float = field(default=0.0, init=False)  # when the newest import should be done (applied in turn)
    _base_seconds: float | None = field(default=None, init=False)  # learned: fixed cost of one import
    _seconds_per_row: float | None = field(default=None, init=False)  # learned: cost per row beyond that
    _largest_seen: int = field(default=0, init=False)
    _last_completed_at: float | None = field(default=None, init=False)

    def new_batch(self) -> KeyedBatch[bytes]:
        return KeyedBatch(max_rows=self.max_rows, max_bytes=self.max_bytes, envelope_bytes=IMPORT_ENVELOPE_BYTES)

    # -- sending ------------------------------------------------------------------------------
    def send_rows(
        self, rows: Iterable[dict[str, Any]], list_ids: list[int], *, report_as: str, stream: str, update: bool = True
    ) -> int:
        """Import contact rows ({email?, attributes}) into `list_ids`, as few imports as the limits allow.

        Rows are held encoded (a Python dict per row would take tens of times the bytes)."""
        batch = self.new_batch()
        accepted = 0
        for row in rows:
            line = encoded(row)
            size = len(line) + 1
            if batch.never_fits(size):
                self.report.reject(
                    report_as, stream, reject_key(row), f"contact row is {size} bytes, over import_max_bytes", row
                )
                continue
            key = row_key(row)
            if not batch.has_room(key, size):
                accepted += self.send(batch.take(), list_ids, report_as=report_as, stream=stream, update=update)
            batch.put(key, line, size)
        return accepted + self.send(batch.take(), list_ids, report_as=report_as, stream=stream, update=update)

    def send(self, rows: list[bytes], list_ids: list[int], *, report_as: str, stream: str, update: bool = True) -> int:
        """Import encoded rows that fit one request (`update` false: existing contacts keep their attributes);
        returns the rows Brevo accepted. Rows Brevo refuses go to the rejects file."""

        def send_one(part: list[bytes]) -> int:
            process_id = self.api.import_contacts(part, list_ids, update=update)
            self.report.count(report_as, "import_requests")
            if process_id is not None:
                self.track(process_id, len(part), report_as)
            return len(part)

        def refuse(line: bytes, reason: str) -> None:
            row = orjson.loads(line)
            self.report.reject(report_as, stream, reject_key(row), reason, row)

        return send_splitting(
            rows,
            send_one,
            refuse,
            what="contact",
            on_split=lambda: self.report.count(report_as, "import_splits"),
        )

    def track(self, process_id: int, rows: int, report_as: str) -> None:
        """Wait for this process (a contact or company import) with the others at the next `settle`."""
        now = time.monotonic()
        self._queue_end = max(self._queue_end, now) + self.expected_seconds(rows)
        self.outstanding[process_id] = _Outstanding(process_id, rows, report_as, now, self._queue_end)

    def _due(self) -> float:
        """When the outstanding imports should all be done, at the learned speed, Brevo applying them in
        turn from the moment each was sent."""
        end = 0.0
        for item in sorted(self.outstanding.values(), key=lambda o: o.process_id):
            end = max(end, item.sent_at) + self.expected_seconds(item.rows)
        return end

    def expected_seconds(self, rows: int) -> float:
        """How long Brevo should take to apply an import of `rows` rows."""
        if self._base_seconds is None:  # nothing learned yet: the initial wait per 10,000 rows
            return self.waits.initial_seconds * max(1.0, rows / ROWS_PER_INITIAL_WAIT)
        return self._base_seconds + rows * (self._seconds_per_row or 0.0)

    # -- waiting ------------------------------------------------------------------------------
    def settle(self) -> None:
        """Return once every import sent so far is completed; a failed import fails the run."""
        if not self.outstanding:
            return
        waits = self.waits
        deadline = time.monotonic() + waits.timeout_seconds
        interval = waits.initial_seconds
        wait = max(o.due_at for o in self.outstanding.values()) - time.monotonic()
        while True:
            if wait > 0:
                LOGGER.info("Waiting %.1fs for %d Brevo import(s) to complete", wait, len(self.outstanding))
                self.sleep(wait)
            self._poll()
            if not self.outstanding:
                return
            if time.monotonic() > deadline:
                raise BrevoError(
                    f"Brevo import processes {sorted(self.outstanding)} not completed after {waits.timeout_seconds}s"
                )
            wait = interval
            if self._base_seconds is not None:
                wait = max(interval, min(self._due() - time.monotonic(), waits.max_seconds))
            interval = min(interval * 2, waits.max_seconds)

    def _poll(self) -> None:
        """Read the status of every outstanding import: newest-first pages of GET /processes, then
        GET /processes/{id} for any the pages did not reach."""
        wanted = set(self.outstanding)
        seen: list[ImportProcess] = []
        offset = 0
        while wanted:
            page = self.api.recent_processes(offset)
            seen.extend(p for p in page if p.id in wanted)
            wanted.difference_update(p.id for p in page)
            if len(page) < PROCESSES_PAGE or not wanted or min(p.id for p in page) <= min(wanted):
                break
            offset += len(page)
        seen.extend(self.api.process(process_id) for process_id in sorted(wanted))
        for process in sorted(seen, key=lambda p: p.id):  # oldest first: Brevo applies them in turn
            self._observe(process)

    def _observe(self, process: ImportProcess) -> None:
        item = self.outstanding.get(process.id)
        if item is None:
            return
        if process.status in ("failed", "cancelled"):
            raise BrevoError(f"Brevo import process {item.process_id} {process.status}: {process.error or 'no detail'}")
        if process.status != "completed":
            return
        del self.outstanding[item.process_id]
        for name, value in process.counters.items():
            self.report.count(item.report_as, f"brevo_{name}", value)
        self._learn(item.rows, process)

    def _learn(self, rows: int, process: ImportProcess) -> None:
        """How long an import takes: its own time, after the one before it finished (Brevo works in turn)."""
        created, completed = process.created_at, process.completed_at
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
