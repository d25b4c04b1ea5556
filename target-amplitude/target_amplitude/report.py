"""The run's counters, its summary, and the rejects file (JSON lines, mode 0600, appended to: each line names its run)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from target_amplitude.delivery.requests import Item
from target_amplitude.mapping.events import plain


class RejectsFile:
    """A line per record not sent: run id, time, stream, key, insert_id, reason and the record (never the api key).
    Earlier runs' lines stay: a restarted service does not lose what its last run refused."""

    def __init__(self, path: str | None, redact: Callable[[str], str]) -> None:
        self.path = Path(path) if path else None
        self._redact = redact
        self._fd: int | None = None
        self._lock = threading.Lock()
        self.run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.chmod(self.path, 0o600)

    def write(self, entry: dict[str, Any]) -> None:
        if self._fd is None:
            return
        stamped = {"run_id": self.run_id, "rejected_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **entry}
        line = self._redact(orjson.dumps(plain(stamped), default=str).decode()) + "\n"
        with self._lock:
            os.write(self._fd, line.encode())

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class RunReport:
    """What happened to each record: sent, skipped (event not mapped), rejected (with reason), duplicate."""

    def __init__(self, rejects: RejectsFile) -> None:
        self.rejects = rejects
        self.counts: Counter = Counter()
        self.sent_by_type: Counter = Counter()
        self.skipped_by_event: Counter = Counter()
        self.reject_reasons: Counter = Counter()
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def sent(self, items: Iterable[Item]) -> None:
        with self._lock:
            for item in items:
                self.counts["sent"] += 1
                self.sent_by_type[item.event["event_type"]] += 1

    def skipped(self, source_event: str) -> None:
        with self._lock:
            self.counts["skipped"] += 1
            self.skipped_by_event[source_event] += 1

    def reject_record(
        self, stream: str, key: Any, record: dict[str, Any], reason: str, insert_id: str | None = None
    ) -> None:
        with self._lock:
            self.counts["rejected"] += 1
            self.reject_reasons[reason.split(":")[0][:80]] += 1
        entry = {"stream": stream, "key": key, "insert_id": insert_id, "reason": reason, "record": record}
        self.rejects.write({k: v for k, v in entry.items() if v is not None})

    def reject(self, item: Item, reason: str) -> None:
        self.reject_record(item.stream, item.key, item.record, reason, item.insert_id)

    def summary(
        self, *, requests: int, retries: int, statuses: Counter, endpoint: str, completed: bool
    ) -> dict[str, Any]:
        counts = self.counts
        out: dict[str, Any] = {
            "completed": completed,
            "endpoint": endpoint,
            "sent": counts["sent"],
            "skipped": counts["skipped"],
            "rejected": counts["rejected"],
            "duplicates_skipped": counts["duplicates_skipped"],
            "requests": requests,
            "retries": retries,
            "throttled": counts["throttled"],
            "shrunk_on_413": counts["shrunk_on_413"],
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "sent_by_event_type": dict(sorted(self.sent_by_type.items())),
            "skipped_by_event": dict(sorted(self.skipped_by_event.items())),
            "rejects_by_reason": dict(self.reject_reasons.most_common()),
            "elapsed_seconds": round(time.monotonic() - self.started, 3),
        }
        if self.rejects.path is not None:
            out["rejects_file"] = str(self.rejects.path)
        return out
