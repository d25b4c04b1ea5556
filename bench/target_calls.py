"""The harness of the benchmarks that count target-brevo's Brevo calls (privacy_calls.py, companies_calls.py):
generated Singer messages, one sandbox per scenario, the real `target-brevo` CLI, and its calls per endpoint read
from the sandbox's request log."""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import benchlib
import orjson
from sandbox.brevo.ratelimit import LIMITS, scope_of
from sandbox.process import SandboxProcess
from tap_amplitude import schemas

TARGET = Path(sys.executable).with_name("target-brevo")
STATE_EVERY = 2_000  # records per STATE, as tap-amplitude sends one per exported hour
SEED_CHUNK = 20_000  # contacts per sandbox seed request
AMPLITUDE_ID = 10_000_000
WINDOW = {"window_start": "2026-01-01T00:00:00Z", "window_end": "2026-01-02T00:00:00Z"}


def email(i: int) -> str:
    return f"user{i:07d}@example.com"


def ext_id(i: int) -> str:
    return f"user-{i:07d}"


# ---------------------------------------------------------------- generated Singer messages


def schema_message(stream: str, schema: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": keys}


def record_messages(stream: str, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    n = 0
    for n, data in enumerate(records, start=1):
        yield {"type": "RECORD", "stream": stream, "record": data}
        if n % STATE_EVERY == 0:
            yield {"type": "STATE", "value": {"bookmarks": {stream: {"records": n}}}}
    yield {"type": "STATE", "value": {"bookmarks": {stream: {"records": n, "done": True}}}}


def users(people: Iterable[int], **properties: Any) -> Iterator[dict[str, Any]]:
    yield schema_message("users", schemas.USERS, ["amplitude_id"])
    yield from record_messages(
        "users",
        (
            {
                "amplitude_id": AMPLITUDE_ID + i,
                "user_id": ext_id(i),
                "user_properties": {"email": email(i), **properties},
                "event_count": 1,
                "session_count": 1,
                **WINDOW,
            }
            for i in people
        ),
    )


def write_messages(path: Path, messages: Iterator[dict[str, Any]]) -> Path:
    with path.open("wb") as out:
        for message in messages:
            out.write(orjson.dumps(message) + b"\n")
    return path


# ---------------------------------------------------------------- running the target


@dataclass
class Run:
    """One target-brevo run: its Brevo calls per endpoint (`METHOD /path`, without /v3) and what it reported."""

    label: str
    records: int
    plan: str
    calls: dict[str, int]
    limited: int
    wall: float
    cpu: float
    summary: dict[str, Any]
    extrapolated_from: int | None = None  # a projection from a run of this many records

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def count(self, obj: str, outcome: str) -> int:
        return self.summary["objects"].get(obj, {}).get(outcome, 0)

    def by_endpoint(self) -> str:
        return ", ".join(f"{k} {v:,}" for k, v in sorted(self.calls.items(), key=lambda kv: (-kv[1], kv[0])))


def per_scope(calls: dict[str, int]) -> dict[str, int]:
    scopes: dict[str, int] = {}
    for endpoint, n in calls.items():
        method, path = endpoint.split(" ", 1)
        scope = scope_of(method, path)
        scopes[scope] = scopes.get(scope, 0) + n
    return scopes


def floor_seconds(calls: dict[str, int], plan: str = "general") -> float:
    """The fewest seconds Brevo's limits on `plan` allow these calls in: per window of L calls per W seconds,
    starting full, n calls need (ceil(n / L) - 1) x W; the slowest scope wins."""
    return max(
        (
            (math.ceil(n / limit) - 1) * window
            for scope, n in per_scope(calls).items()
            for limit, window in LIMITS[scope][plan]
        ),
        default=0.0,
    )


def duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.1f} s"


class Bench:
    """One sandbox, the work directory, and the target runs made against it."""

    def __init__(self, box: SandboxProcess, work: Path, plan: str) -> None:
        self.box, self.work, self.plan = box, work, plan
        self.runs = 0
        self.list_id = box.seed("brevo", lists=["Amplitude users"])["lists"]["Amplitude users"]

    def config(self, name: str, **settings: Any) -> dict[str, Any]:
        return {
            "api_key": self.box.brevo["api_key"],
            "api_url": self.box.brevo["api"],
            "ledger_path": str(self.work / f"{name}.ledger.sqlite3"),
            "privacy_store_path": str(self.work / f"{name}.privacy.sqlite3"),
            "rejects_file": str(self.work / f"{name}.rejects.jsonl"),
            "contacts_list_id": self.list_id,
            "send_old_events": True,  # the generated events are old: delivery is what is measured
            **settings,
        }

    def run(self, label: str, config: dict[str, Any], messages: Path, records: int) -> Run:
        self.runs += 1
        name = f"{self.runs:02d}-{messages.stem}"
        config_path, summary_path = self.work / f"{name}.config.json", self.work / f"{name}.summary.json"
        config_path.write_text(json.dumps({**config, "summary_file": str(summary_path)}))
        counts, statuses = self._log()
        measured = benchlib.measure(
            [str(TARGET), "--config", str(config_path)], self.work / f"{name}.log", stdin=messages
        )
        if measured.returncode != 0:
            raise benchlib.failed(measured, f"target-brevo ({label})")
        after, after_statuses = self._log()
        calls = {k.replace("/v3", "", 1): v - counts.get(k, 0) for k, v in after.items() if v > counts.get(k, 0)}
        limited = sum(s.get("429", 0) for s in after_statuses.values()) - sum(
            s.get("429", 0) for s in statuses.values()
        )
        summary = json.loads(summary_path.read_text())
        run = Run(label, records, self.plan, calls, limited, measured.seconds, measured.cpu_seconds, summary)
        print(f"    {label}: {run.total:,} calls ({run.by_endpoint()}), {run.wall:.1f} s", flush=True)
        return run

    def _log(self) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        log = self.box.requests_log(service="brevo")
        return log["counts"].get("brevo", {}), log["statuses"].get("brevo", {})

    def stats(self) -> dict[str, int]:
        return self.box.admin("GET", "brevo/stats")

    def contact(self, i: int) -> dict[str, Any]:
        return self.box.admin("GET", f"brevo/contacts/{email(i)}")

    def seed_contacts(self, people: range, **attributes: Any) -> None:
        for start in range(people.start, people.stop, SEED_CHUNK):
            chunk = range(start, min(start + SEED_CHUNK, people.stop))
            self.box.seed(
                "brevo", contacts=[{"email": email(i), "ext_id": ext_id(i), "attributes": attributes} for i in chunk]
            )


@contextlib.contextmanager
def bench(work: Path, name: str, *settings: str, plan: str = "general") -> Iterator[Bench]:
    folder = work / name
    folder.mkdir()
    args = [arg for setting in (f"plan={plan}", *settings) for arg in ("--set", f"brevo.{setting}")]
    with benchlib.sandbox(folder / "sandbox", *args) as box:
        yield Bench(box, folder, plan)


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"check failed: {what}")
