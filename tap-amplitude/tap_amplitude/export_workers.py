"""Export members read in worker processes: decompressed, decoded and encoded as RECORD lines on other CPUs.

Used when `events` is the only stream read from the export and its records go out as they are (the fast path in
streams.py): the tap's process then only downloads, hands out members and writes the lines back in order, with
its STATE messages between them. Each worker is a Python process running `main` below, a small program that
never imports the SDK (it starts in a fraction of a second) and talks over its stdin and stdout:

- in: one JSON line of settings (stream, version, event type filters), then one JSON line per member to read
  (spool path, member name, hour);
- out: frames of a fixed header (kind, record count, payload length) and a payload: LINES (RECORD lines),
  then DONE (the member's counts) or FAILED (what went wrong, for the tap to raise in the member's turn).

A worker works through its members in order, up to OUTPUT_FRAMES frames (about 32 MB of lines) ahead of what the
tap has read, then waits: the tap reads members in order, so the worker of the next member must hold its lines
while the current one is written. A worker ends when its stdin closes: when the tap ends, whatever the reason,
even if it is killed.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import signal
import struct
import subprocess
import sys
import threading
import traceback
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Self, TypeVar

import msgspec

from tap_amplitude.archive import CorruptExport, member_batches
from tap_amplitude.events import EventDecoder
from tap_amplitude.record_lines import RecordLines, widen_pipe, write_all

HEADER = struct.Struct("<BIQ")  # kind, records, payload bytes
LINES, DONE, FAILED = 1, 2, 3
QUEUED_PER_WORKER = 8  # members handed to a worker ahead of the one the tap is writing
LINES_BYTES = 1 << 20  # a LINES frame is sent once this much is encoded
OUTPUT_FRAMES = 32  # frames a worker holds for the tap: at most about 32 MB of lines
STOP_SECONDS = 5.0
MAX_WORKERS = 4
T = TypeVar("T")


def default_workers() -> int:
    """One worker per CPU this process may use, up to MAX_WORKERS; none on a single CPU (they would only add
    copying) or where a spool file cannot be opened twice (Windows)."""
    if os.name != "posix":
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        cpus = os.cpu_count() or 1
    return 0 if cpus < 2 else min(cpus, MAX_WORKERS)


@dataclass(frozen=True)
class MemberTask:
    """One archive member for a worker to read. `archive` numbers the downloads of a run: a worker keeps the last
    archive it read open, and a spool's path may be used again once it is removed."""

    archive: int
    path: str
    member: str
    hour: datetime


@dataclass
class MemberCounts:
    """What a worker counted in one member (DONE's payload)."""

    read: int = 0
    filtered: int = 0
    conformed: int = 0
    fixed: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)


class ExportWorkerError(RuntimeError):
    """A worker failed in a way that is not a corrupt export (a bug, or a worker that was killed)."""


# -- the tap's side ---------------------------------------------------------------------------------------------


class _Worker:
    def __init__(self, settings: bytes) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from tap_amplitude.export_workers import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        widen_pipe(self.process.stdout)
        self._buffer = bytearray()
        self.send(settings)

    def send(self, line: bytes) -> None:
        assert self.process.stdin is not None
        write_all(self.process.stdin, line + b"\n")

    def frames(self) -> Iterator[tuple[int, int, memoryview]]:
        """The frames of one member, up to and including its DONE or FAILED. A payload is valid until the next
        frame is read (one buffer serves them all)."""
        stdout = self.process.stdout
        assert stdout is not None
        while True:
            kind, records, size = HEADER.unpack(self._read(stdout, HEADER.size))
            yield kind, records, self._read(stdout, size)
            if kind != LINES:
                return

    def _read(self, stream: IO[bytes], size: int) -> memoryview:
        if len(self._buffer) < size:
            self._buffer = bytearray(size)
        view = memoryview(self._buffer)[:size]
        got = 0
        while got < size:
            count = stream.readinto(view[got:])  # type: ignore[attr-defined]
            if not count:
                raise ExportWorkerError("an export worker stopped unexpectedly (see its error above, if any)")
            got += count
        return view

    def stop(self, *, kill: bool) -> None:
        process = self.process
        if kill:
            process.kill()
        if process.stdin is not None:
            try:
                process.stdin.close()
            except OSError:
                pass
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


