"""The tap's streams. `events` drives one pass over each export window; `users`, `revenue` and `groups` are its
children, fed from the same download, so each hour is downloaded once whichever of them are selected."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from functools import cached_property
from typing import Any

from singer_sdk import Stream, metrics
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform

from tap_amplitude import schemas
from tap_amplitude.batches import BatchingStream, BatchOutput
from tap_amplitude.charts import DEFAULT_MAX_WAIT, DEFAULT_RETRY_WAIT, ChartFetcher, result_record, series_records
from tap_amplitude.client import AmplitudeClient, AmplitudeError
from tap_amplitude.cohorts import CohortDownloader, cohort_record, list_cohorts, member_value, select_cohorts
from tap_amplitude.derive import GroupAggregator, UserAggregator
from tap_amplitude.events import EventDecoder, event_record
from tap_amplitude.export import Download, Exporter
from tap_amplitude.export_workers import ExportWorkers, MemberTask, default_workers
from tap_amplitude.hours import HOUR, floor_hour, iso, newest_exportable_hour, plan_windows
from tap_amplitude.output import SingerOutput
from tap_amplitude.privacy import DEFAULT_LOOKBACK_DAYS, DeletionJobs, days_to_read, deletion_records, utc_day
from tap_amplitude.revenue import RevenueReader

CLOCK_PROBE_PATH = "/api/2/events/list"


class AmplitudeStream(BatchingStream):
    """A stream that calls Amplitude through its own `AmplitudeClient`, built from the tap config on first use."""

    @cached_property
    def client(self) -> AmplitudeClient:
        return AmplitudeClient(self.config, self.logger)

    def server_now(self) -> tuple[datetime, str]:
        """Now as Amplitude sees it, and where that came from; a first call checks the keys and reads the clock."""
        if not self.client.has_server_clock:
            self.client.get(CLOCK_PROBE_PATH, what="credentials and clock check").close()
        return self.client.server_now()


class TypedRecordsStream(AmplitudeStream):
    """A stream whose records the tap builds already typed (events, users, revenue).

    When the catalog selects every field and no stream map or flattening applies (the usual case), a record needs
    none of the SDK's per-record work (deselection walk, type conformance, `RecordMessage`): it is encoded straight
    to stdout by `SingerOutput.write_record`, in the exact form the SDK would write. Otherwise the SDK's own
    path runs unchanged.
    """

    @cached_property
    def direct_output(self) -> SingerOutput | BatchOutput | None:
        writer = self._tap.message_writer
        if not isinstance(writer, SingerOutput) or not all(self.mask.values()):
            return None
        maps = self.stream_maps
        if (
            len(maps) != 1
            or type(maps[0]) is not SameRecordTransform
            or maps[0].flattening_enabled
            or maps[0].stream_alias != self.name
        ):
            return None
        return self.batch_output or writer

    def _write_record_message(self, record: Any) -> None:
        output = self.direct_output
        if output is None:
            super()._write_record_message(record)
            return
        output.write_record(self.name, record, self._stream_version)
        self.state_manager.is_flushed = False


class EventsStream(TypedRecordsStream):
    """Raw events from the Export API, one window request at a time, committed hour by hour."""

    name = "events"
    schema = schemas.EVENTS
    primary_keys = ("uuid",)
    replication_key = "server_upload_time"
    # Bookmarks move only at hour boundaries (`_commit`), never per record, so state is always resumable.
    is_sorted = True
    check_sorted = False
    # Records leave `EventDecoder` already typed; the SDK's recursive conformance would walk every field again.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.totals = {
            "events": 0,
            "users": 0,
            "revenue": 0,
            "groups": 0,
            "read": 0,
            "filtered": 0,
            "windows": 0,
            "empty_windows": 0,
            "bytes": 0,
        }
        self._records_written = 0  # by `_write_events`, for the SDK's STATE_MSG_FREQUENCY cadence
        self._record_counter: metrics.Counter | None = None

    # -- the fast path: events written straight from the read loop ------------------------------------

    fast_path_allowed = True  # False: every event goes through the SDK's record loop (for tests that compare)

    @cached_property
    def fast_output(self) -> SingerOutput | None:
        """The writer when events can skip the SDK's per-record loop with the same output, else None.

        That loop, for this stream, writes each record (`_write_record_message`, here `SingerOutput.write_record`),
        counts it for the `record_count` metric and writes a STATE message every `STATE_MSG_FREQUENCY` records;
        the rest is a no-op for it (`post_process` is the identity, no partitions, no per-record child contexts,
        per-record bookmarks are off). `_write_events` does exactly those three things for a list of events.
        The SDK's loop stays for BATCH output, dry runs with a record limit and anything that changes records
        (field deselection, stream maps, flattening: `direct_output` is None then).
        """
        output = self.direct_output
        if (
            not self.fast_path_allowed
            or not isinstance(output, SingerOutput)
            or self.ABORT_AT_RECORD_COUNT is not None
            or type(self).post_process is not Stream.post_process
            or self.partitions
        ):
            return None
        return output

    def get_record_counter(self, **kwargs: Any) -> metrics.Counter:
        """The SDK's counter for this sync, kept so that events written by `_write_events` are counted in it."""
        self._record_counter = super().get_record_counter(**kwargs)
        return self._record_counter

    def _write_events(self, output: SingerOutput, events: list[Any]) -> None:
        """What the SDK's record loop does for each of `events` (see `fast_output`), with one write per STATE
        interval instead of one call per record: the same bytes in the same order."""
        start = 0
        while start < len(events):
            part = events[start : start + self._records_until_state()]
            output.write_records(self.name, part, self._stream_version)
            self._written(len(part))
            start += len(part)

    def _write_lines(self, output: SingerOutput, lines: memoryview, count: int) -> None:
        """`_write_events` for `count` RECORD lines encoded by an export worker."""
        start = 0
        while count:
            part = min(count, self._records_until_state())
            end = len(lines)
            if part < count:  # a STATE message falls inside: cut after the part-th line
                rest = bytes(lines[start:])
                cut = -1
                for _ in range(part):
                    cut = rest.index(b"\n", cut + 1)
                end = start + cut + 1
            output.write_lines(lines[start:end])
            self._written(part)
            start, count = end, count - part

    def _records_until_state(self) -> int:
        every = self.STATE_MSG_FREQUENCY
        return every - self._records_written % every

    def _written(self, count: int) -> None:
        self.state_manager.is_flushed = False
        self._records_written += count
        if self._record_counter is not None:
            self._record_counter.increment(count)
        if self._records_written % self.STATE_MSG_FREQUENCY == 0:
            self._write_state_message()

    @cached_property
    def revenue_reader(self) -> RevenueReader:
        return RevenueReader.from_config(self.config)

    # -- state: hour commits only ------------------------------------------------------------------

    def get_replication_key_signpost(self, context: Any = None) -> None:
        return None

    def _increment_stream_state(self, latest_record: Any, *, context: Any = None) -> None:
        """Per-record bookmarks would point inside an hour; `_commit` advances state per completed hour."""

    def generate_child_contexts(self, record: Any, context: Any) -> Iterable[Any]:
        """Children are fed per hour and per window by `get_records`, not per event."""
        return ()

    def _commit(self, next_hour: datetime, users_from: datetime | None) -> None:
        state = self.stream_state
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = iso(next_hour)
        if users_from is not None:
            state["users_window_start"] = iso(users_from)
        else:
            state.pop("users_window_start", None)
        self.finalize_state_progress_markers(state)

    # -- the pass ----------------------------------------------------------------------------------

    def _child(self, name: str) -> DerivedStream | None:
        for child in self.child_streams:
            if child.name == name and child.selected:
                return child  # type: ignore[return-value]
        return None

    def _window_children(self) -> bool:
        """Whether a stream derived per window (`users`, `groups`) is selected: a window's hours are then re-read
        after an interruption (`users_window_start` in state, named before `groups` existed)."""
        return self._child("users") is not None or self._child("groups") is not None

    def _emit(
        self, name: str, records: Sequence[dict[str, Any]] | Iterator[dict[str, Any]], context: dict[str, str]
    ) -> int:
        child = self._child(name)
        if child is None or (isinstance(records, Sequence) and not records):
            return 0
        child.pending = iter(records)
        before = child.emitted
        child.sync(context=context)
        count = child.emitted - before
        self.totals[name] += count
        return count

    def _plan(self) -> tuple[datetime, datetime | None, datetime]:
        """(bookmark, start of users still to re-derive, last hour to export)."""
        start = self.get_starting_timestamp(None)
        if start is None:
            raise AmplitudeError("start_date is required")
        bookmark = floor_hour(start)
        users_from = None
        if self._window_children() and (pending := self.stream_state.get("users_window_start")):
            users_from = min(floor_hour(datetime.fromisoformat(pending)), bookmark)
        server_now, clock_source = self.server_now()
        latency = int(self.config.get("export_latency_hours", 2))
        last = newest_exportable_hour(server_now, latency)
        horizon_note = (
            f"newest final hour {last:%Y-%m-%dT%H}:00Z (now {iso(server_now)} from {clock_source}, latency {latency} h)"
        )
        if end_date := self.config.get("end_date"):
            end = floor_hour(datetime.fromisoformat(str(end_date)))
            last = min(last, end - HOUR)
        self.logger.info("Export plan: from %s to %s; %s", iso(users_from or bookmark), iso(last + HOUR), horizon_note)
        return bookmark, users_from, last

    def get_records(self, context: Any) -> Iterator[dict[str, Any]]:
        bookmark, users_from, last = self._plan()
        first = users_from or bookmark
        if first > last:
            self.logger.info(
                "Nothing to export yet: the next hour %s is not final before %s", iso(bookmark), iso(last + 2 * HOUR)
            )
            return
        if users_from is not None and users_from < bookmark:
            self.logger.info(
                "Re-reading %s..%s (events already emitted) to finish the interrupted users window",
                iso(users_from),
                iso(bookmark),
            )
        exporter = Exporter(self.client)
        # Object fields are decoded only when something reads them: a derived stream or the SDK's record path.
        only_encoded = self.direct_output is not None and not any(
            self._child(name) for name in ("users", "groups", "revenue")
        )
        decoder = EventDecoder(forward_objects=only_encoded)
        # What start-up built (the SDK, schemas, catalog, config) lives until exit: out of the collector's sight,
        # full collections during the pass only look at what the pass allocates (about 0.1 s per 200,000 events).
        gc.freeze()
        started = time.monotonic()
        window_hours = int(self.config.get("export_window_hours", 24))
        next_download = threading.Event()
        downloads = exporter.download_all(plan_windows(first, last, window_hours), ready=next_download)
        workers = self._export_workers() if only_encoded else 0
        if workers:
            self._read_in_workers(downloads, next_download, bookmark, decoder, workers)
        else:
            for download in downloads:
                yield from self._read(download, bookmark, decoder)
                bookmark = max(bookmark, download.window.end)
        elapsed = time.monotonic() - started
        t = self.totals
        self.logger.info(
            "Export summary: %d windows (%d empty, %d splits, %d downloads, %.1f MB), %d events read, %d filtered "
            "out; emitted events=%d users=%d revenue=%d groups=%d in %.1f s (%.0f events/s)",
            t["windows"],
            t["empty_windows"],
            exporter.splits,
            exporter.downloads,
            t["bytes"] / 1e6,
            t["read"],
            t["filtered"],
            t["events"],
            t["users"],
            t["revenue"],
            t["groups"],
            elapsed,
            t["read"] / elapsed if elapsed else 0,
        )
        for name, count in decoder.conformer.fixed.items():
            self.logger.info("Conformed %d values of %s to the schema type", count, name)
        for name, count in decoder.conformer.dropped.items():
            self.logger.warning("Set %d values of %s to null: they do not fit the schema type", count, name)

    def _open_window(self, download: Download) -> None:
        self.totals["windows"] += 1
        self.totals["bytes"] += download.size_bytes
        if download.archive is None:
            self.totals["empty_windows"] += 1

    def _read(self, download: Download, bookmark: datetime, decoder: EventDecoder) -> Iterator[Any]:
        window = download.window
        include = frozenset(self.config.get("event_types_include") or ())
        exclude = frozenset(self.config.get("event_types_exclude") or ())
        emit_events = self.selected
        # Records go out as the decoded structs when the direct writer takes them, else as plain dicts; with the
        # fast path, they are written here instead of passing one by one through the SDK's record loop.
        as_dict = self.direct_output is None
        writer = self.fast_output
        revenue_record = self.revenue_reader.record if self._child("revenue") is not None else None
        users = UserAggregator(window.first, window.end) if self._child("users") is not None else None
        groups = GroupAggregator(window.first, window.end) if self._child("groups") is not None else None
        per_window = users is not None or groups is not None
        started = time.monotonic()
        read = filtered = emitted = revenue_count = 0
        self._open_window(download)
        if download.archive is not None:
            with download.archive as archive:
                for hour, members in archive.hours():
                    replay = hour < bookmark
                    revenue: list[dict[str, Any]] = []
                    for member in members:
                        for batch in archive.event_batches(hour, member, decoder.decode):
                            read += len(batch)
                            if include or exclude:
                                kept = [
                                    e
                                    for e in batch
                                    if not ((include and e.event_type not in include) or e.event_type in exclude)
                                ]
                                filtered += len(batch) - len(kept)
                                batch = kept
                            if users is not None:
                                for event in batch:
                                    users.add(event)
                            if groups is not None:
                                for event in batch:
                                    groups.add(event)
                            if replay:
                                continue
                            emitted += len(batch)
                            if revenue_record is not None:
                                revenue += [line for e in batch if (line := revenue_record(e)) is not None]
                            if not emit_events:
                                continue
                            if writer is not None:
                                self._write_events(writer, batch)
                            else:
                                for event in batch:
                                    yield event_record(event) if as_dict else event
                    if not replay:
                        revenue_count += self._emit("revenue", revenue, {"hour": iso(hour)})
                        self._commit(hour + HOUR, window.first if per_window else None)
        user_count = group_count = 0
        window_context = {"window_start": iso(window.first), "window_end": iso(window.end)}
        if users is not None:
            user_count = self._emit("users", users.records(), window_context)
        if groups is not None:
            group_count = self._emit("groups", groups.records(), window_context)
        self._close_window(
            download, bookmark, per_window, (read, filtered, emitted, user_count, revenue_count, group_count), started
        )

    def _close_window(
        self, download: Download, bookmark: datetime, per_window: bool, counts: tuple[int, ...], started: float
    ) -> None:
        """A window's last commit, its share of the totals and its log line; `counts` are (read, filtered out,
        emitted, users, revenue, groups)."""
        window = download.window
        read, filtered, emitted, user_count, revenue_count, group_count = counts
        if window.end > bookmark or per_window:
            self._commit(max(window.end, bookmark), None if window.end >= bookmark else window.end)
        seconds = time.monotonic() - started
        self.totals["read"] += read
        self.totals["filtered"] += filtered
        if self.selected:
            self.totals["events"] += emitted
        # The download overlapped the previous window's reading (read-ahead), so the two are reported apart.
        # Empty windows (before a project's first event, say) are counted in the summary, listed at debug level.
        self.logger.log(
            logging.DEBUG if download.archive is None else logging.INFO,
            "Exported %s (%d h): %s; %d events read, %d filtered out, %d new; users=%d revenue=%d groups=%d; "
            "downloaded in %.2f s, read in %.2f s (%.0f events/s)",
            window,
            window.hours,
            "no data (404)" if download.archive is None else f"{download.size_bytes / 1e6:.2f} MB",
            read,
            filtered,
            emitted,
            user_count,
            revenue_count,
            group_count,
            download.seconds,
            seconds,
            read / seconds if seconds else 0,
        )

    # -- the same pass with export workers ---------------------------------------------------------

    def _export_workers(self) -> int:
        """How many export workers read this pass: none unless events go out as the fast path writes them."""
        if self.fast_output is None or not self.selected:
            return 0
        configured = self.config.get("export_workers")
        return default_workers() if configured is None else int(configured)

    def _read_in_workers(
        self,
        downloads: Iterator[Download],
        next_download: threading.Event,
        bookmark: datetime,
        decoder: EventDecoder,
        workers: int,
    ) -> None:
        """`_read` for every window, with members decoded and encoded by export workers (export_workers.py) and
        written here in order: the same lines, STATE messages, commits, counts and log lines. No derived stream is
        selected here, so no hour before the bookmark is re-read."""
        output = self.fast_output
        assert output is not None
        include = frozenset(self.config.get("event_types_include") or ())
        exclude = frozenset(self.config.get("event_types_exclude") or ())
        at_window_end = False

        def steps() -> Iterator[tuple[str, Download, Any]]:
            """(kind, download, detail) in output order; the detail of a "member" is its MemberTask, of an "hour"
            the hour."""
            nonlocal at_window_end
            for number, download in enumerate(downloads):
                at_window_end = False
                yield "window", download, None
                if download.archive is not None:
                    assert download.archive.path is not None
                    for hour, members in download.archive.hours():
                        for member in members:
                            yield "member", download, MemberTask(number, download.archive.path, member, hour)
                        yield "hour", download, hour
                at_window_end = True
                yield "closed", download, None

        def may_pull() -> bool:
            """Members of the next window are handed out ahead only once it is downloaded: a window's last
            commit and STATE never wait for the next window's download."""
            return not at_window_end or next_download.is_set()

        def task_of(step: tuple[str, Download, Any]) -> MemberTask | None:
            return step[2] if step[0] == "member" else None

        read = filtered = 0
        started = time.monotonic()
        with ExportWorkers(workers, self.name, self._stream_version, include, exclude) as pool:
            for (kind, download, detail), result in pool.ordered(steps(), task_of, may_pull):
                if kind == "window":
                    self._open_window(download)
                    read = filtered = 0
                    started = time.monotonic()
                elif kind == "member":
                    assert result is not None
                    for lines, count in result.pieces():
                        self._write_lines(output, lines, count)
                    counts = result.counts
                    assert counts is not None
                    read += counts.read
                    filtered += counts.filtered
                    decoder.add_counts(counts.conformed, counts.fixed, counts.dropped)
                elif kind == "hour":
                    self._commit(detail + HOUR, None)
                else:
                    download.close()
                    self._close_window(download, bookmark, False, (read, filtered, read - filtered, 0, 0, 0), started)
                    bookmark = max(bookmark, download.window.end)
        self.logger.info("Export workers: %d processes, %.1f s of CPU in all", pool.count, pool.cpu_seconds)


