"""Export API `GET /api/2/export` (reference §2): a zip of gzipped NDJSON, streamed from the store.

The zip is written incrementally to a non-seekable sink (entries carry data descriptors), one
partition at a time, straight from an SQLite cursor, so memory stays flat whatever the size.
A finished zip is also kept on disk and served again while nothing was ingested into its hours
(`export_cache.py`): Amplitude serves prepared files, it does not compress on each request.
"""

from __future__ import annotations

import gzip
import re
import sqlite3
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from sandbox import clock
from sandbox.amplitude.export_cache import Recorder, file_chunks
from sandbox.amplitude.project import Project
from sandbox.amplitude.store import Store
from sandbox.amplitude.wire import api_error

NOT_FOUND = "Raw data files were not found."
ZIP = "application/zip"
CHUNK = 256 * 1024
_HOUR = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})$")


def parse_hour(value: str | None) -> int | None:
    """`YYYYMMDDTHH` -> hours since the epoch (UTC), or None when malformed."""
    match = _HOUR.match(value or "")
    if not match:
        return None
    try:
        moment = datetime(*(int(g) for g in match.groups()), tzinfo=UTC)  # type: ignore[misc]
    except ValueError:
        return None
    return int(moment.timestamp()) // 3600


def last_exportable_hour(now: float, latency_hours: float) -> int:
    """Hour H is exportable once its end plus the latency has passed: H + 1h + latency <= now."""
    return int((now - latency_hours * 3600) // 3600) - 1


def entry_name(project_id: int, hour: int, partition: int) -> str:
    moment = datetime.fromtimestamp(hour * 3600, UTC)
    return f"{project_id}/{project_id}_{moment:%Y-%m-%d}_{moment.hour}#{partition}.json.gz"


class _Sink:
    """A write-only, non-seekable file: zipfile then streams entries with data descriptors."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


class _Corrupter:
    """Passes bytes through, flipping a few inside the deflate stream: a broken gzip member whose zip CRC is valid."""

    def __init__(self, target: Any, start: int = 24, length: int = 16) -> None:
        self.target = target
        self.start, self.end = start, start + length
        self.position = 0

    def write(self, data: bytes) -> int:
        lo, hi = max(self.start - self.position, 0), min(self.end - self.position, len(data))
        if lo < hi:
            mutable = bytearray(data)
            for i in range(lo, hi):
                mutable[i] ^= 0xFF
            data = bytes(mutable)
        self.position += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        pass


def zip_stream(
    project: Project, hours: list[tuple[int, int, int]], partition_events: int, recorder: Recorder | None = None
) -> Iterator[bytes]:
    """The zip of `hours`, in pieces; also written to `recorder`, which keeps it once complete when the snapshot
    it was built from still holds exactly the planned hours and counts (its cache key)."""
    sink = _Sink()
    conn = project.store.reader()
    conn.execute("BEGIN")  # one snapshot for the whole archive, whatever ingestion does meanwhile
    try:
        if recorder is not None and _snapshot_hours(conn, hours) != hours:
            recorder.abandon()  # ingested into the window since the plan: the key would not describe these bytes
            recorder = None
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for hour, _events, raw_bytes in hours:
                corrupt = project.take_corrupt_gzip(hour)
                if corrupt and recorder is not None:  # the fault arrived after the request's check: not kept
                    recorder.abandon()
                    recorder = None
                bodies = Store.event_bodies(conn, hour)
                body = next(bodies, None)
                partition = 0
                while body is not None:
                    info = zipfile.ZipInfo(entry_name(project.project_id, hour, partition), _zip_time(hour))
                    info.compress_type = zipfile.ZIP_STORED
                    with archive.open(info, "w", force_zip64=raw_bytes > 2**31) as entry:
                        target = _Corrupter(entry) if corrupt else entry
                        with gzip.GzipFile(filename="", fileobj=target, mode="wb", compresslevel=6, mtime=0) as member:
                            written, pending, pending_size = 0, [], 0
                            while body is not None and written < partition_events:
                                pending += (body, b"\n")
                                pending_size += len(body) + 1
                                written += 1
                                if pending_size >= CHUNK:
                                    member.write(b"".join(pending))
                                    pending, pending_size = [], 0
                                    if len(sink.buffer) >= CHUNK:
                                        yield _recorded(sink.take(), recorder)
                                body = next(bodies, None)
                            if pending:
                                member.write(b"".join(pending))
                    partition += 1
                    if len(sink.buffer) >= CHUNK:
                        yield _recorded(sink.take(), recorder)
        yield _recorded(sink.take(), recorder)
        if recorder is not None:
            recorder.finish()
    finally:
        if recorder is not None:
            recorder.abandon()  # no-op once finished; a client gone mid-way leaves no partial entry
        conn.close()


def _recorded(data: bytes, recorder: Recorder | None) -> bytes:
    if recorder is not None:
        recorder.write(data)
    return data


def _snapshot_hours(conn: sqlite3.Connection, planned: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    rows = Store.hours_in(conn, planned[0][0], planned[-1][0])
    wanted = {hour for hour, _events, _bytes in planned}
    return [row for row in rows if row[0] in wanted]


def _zip_time(hour: int) -> tuple[int, int, int, int, int, int]:
    moment = datetime.fromtimestamp(max(hour * 3600, 315532800), UTC)  # zip dates start in 1980
    return (moment.year, moment.month, moment.day, moment.hour, 0, 0)


async def export(project: Project, request: Request) -> Response:
    """`GET /api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH`: the zip, streamed."""
    if denied := project.check_auth(request):
        return denied
    settings = project.settings()
    params = request.query_params
    for name in ("start", "end"):
        if name not in params:
            return api_error(400, f"Missing required parameter '{name}' (format YYYYMMDDTHH)")
    start, end = parse_hour(params["start"]), parse_hour(params["end"])
    if start is None or end is None:
        return api_error(400, "Invalid 'start' or 'end': expected YYYYMMDDTHH, e.g. 20220201T05")
    if end < start:
        return api_error(400, "'end' is before 'start'")
    if end - start + 1 > settings["export_max_days"] * 24:
        return api_error(400, f"Time range exceeds the maximum of {settings['export_max_days']} days")
    last = min(end, last_exportable_hour(clock.now(), settings["export_latency_hours"]))

    def plan() -> list[tuple[int, int, int]]:
        with project.store.read() as conn:
            return Store.hours_in(conn, start, last)

    hours = await run_in_threadpool(plan) if last >= start else []
    if not hours:
        return PlainTextResponse(NOT_FOUND, 404)
    size = sum(h[2] for h in hours)
    if size > settings["export_max_bytes"]:
        return api_error(400, "Export request exceeds the maximum size of 4GB; shorten the time range")
    if settings["export_timeout_bytes"] and size > settings["export_timeout_bytes"]:
        return api_error(504, "The data volume caused a timeout; shorten the time range", kind="timeout")
    headers = {
        "Content-Disposition": f'attachment; filename="{project.project_id}_{params["start"]}_{params["end"]}.zip"'
    }
    partition_events, budget = int(settings["export_partition_events"]), int(settings["export_cache_bytes"])
    if budget <= 0 or project.corrupt_gzip_pending(h[0] for h in hours):  # off, or a fault to inject: built afresh
        return StreamingResponse(zip_stream(project, hours, partition_events), media_type=ZIP, headers=headers)
    key = (project.project_id, partition_events, tuple(hours))
    cached = project.exports.open(key)
    if cached is not None:
        handle, size = cached
        headers["Content-Length"] = str(size)
        return StreamingResponse(file_chunks(handle), media_type=ZIP, headers=headers)
    recorder = project.exports.recorder(key, budget)
    return StreamingResponse(zip_stream(project, hours, partition_events, recorder), media_type=ZIP, headers=headers)
