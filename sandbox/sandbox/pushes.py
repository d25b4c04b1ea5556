"""Pushes to webhook receivers, shared by the emulators: due times on the sandbox clock, a retry policy, a delivery log.

A push is one message for one receiver, delivered until it succeeds or its attempts run out. Each emulator
gives its vendor's `RetryPolicy`: the delays between attempts, how many quick tries an attempt makes while
the receiver answers 5xx or 429, whether a 4xx other than 429 ends the push, its User-Agent, and the fault
service under which fault rules apply to its pushes (`path` matches the receiver URL's path). Any 2xx is
success; a timeout or a connection error fails the attempt, although the receiver may have kept the push:
that, and retries, give the duplicates a real receiver sees. Attempts fall due on the sandbox clock, so
moving the clock forward (`PUT /_sandbox/clock`) makes a retry happen at once.

The pusher lives in the server's event loop (`start` from a coroutine): one scheduler task and at most
`MAX_IN_FLIGHT` deliveries at once over pooled keep-alive connections (`PushClient`); whoever submits
never waits for it. `submit` may be called from any thread.

Every HTTP request sent is one delivery log entry (`LoggedDelivery`, listed by `deliveries`): kind, key,
url, attempt and try, status or error, when it was sent (real and sandbox clock) and answered, when what
it carries was accepted, the next attempt's due time when the attempt failed, and the push's `details`
(e.g. a webhook id and an event count). Header values never appear.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from sandbox import clock
from sandbox.faults import FaultRegistry
from sandbox.push_client import PushClient, PushConnectionError

QUICK_BACKOFF_SECONDS = 0.1
MAX_IN_FLIGHT = 32
DELIVERY_LOG_SIZE = 100_000
CLOCK_POLL_SECONDS = 0.05  # the sandbox clock can jump: a retry due later is checked this often


class Target(Protocol):
    """Where and how a push goes (each emulator has its own settings type with these fields)."""

    @property
    def url(self) -> str: ...  # never with credentials: it is what the delivery log shows

    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...

    @property
    def timeout_seconds(self) -> float: ...

    @property
    def duplicate_rate(self) -> float: ...  # sandbox-only: chance that a delivered push is delivered once more


@dataclass(frozen=True)
class RetryPolicy:
    """A vendor's way of retrying pushes."""

    delays_seconds: tuple[float, ...]  # before attempts 2, 3, ...: one attempt more than delays
    quick_tries: int  # requests inside one attempt while the receiver answers 5xx or 429
    user_agent: str
    fault_service: str
    stop_on_client_error: bool = False  # a 4xx other than 429 ends the push (no more attempts)

    @property
    def attempts(self) -> int:
        return 1 + len(self.delays_seconds)


@dataclass
class Push:
    """One message for one receiver, delivered until it succeeds or its attempts run out."""

    kind: str  # what the emulator calls this kind of message
    key: str  # what identifies the message
    delivery: Target
    body: bytes
    accepted_at: float  # time.time() when what it carries was accepted
    attempts: int = 0
    details: dict[str, Any] = field(default_factory=dict)  # extra fields for the delivery log


@dataclass(slots=True)
class LoggedDelivery:
    """One HTTP request of a push, as the delivery log keeps it (times: epoch seconds)."""

    seq: int
    kind: str
    key: str
    url: str
    attempt: int
    try_number: int
    duplicate: bool
    accepted_at: float  # when what the push carries was accepted (real clock)
    sent_at: float  # real clock
    sent_at_sandbox: float
    details: dict[str, Any]
    status: int | None = None
    error: str | None = None  # "timeout after N s" or the connection error's name
    answered_at: float | None = None
    next_attempt_at: float | None = None  # sandbox clock: the failed attempt's successor
    gave_up: bool = False  # the last attempt failed, or a 4xx ended the push
    fault: str | None = None  # the fault rule's action applied to this request

    def public(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "key": self.key,
            **self.details,
            "url": self.url,
            "attempt": self.attempt,
            "try": self.try_number,
            "duplicate": self.duplicate,
            "status": self.status,
            "error": self.error,
            "accepted_at": self.accepted_at,
            "sent_at": self.sent_at,
            "sent_at_sandbox": self.sent_at_sandbox,
            "answered_at": self.answered_at,
            "next_attempt_at": self.next_attempt_at,
            "gave_up": self.gave_up,
            "fault": self.fault,
        }