class DerivedStream(TypedRecordsStream):
    """A child of `events`: its records are handed over by the parent's pass, per hour or per window."""

    parent_stream_type = EventsStream
    state_partitioning_keys: list[str] = []  # noqa: RUF012  (no per-window state: the parent's bookmark rules)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: Iterator[dict[str, Any]] = iter(())
        self.emitted = 0
        self._schema_written = False

    def get_records(self, context: Any) -> Iterator[dict[str, Any]]:
        for record in self.pending:
            self.emitted += 1
            yield record
        self.pending = iter(())

    def _write_schema_message(self) -> None:
        """The SDK writes SCHEMA on every sync, and this stream syncs once per hour or window; its schema cannot
        change within a run, so it goes out once, before the first record."""
        if not self._schema_written:
            super()._write_schema_message()
            self._schema_written = True


class RevenueStream(DerivedStream):
    """One record per revenue event: `$revenue` or `$price`, or a configured plain property (see revenue.py)."""

    name = "revenue"
    schema = schemas.REVENUE
    primary_keys = ("uuid",)
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY


class UsersStream(DerivedStream):
    """One record per user seen in an export window: latest properties and the window's engagement."""

    name = "users"
    schema = schemas.USERS
    primary_keys = ("amplitude_id",)
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY


class GroupsStream(DerivedStream):
    """One record per group (account) seen in an export window: latest group properties, first and last seen,
    the users whose events carried it (see derive.py for the shapes of `groups` and `group_properties`)."""

    name = "groups"
    schema = schemas.GROUPS
    primary_keys = ("group_type", "group_value")
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY


class CohortsStream(AmplitudeStream):
    """The project's cohorts (Behavioral Cohorts API), one record per cohort, archived ones included."""

    name = "cohorts"
    schema = schemas.COHORTS
    primary_keys = ("id",)

    def get_records(self, context: Any) -> Iterator[dict[str, Any]]:
        for cohort in list_cohorts(self.client):
            yield cohort_record(cohort)


class CohortMembersStream(AmplitudeStream):
    """A full snapshot of each selected cohort, closed by a `snapshot_end` record (see the README)."""

    name = "cohort_members"
    schema = schemas.COHORT_MEMBERS
    primary_keys = ("cohort_id", "snapshot_id", "position")
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY

    def get_records(self, context: Any) -> Iterator[dict[str, Any]]:
        cohorts = select_cohorts(list_cohorts(self.client), self.config.get("cohort_ids"))
        properties = list(self.config.get("cohort_properties") or ())
        downloader = CohortDownloader(
            self.client,
            poll_timeout=float(self.config.get("cohort_poll_timeout", 1800)),
            poll_interval=float(self.config.get("cohort_poll_interval", 2)),
        )
        self.logger.info("Cohort snapshots to download: %d", len(cohorts))
        for cohort in cohorts:
            cohort_id, cohort_name = str(cohort["id"]), cohort.get("name")
            started = time.monotonic()
            request_id = downloader.request(cohort_id, properties)
            downloader.wait(cohort_id, request_id)
            snapshot = downloader.fetch(cohort_id, request_id)
            snapshot_at = iso(self.client.server_now()[0])
            base = {
                "cohort_id": cohort_id,
                "cohort_name": cohort_name,
                "snapshot_id": request_id,
                "snapshot_size": snapshot.size,
                "snapshot_at": snapshot_at,
            }
            try:
                position = 0
                for position, row in enumerate(snapshot.rows(), start=1):
                    yield {**base, "position": position, "snapshot_end": False, **member_fields(cohort_id, row)}
                if position != snapshot.size:
                    raise AmplitudeError(f"cohort {cohort_id}: read {position} members, counted {snapshot.size}")
                yield {
                    **base,
                    "position": snapshot.size + 1,
                    "snapshot_end": True,
                    "amplitude_id": None,
                    "user_id": None,
                    "properties": None,
                }
            finally:
                snapshot.close()
            self.logger.info(
                "Cohort %s (%s): snapshot %s complete, %d members in %.1f s",
                cohort_id,
                cohort_name,
                request_id,
                snapshot.size,
                time.monotonic() - started,
            )