class ExportWorkers:
    """`count` worker processes; `ordered` hands them members and gives back each member's lines in order."""

    def __init__(
        self, count: int, stream: str, version: int | None, include: Iterable[str], exclude: Iterable[str]
    ) -> None:
        settings = {"stream": stream, "version": version, "include": sorted(include), "exclude": sorted(exclude)}
        line = json.dumps(settings).encode()
        self._workers: list[_Worker] = []
        self.count = count
        self.cpu_seconds = 0.0  # the workers', known once they are closed
        self._children_before = _children_cpu_seconds()
        try:
            for _ in range(count):
                self._workers.append(_Worker(line))
        except BaseException:
            self.close(kill=True)
            raise
        self._next = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        self.close(kill=kind is not None)

    def close(self, *, kill: bool = False) -> None:
        for worker in self._workers:
            worker.stop(kill=kill)
        if self._workers:
            self.cpu_seconds = _children_cpu_seconds() - self._children_before
        self._workers = []

    def ordered(
        self,
        steps: Iterable[T],
        task_of: Callable[[T], MemberTask | None],
        may_pull: Callable[[], bool] = lambda: True,
    ) -> Iterator[tuple[T, MemberResult | None]]:
        """Each of `steps` in order, with the result of its member (None for a step without one). A member is
        handed to a worker a few steps ahead, so workers decode while the caller writes; the caller reads each
        result's lines before asking for the next step. While `may_pull()` is false (the next step would keep
        the caller waiting), the steps already taken go first."""
        steps = iter(steps)
        pending: deque[tuple[T, _Worker | None]] = deque()
        capacity = QUEUED_PER_WORKER * len(self._workers)
        in_flight = 0
        exhausted = False
        failure: Exception | None = None  # raised by `steps`: raised in turn, after the steps before it
        while True:
            while not exhausted and in_flight < capacity and (not pending or may_pull()):
                try:
                    step = next(steps, _END)
                except Exception as error:  # noqa: BLE001  (raised below, in order)
                    failure, step = error, _END
                if step is _END:
                    exhausted = True
                    break
                task = task_of(step)
                worker = None
                if task is not None:
                    worker = self._workers[self._next]
                    self._next = (self._next + 1) % len(self._workers)
                    worker.send(msgspec.json.encode(task))
                    in_flight += 1
                pending.append((step, worker))
            if not pending:
                if failure is not None:
                    raise failure
                return
            step, worker = pending.popleft()
            if worker is None:
                yield step, None
                continue
            in_flight -= 1
            result = MemberResult(worker)
            yield step, result
            result.finish()


_END: Any = object()


class MemberResult:
    """One member's lines (`pieces`), then its counts; a FAILED frame is raised in its place."""

    def __init__(self, worker: _Worker) -> None:
        self._frames = worker.frames()
        self.counts: MemberCounts | None = None

    def pieces(self) -> Iterator[tuple[memoryview, int]]:
        """(RECORD lines, how many) as the worker sent them; the lines are valid until the next piece."""
        for kind, records, payload in self._frames:
            if kind == LINES:
                yield payload, records
            elif kind == DONE:
                self.counts = msgspec.json.decode(payload, type=MemberCounts)
            else:
                failure = json.loads(bytes(payload))
                if failure["corrupt"]:
                    raise CorruptExport(failure["message"])
                raise ExportWorkerError(f"an export worker failed: {failure['message']}")

    def finish(self) -> None:
        """Read whatever the caller left, so that the next member's frames come next."""
        if self.counts is None:
            for _ in self.pieces():
                pass


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the tap starts no other process meanwhile
    return usage.ru_utime + usage.ru_stime


