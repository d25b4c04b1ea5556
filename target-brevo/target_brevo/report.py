"""Run summary (per object and outcome counts) and the rejects file of the run (JSONL, mode 0600)."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from target_brevo.mapping.jsonsafe import json_safe


def new_run_id() -> str:
    """Sortable by time, unique enough for one machine: `20261130T100500Z-3fa9c2`."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


class RejectsFile:
    """One JSONL file (mode 0600) per run: a line per rejected record with the run id, time, stream, key,
    reason and the record itself.

    The run's file is `<dir of path>/<stem>/<run id>.jsonl`, and `path` itself is a symlink to the latest
    run's file, created empty at the start, so after a clean run it reads clean. The newest `keep_runs`
    files are kept.
    """

    def __init__(
        self, path: str | Path | None, redact: Any = lambda text: text, *, keep_runs: int, run_id: str = ""
    ) -> None:
        self.link = Path(path) if path else None
        self.run_id = run_id or new_run_id()
        self._redact = redact
        self._fd: int | None = None
        self._lock = threading.Lock()
        self.path: Path | None = None
        if self.link is not None:
            self.path = self.link.parent / self.link.stem / f"{self.run_id}.jsonl"
            self._open()
            self._prune(keep_runs)

    def _open(self) -> None:
        assert self.link is not None and self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.chmod(self.path, 0o600)
        if self.link.exists() and not self.link.is_symlink():  # a rejects file from before per-run files
            self.link.replace(self.path.parent / f"before-{self.run_id}.jsonl")
        staged = self.link.with_name(f".{self.link.name}.{self.run_id}")
        staged.symlink_to(os.path.relpath(self.path, self.link.parent))
        staged.replace(self.link)  # atomic: readers see the previous run's file or this one's

    def _prune(self, keep_runs: int) -> None:
        assert self.path is not None
        runs = sorted(self.path.parent.glob("2*.jsonl"))  # run ids sort by time
        for old in runs[: max(0, len(runs) - max(1, keep_runs))]:
            if old != self.path:
                old.unlink(missing_ok=True)

    def write(self, entry: dict[str, Any]) -> None:
        if self._fd is None:
            return
        stamped = {"run_id": self.run_id, "rejected_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **entry}
        line = self._redact(orjson.dumps(json_safe(stamped)).decode()) + "\n"
        with self._lock:
            os.write(self._fd, line.encode())

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class RunReport:
    """Counters for the run summary, plus the rejects file."""

    def __init__(self, rejects: RejectsFile, *, dry_run: bool) -> None:
        self.rejects = rejects
        self.dry_run = dry_run
        self.objects: dict[str, Counter] = defaultdict(Counter)
        self.lists: dict[str, dict[str, Any]] = defaultdict(lambda: Counter())
        self.event_types: dict[str, Counter] = defaultdict(Counter)  # source event type -> outcomes
        self.mapped_paths: dict[str, Counter] = defaultdict(Counter)  # property_mapping source -> records, with_value
        self.reject_count = 0
        self.reject_reasons: Counter = Counter()
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def count(self, obj: str, outcome: str, n: int = 1) -> None:
        if n:
            with self._lock:
                self.objects[obj][outcome] += n

    def count_event(self, event_type: str, outcome: str, n: int = 1) -> None:
        with self._lock:
            self.event_types[event_type][outcome] += n

    def count_mapped(self, paths: Iterable[str], filled: Iterable[str]) -> None:
        """One record went through `paths`; those in `filled` had a value."""
        with self._lock:
            for path in paths:
                self.mapped_paths[path]["records"] += 1
            for path in filled:
                self.mapped_paths[path]["with_value"] += 1

    def list_count(self, list_label: str, outcome: str, n: int = 1) -> None:
        with self._lock:
            self.lists[list_label][outcome] += n

    def list_note(self, list_label: str, key: str, value: Any) -> None:
        with self._lock:
            self.lists[list_label][key] = value

    def reject(
        self,
        obj: str,
        stream: str,
        key: Any,
        reason: str,
        record: Any = None,
        *,
        outcome: str = "rejected",
        **extra: Any,
    ) -> None:
        """Report a record Brevo cannot take as it is, with the reason. `outcome` is what happened to the
        record (default: not sent; `attribute_rejected:<NAME>`: sent without that attribute)."""
        with self._lock:
            self.reject_count += 1
            self.reject_reasons[reason.split(":")[0][:80]] += 1
            self.objects[obj][outcome] += 1
        entry: dict[str, Any] = {"stream": stream, "object": obj, "key": key, "reason": reason}
        if outcome != "rejected":
            entry["outcome"] = outcome
        entry.update(extra)
        if record is not None:
            entry["record"] = record
        self.rejects.write(entry)

    def summary(self, client_stats: Any = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dry_run": self.dry_run,
            "objects": {name: dict(sorted(c.items())) for name, c in sorted(self.objects.items())},
            "lists": {name: dict(sorted(c.items())) for name, c in sorted(self.lists.items())},
            "event_types": {name: dict(sorted(c.items())) for name, c in sorted(self.event_types.items())},
            "property_mapping": {path: dict(c) for path, c in sorted(self.mapped_paths.items())},
            "rejects": {"total": self.reject_count, "by_reason": dict(self.reject_reasons.most_common())},
            "elapsed_seconds": round(time.monotonic() - self.started, 3),
        }
        out["run_id"] = self.rejects.run_id
        if self.rejects.path is not None:
            out["rejects"]["file"] = str(self.rejects.path)
        if client_stats is not None:
            out["api_calls"] = dict(sorted(client_stats.calls.items()))
            out["api_calls_total"] = sum(client_stats.calls.values())
            out["rate_limit"] = {
                "429_waited": client_stats.rate_limited,
                "429_wait_seconds": round(client_stats.rate_limit_wait_seconds, 3),
                "paced_waits": client_stats.paced_waits,
                "paced_wait_seconds": round(client_stats.paced_wait_seconds, 3),
            }
            out["retries"] = client_stats.retries
        return out