ID_COLUMNS = {"amplitude_id": "amplitude_id", "amplitudeID": "amplitude_id", "user_id": "user_id", "userID": "user_id"}


def member_fields(cohort_id: str, row: dict[str, str]) -> dict[str, Any]:
    amplitude_text = row.get("amplitude_id") or row.get("amplitudeID") or ""
    try:
        amplitude_id = int(amplitude_text) if amplitude_text else None
    except ValueError:
        raise AmplitudeError(f"cohort {cohort_id}: amplitude_id {amplitude_text!r} is not a number") from None
    return {
        "amplitude_id": amplitude_id,
        "user_id": row.get("user_id") or None,
        "properties": {
            key: member_value(value)
            for key, value in row.items()
            if key not in ID_COLUMNS and key is not None and value != ""
        },
    }


class EventTypesStream(AmplitudeStream):
    """The project's event types (Dashboard REST API events list), with this week's totals."""

    name = "event_types"
    schema = schemas.EVENT_TYPES
    primary_keys = ("value",)

    def get_records(self, context: Any) -> Iterator[dict[str, Any]]:
        response = self.client.get("/api/2/events/list", what="event type list")
        body = response.json()
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise AmplitudeError("event type list: the response has no 'data' array")
        fields = tuple(self.schema["properties"])
        for item in data:
            yield {name: item.get(name) for name in fields}


