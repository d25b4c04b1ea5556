"""Cohort Webhooks (reference: amplitude-streaming-and-privacy.md §2): membership changes as pushed messages.

Each computation compares a cohort's members, as the cohort APIs hold them, with the previous
computation of the same sync: users who entered are sent with `in_cohort: true`, users who left with
`in_cohort: false`, at most `batch_size` users per message, one message per POST:

    {"cohort_name": "...", "cohort_id": "...", "in_cohort": true, "computed_time": "1692206763",
     "message_id": "<uuid>::enter::0", "users": [{"user_id": "...", "user_properties": {"email": "..."}}]}

`computed_time` is the sandbox clock in epoch seconds, as a string; one uuid per cohort computation,
`n` numbering its messages per direction. `user_properties` holds the destination's chosen properties
(values as strings, like Webhooks Streaming). The first computation of a sync sends the whole population
as entries. Users without a user_id are left out (a webhook names users by user_id). The previous
membership is kept in memory: a reset, a restart or a new configuration starts a new sync.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson

from sandbox.amplitude.destinations import CohortWebhookDestination
from sandbox.amplitude.project import Project
from sandbox.amplitude.pushes import Push
from sandbox.amplitude.store import Store
from sandbox.amplitude.streaming import as_string


class CohortSync:
    """One Cohort Webhooks destination's state: the membership last computed per cohort, the next computation."""

    def __init__(self, destination: CohortWebhookDestination, now: float) -> None:
        self.destination = destination
        self.previous: dict[str, set[int]] = {}  # cohort id -> Amplitude ids at the last computation
        self.next_at: float | None = now  # sandbox clock; the first computation runs at once; None: no more
        self.last_computed_at: float | None = None
        self.lock = asyncio.Lock()  # one computation at a time: each diff starts where the last one ended

    def due(self, now: float) -> bool:
        return self.next_at is not None and now >= self.next_at

    def computed(self, at: float) -> None:
        interval = self.destination.interval_seconds
        self.last_computed_at = at
        self.next_at = None if interval is None else at + interval

    def public(self) -> dict[str, Any]:
        return {
            **self.destination.public(),
            "last_computed_at": self.last_computed_at,
            "next_computation_at": self.next_at,
            "members_last_computed": {cohort_id: len(ids) for cohort_id, ids in self.previous.items()},
        }


def compute(
    project: Project, sync: CohortSync, computed_at: float, accepted_at: float
) -> tuple[list[Push], dict[str, Any]]:
    """Diff every cohort of `sync` against its previous computation: the pushes, and per cohort what changed.

    Blocking (SQLite reads): run it in a thread."""
    destination = sync.destination
    pushes: list[Push] = []
    summary: dict[str, Any] = {}
    conn = project.store.reader()
    try:
        for cohort_id in destination.cohort_ids:
            cohort = project.store.cohort(cohort_id)
            if cohort is None:
                summary[cohort_id] = {"error": "cohort not found"}
                continue
            before = sync.previous.get(cohort_id, set())
            members: set[int] = set()
            entered: list[dict[str, Any]] = []
            for amplitude_id, user_id, state in Store.cohort_members(conn, cohort_id):
                members.add(amplitude_id)
                if amplitude_id not in before and user_id:
                    entered.append(cohort_user(user_id, orjson.loads(state)["properties"], destination))
            left = []
            for amplitude_id in sorted(before - members):
                found = Store.user_by_amplitude_id(conn, amplitude_id)
                if found and found[0]:
                    left.append(cohort_user(found[0], found[1]["properties"], destination))
            sync.previous[cohort_id] = members
            computation = str(uuid.uuid4())
            messages = [
                *cohort_messages(cohort, True, entered, destination.batch_size, computation, computed_at),
                *cohort_messages(cohort, False, left, destination.batch_size, computation, computed_at),
            ]
            pushes += [
                Push("cohort", m["message_id"], destination.delivery, orjson.dumps(m), accepted_at) for m in messages
            ]
            summary[cohort_id] = {"entered": len(entered), "exited": len(left), "messages": len(messages)}
    finally:
        conn.close()
    return pushes, summary


def cohort_user(user_id: str, properties: dict[str, Any], destination: CohortWebhookDestination) -> dict[str, Any]:
    chosen = {
        name: as_string(properties[name]) for name in destination.user_properties if properties.get(name) is not None
    }
    return {"user_id": user_id, "user_properties": chosen}


def cohort_messages(
    cohort: dict[str, Any],
    in_cohort: bool,
    users: list[dict[str, Any]],
    batch_size: int,
    computation: str,
    computed_at: float,
) -> list[dict[str, Any]]:
    """The messages announcing that `users` entered (`in_cohort`) or left the cohort, `batch_size` users each."""
    direction = "enter" if in_cohort else "exit"
    return [
        {
            "cohort_name": cohort["name"],
            "cohort_id": str(cohort["id"]),
            "in_cohort": in_cohort,
            "computed_time": str(int(computed_at)),
            "message_id": f"{computation}::{direction}::{n}",
            "users": users[start : start + batch_size],
        }
        for n, start in enumerate(range(0, len(users), batch_size))
    ]