# -- the worker's side ------------------------------------------------------------------------------------------


class _Settings(msgspec.Struct):
    stream: str
    version: int | None
    include: frozenset[str]
    exclude: frozenset[str]


class _Output:
    """Frames to the tap, written by a thread: the worker decodes its next members while the tap is still
    writing an earlier member's lines (a pipe holds far less than a member), up to OUTPUT_FRAMES frames ahead."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._frames: queue.Queue[tuple[bytes, bytes | bytearray] | None] = queue.Queue(OUTPUT_FRAMES)
        self.broken = False  # the tap is gone
        self._thread = threading.Thread(target=self._write, name="export-worker-output", daemon=True)
        self._thread.start()

    def send(self, kind: int, records: int, payload: bytes | bytearray) -> None:
        """Queue one frame; `payload` must not change afterwards."""
        self._frames.put((HEADER.pack(kind, records, len(payload)), payload))

    def close(self) -> None:
        self._frames.put(None)
        self._thread.join()

    def _write(self) -> None:
        while (frame := self._frames.get()) is not None:
            if self.broken:
                continue  # keep taking frames, so that the decoding thread never waits on a full queue
            try:
                write_all(self._out, frame[0])
                write_all(self._out, frame[1])
                if self._frames.empty():
                    self._out.flush()
            except OSError:  # BrokenPipeError: the tap is gone
                self.broken = True


def _read_member(task: MemberTask, archive: zipfile.ZipFile, settings: _Settings, decoder: EventDecoder,
                 lines: RecordLines, output: _Output) -> MemberCounts:  # fmt: skip
    counts = MemberCounts()
    include, exclude = settings.include, settings.exclude
    buffer = bytearray()
    pending = 0
    for batch in member_batches(archive, task.hour, task.member, decoder.decode):
        counts.read += len(batch)
        if include or exclude:
            kept = [e for e in batch if not ((include and e.event_type not in include) or e.event_type in exclude)]
            counts.filtered += len(batch) - len(kept)
            batch = kept
        lines.append(buffer, settings.stream, batch, settings.version)
        pending += len(batch)
        if len(buffer) >= LINES_BYTES:
            output.send(LINES, pending, buffer)
            buffer, pending = bytearray(), 0
    if pending:
        output.send(LINES, pending, buffer)
    return counts


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the tap decides and stops us
    commands = sys.stdin.buffer
    output = _Output(sys.stdout.buffer)
    settings = msgspec.json.decode(commands.readline(), type=_Settings)
    decoder = EventDecoder(forward_objects=True)
    lines = RecordLines(msgspec.json.Encoder(decimal_format="number"))
    archive: zipfile.ZipFile | None = None
    opened = -1
    try:
        for command in commands:
            if output.broken:
                break
            task = msgspec.json.decode(command, type=MemberTask)
            try:
                if task.archive != opened:
                    if archive is not None:
                        archive.close()
                    archive, opened = zipfile.ZipFile(task.path), task.archive
                counts = _read_member(task, archive, settings, decoder, lines, output)
            except CorruptExport as exc:
                output.send(FAILED, 0, json.dumps({"corrupt": True, "message": str(exc)}).encode())
            except Exception as exc:  # noqa: BLE001  (reported to the tap, which stops the run with it)
                detail = "".join(traceback.format_exception_only(exc)).strip()
                output.send(FAILED, 0, json.dumps({"corrupt": False, "message": detail}).encode())
                traceback.print_exc()
            else:
                counts.conformed = decoder.conformed
                counts.fixed, counts.dropped = dict(decoder.conformer.fixed), dict(decoder.conformer.dropped)
                decoder.conformed = 0
                decoder.conformer.fixed.clear()
                decoder.conformer.dropped.clear()
                output.send(DONE, 0, msgspec.json.encode(counts))
    finally:
        output.close()
        if archive is not None:
            archive.close()


if __name__ == "__main__":
    main()