class DeletionsStream(AmplitudeStream):
    """Deletion jobs (User Privacy API v1), one record per (job day, Amplitude ID). A job's status moves on for
    weeks, so each run re-reads `deletions_lookback_days` before the bookmark, up to the jobs scheduled ahead."""

    name = "deletions"
    schema = schemas.DELETIONS
    primary_keys = ("amplitude_id", "day")
    replication_key = "day"
    # Jobs come in day order, from the look-back on: the bookmark may step back within a run, never past the end.
    is_sorted = True
    check_sorted = False
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY

    def get_records(self, context: Any) -> Iterator[dict[str, Any]]:
        state = self.stream_state
        bookmark = state.get("replication_key_value") if state.get("replication_key") == self.replication_key else None
        lookback = int(self.config.get("deletions_lookback_days", DEFAULT_LOOKBACK_DAYS))
        now, clock_source = self.server_now()
        first, last = days_to_read(
            utc_day(str(self.config["start_date"])),
            date.fromisoformat(bookmark) if bookmark else None,
            lookback,
            now.date(),
        )
        self.logger.info(
            "Deletion jobs: days %s..%s (bookmark %s, lookback %d d; today %s from %s)",
            first, last, bookmark, lookback, now.date(), clock_source,
        )  # fmt: skip
        jobs = DeletionJobs(self.client)
        count = 0
        for job in jobs.between(first, last):
            for record in deletion_records(job, self.logger.warning):
                count += 1
                yield record
        self.logger.info("Deletion jobs: %d records from %d requests", count, jobs.requests)