class Pusher:
    """Schedules and sends pushes by one retry policy; keeps the delivery log and counters."""

    def __init__(self, policy: RetryPolicy, faults: FaultRegistry | None = None) -> None:
        self.policy = policy
        self._faults = faults
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: PushClient | None = None
        self._wake: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self._due: list[tuple[float, int, Push]] = []  # heap of (sandbox time, order, push)
        self._order = itertools.count()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._log: collections.deque[LoggedDelivery] = collections.deque(maxlen=DELIVERY_LOG_SIZE)
        self._sequence = itertools.count(1)
        self._counters: collections.Counter[str] = collections.Counter()

    def start(self) -> None:
        """Start in the running event loop; later calls do nothing."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._client = PushClient(max_idle=MAX_IN_FLIGHT)
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._scheduler = self._loop.create_task(self._schedule())

    def submit(self, pushes: list[Push], due: float) -> None:
        """Queue `pushes` for their first attempt at `due` (sandbox clock); safe from any thread."""
        if not pushes:
            return
        if self._loop is None:
            raise RuntimeError("the pusher is not started")
        if _running_loop() is self._loop:
            self._enqueue(pushes, due)
        else:
            self._loop.call_soon_threadsafe(self._enqueue, pushes, due)

    def deliveries(self, after: int = 0, limit: int = 1000, kind: str | None = None) -> dict[str, Any]:
        """Counters and up to `limit` log entries with a sequence number above `after`, oldest first."""
        start = max(0, after + 1 - self._log[0].seq) if self._log else 0
        entries = itertools.islice(self._log, start, None)
        chosen = itertools.islice((e for e in entries if kind is None or e.kind == kind), limit)
        return {"counters": self.counters(), "deliveries": [e.public() for e in chosen]}

    def counters(self) -> dict[str, int]:
        """pending: waiting for an attempt or in one; delivered / failed (attempts exhausted, or a 4xx that ends
        the push): finished pushes; retried: attempts scheduled after a failed one; requests: HTTP requests sent;
        duplicates: extra deliveries (`duplicate_rate`, or a `duplicate` fault)."""
        names = ("submitted", "delivered", "failed", "retried", "requests", "duplicates")
        return {"pending": len(self._due) + len(self._in_flight), **{n: self._counters[n] for n in names}}

    def clear_log(self) -> None:
        self._log.clear()
        self._counters.clear()

    def reset(self) -> None:
        """Forget every pending push, the log and the counters (call it from the event loop)."""
        for task in self._in_flight:
            task.cancel()
        self._in_flight.clear()
        self._due.clear()
        self.clear_log()

    def close(self) -> None:
        self.reset()
        if self._scheduler is not None:
            self._scheduler.cancel()
        if self._client is not None:
            self._client.close()

    # -- in the event loop -------------------------------------------------------------------

    def _enqueue(self, pushes: list[Push], due: float) -> None:
        self._counters["submitted"] += len(pushes)
        for push in pushes:
            heapq.heappush(self._due, (due, next(self._order), push))
        assert self._wake is not None
        self._wake.set()

    async def _schedule(self) -> None:
        assert self._slots is not None and self._wake is not None
        while True:
            await self._slots.acquire()
            if not self._due or self._due[0][0] > clock.now():
                self._slots.release()
                await self._wait_for_due()
                continue
            _due, _order, push = heapq.heappop(self._due)
            task = asyncio.create_task(self._attempt(push))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    async def _wait_for_due(self) -> None:
        assert self._wake is not None
        self._wake.clear()
        wait = min(CLOCK_POLL_SECONDS, max(0.0, self._due[0][0] - clock.now())) if self._due else None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._wake.wait()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        assert self._slots is not None
        self._slots.release()

    async def _attempt(self, push: Push) -> None:
        """One attempt: up to `quick_tries` requests while the receiver answers 5xx or 429."""
        policy = self.policy
        push.attempts += 1
        for try_number in range(1, policy.quick_tries + 1):
            entry = await self._send(push, try_number)
            status = entry.status
            if status is not None and 200 <= status < 300:
                self._counters["delivered"] += 1
                if push.delivery.duplicate_rate and random.random() < push.delivery.duplicate_rate:
                    self._counters["duplicates"] += 1
                    await self._send(push, try_number, duplicate=True)
                return
            if status is None or not (status >= 500 or status == 429) or try_number == policy.quick_tries:
                break
            await asyncio.sleep(QUICK_BACKOFF_SECONDS * 2 ** (try_number - 1) * random.uniform(0.5, 1.5))
        refused = status is not None and 400 <= status < 500 and status != 429
        if push.attempts >= policy.attempts or (refused and policy.stop_on_client_error):
            self._counters["failed"] += 1
            entry.gave_up = True
            return
        entry.next_attempt_at = due = clock.now() + policy.delays_seconds[push.attempts - 1]
        self._counters["retried"] += 1
        heapq.heappush(self._due, (due, next(self._order), push))
        assert self._wake is not None
        self._wake.set()

    async def _send(self, push: Push, try_number: int, duplicate: bool = False) -> LoggedDelivery:
        assert self._client is not None
        delivery = push.delivery
        entry = LoggedDelivery(
            seq=next(self._sequence),
            kind=push.kind,
            key=push.key,
            url=delivery.url,
            attempt=push.attempts,
            try_number=try_number,
            duplicate=duplicate,
            accepted_at=push.accepted_at,
            sent_at=time.time(),
            sent_at_sandbox=clock.now(),
            details=push.details,
        )
        self._log.append(entry)
        self._counters["requests"] += 1
        headers = {"Content-Type": "application/json", "User-Agent": self.policy.user_agent, **dict(delivery.headers)}
        body = push.body
        rule = (
            None
            if duplicate or self._faults is None
            else self._faults.take(self.policy.fault_service, "POST", urlsplit(delivery.url).path)
        )
        if rule is not None:
            entry.fault = rule.action
            if rule.action in ("status", "reset"):  # the receiver seems to answer that status, or cannot be reached
                entry.status, entry.error = (
                    (rule.status, None) if rule.action == "status" else (None, "ConnectionResetError")
                )
                entry.answered_at = time.time()
                return entry
            if rule.action == "latency":
                await asyncio.sleep(rule.latency_ms / 1000)
            elif rule.action == "truncate":
                body = body[: rule.truncate_bytes]
            elif rule.action == "corrupt":
                body = damaged(body, rule.corrupt_offset, rule.corrupt_length)
        try:
            async with asyncio.timeout(delivery.timeout_seconds):  # the whole exchange, not each phase
                entry.status = await self._client.post(delivery.url, body, headers)
        except TimeoutError:
            entry.error = f"timeout after {delivery.timeout_seconds:g} s"
        except PushConnectionError as exc:
            entry.error = str(exc)
        except OSError as exc:
            entry.error = type(exc).__name__  # e.g. ConnectionRefusedError; never the message (it names the host)
        entry.answered_at = time.time()
        if rule is not None and rule.action == "duplicate":
            self._counters["duplicates"] += 1
            await self._send(push, try_number, duplicate=True)
        return entry


def damaged(body: bytes, offset: int | None, length: int) -> bytes:
    """`body` with `length` bytes inverted at `offset` (default: its middle)."""
    start = len(body) // 2 if offset is None else min(offset, len(body))
    flipped = bytes(b ^ 0xFF for b in body[start : start + length])
    return body[:start] + flipped + body[start + length :]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