class ChartResultsStream(AmplitudeStream):
    """One record per saved chart of `chart_ids` per run: the result as Amplitude sent it. Charts are recomputed
    on every query, so each run fetches them all again (full table); a re-run on the same day replaces that day's
    record. The flattened series go to `chart_series` from the same fetch (each query spends the cost budget)."""

    name = "chart_results"
    schema = schemas.CHART_RESULTS
    primary_keys = ("chart_id", "fetched_day")
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY

    def get_records(self, context: Any) -> Iterator[dict[str, Any]]:
        chart_ids = list(dict.fromkeys(self.config.get("chart_ids") or ()))
        if not chart_ids:
            self.logger.info("Chart results: no chart_ids set, nothing to fetch")
            return
        fetcher = ChartFetcher(
            self.client,
            retry_wait=float(self.config.get("chart_retry_wait_seconds", DEFAULT_RETRY_WAIT)),
            max_wait=float(self.config.get("chart_max_wait_seconds", DEFAULT_MAX_WAIT)),
        )
        series = next((child for child in self.child_streams if isinstance(child, ChartSeriesStream)), None)
        for chart_id in chart_ids:
            result = fetcher.fetch(str(chart_id))
            fetched_at = self.client.server_now()[0]
            rows = series_records(result, fetched_at)
            if series is not None:
                series.pending = iter(rows)
            self.logger.info("Chart %s: fetched from /%s, %d series points", chart_id, result.endpoint, len(rows))
            yield result_record(result, fetched_at)
        self.logger.info(
            "Chart results: %d charts; %d HTTP 429 (cost budget or concurrency), %.1f s spent waiting them out",
            len(chart_ids), fetcher.rate_limited, fetcher.waited,
        )  # fmt: skip

    def get_child_context(self, record: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"chart_id": record["chart_id"]}


class ChartSeriesStream(DerivedStream):
    """A chart result's series, flattened: one record per (chart, fetch day, series, x value), handed over by
    `chart_results` from the same fetch."""

    name = "chart_series"
    schema = schemas.CHART_SERIES
    parent_stream_type = ChartResultsStream  # type: ignore[assignment]
    primary_keys = ("chart_id", "fetched_day", "series_index", "x_value")
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY
