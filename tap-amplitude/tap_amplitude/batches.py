"""BATCH messages (the SDK's `batch_config`): records stream into JSON Lines files as they are built, and a file
is announced by a BATCH message once it is complete.

The SDK's own batching does not fit this tap: it would hand the encoder the export's typed structs (written as
their Python repr), gather each file's records in a list, compress at gzip's slowest level, and let the hourly
STATE out before the batch holding that hour's records. Here:

- each record is encoded like a RECORD line's `record` (the same msgspec encoder) straight into its stream's
  file; nothing but one file buffer per stream is held in memory;
- when a file reaches `batch_size` records, every open file (events, and the users, revenue and groups fed from
  the same download) is closed and announced: a checkpoint; so is every file at the end of a top-level stream;
- STATE waits while any file holds records not yet announced, and goes out right after the next checkpoint: a
  STATE never covers a record that no BATCH message has named.

`BatchingStream`, the base of the tap's streams, sends its records and STATE here when `batch_config` is set.
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Callable
from functools import cached_property
from typing import IO, Any

from singer_sdk import Stream
from singer_sdk.helpers._batch import BatchConfig, BatchFileFormat, SDKBatchMessage
from upath import UPath

from tap_amplitude.output import ENCODER

BUFFER_BYTES = 1 << 20
# Batch files are read once, by the target, soon after: on 10,000 export events (18 MB of JSON) gzip's fastest
# level takes 0.12 s against 0.56 s at level 9 (the SDK's batcher), for a file of 2.0 MB instead of 1.3 MB.
GZIP_LEVEL = 1


class BatchConfigError(ValueError):
    """A `batch_config` this tap cannot write."""


def batch_config_from(raw: dict[str, Any] | None) -> BatchConfig | None:
    """The run's batch settings, or None for RECORD messages; only JSON Lines, plain or gzip, is written."""
    if not raw:
        return None
    config = BatchConfig.from_dict(dict(raw))
    if config.encoding.format != BatchFileFormat.JSONL:
        raise BatchConfigError(
            f"batch_config: encoding format {config.encoding.format!r} is not supported; use 'jsonl'"
        )
    if config.encoding.compression not in (None, "none", "gzip"):
        raise BatchConfigError(
            f"batch_config: compression {config.encoding.compression!r} is not supported; use 'gzip' or none"
        )
    if config.batch_size < 1:
        raise BatchConfigError("batch_config: batch_size must be at least 1")
    return config


class _File:
    """One stream's batch file being written."""

    def __init__(self, path: UPath, url: str, gzipped: bool) -> None:
        self.path = path
        self.url = url
        self.raw: IO[bytes] = path.open("wb")
        self.out: IO[bytes] = (
            gzip.GzipFile(fileobj=self.raw, mode="wb", compresslevel=GZIP_LEVEL) if gzipped else self.raw
        )
        self.buffer = bytearray()
        self.records = 0

    def write_pending(self) -> None:
        self.out.write(self.buffer)
        self.buffer.clear()

    def close(self) -> None:
        self.write_pending()
        if self.out is not self.raw:
            self.out.close()
        self.raw.close()

    def discard(self) -> None:
        try:
            if self.out is not self.raw:
                self.out.close()
            self.raw.close()
        finally:
            self.path.unlink(missing_ok=True)


class BatchOutput:
    """The run's batch files, one open file per stream at most, and the STATE held back until they are announced.

    `write_record` has the signature of `SingerOutput.write_record`, so a stream writes its records to either.
    """

    def __init__(self, config: BatchConfig, tap_name: str, write_message: Callable[[Any], None]) -> None:
        self.config = config
        self._write_message = write_message
        self._root = UPath(config.storage.root, **config.storage.params).resolve()
        self._prefix = f"{config.storage.prefix or ''}{tap_name}--"
        self._run = uuid.uuid4().hex[:12]
        self._suffix = ".jsonl.gz" if config.encoding.compression == "gzip" else ".jsonl"
        self._files: dict[str, _File] = {}
        self._numbers: dict[str, int] = {}
        self._held_state: Callable[[], None] | None = None
        self._announcing = False
        self._root_made = False
        self.announced = 0  # files

    @property
    def holding(self) -> bool:
        """Whether some record is in a file not yet announced (a STATE now could cover it)."""
        return bool(self._files) or self._announcing

    def write_record(self, stream: str, record: Any, version: int | None = None) -> None:
        """Append `record` (a dict or a msgspec struct) to `stream`'s file; a full file triggers a checkpoint."""
        file = self._files.get(stream) or self._open(stream)
        ENCODER.encode_into(record, file.buffer, -1)
        file.buffer += b"\n"
        file.records += 1
        if len(file.buffer) >= BUFFER_BYTES:
            file.write_pending()
        if file.records >= self.config.batch_size:
            self.checkpoint()

    def hold_state(self, write_state: Callable[[], None]) -> bool:
        """Whether a STATE must wait for the next checkpoint; if so, `write_state` writes it then. The tap's state is
        one object, so the newest STATE held covers the ones before it (streams whose state has not changed since
        their last STATE hold nothing: `write_state` would write nothing)."""
        if not self.holding:
            return False
        self._held_state = write_state
        return True

    def checkpoint(self) -> None:
        """Close and announce every open file, then let the held STATE out."""
        # A file leaves `_files` (what `discard` deletes) before its BATCH message, and `holding` stays true until
        # the last one is out: an exit at any point deletes no announced file and writes no early STATE.
        self._announcing = True
        try:
            for stream in list(self._files):
                file = self._files.pop(stream)
                file.close()
                self._write_message(SDKBatchMessage(stream=stream, encoding=self.config.encoding, manifest=[file.url]))
                self.announced += 1
        finally:
            self._announcing = False
        if self._held_state is not None:
            write_state, self._held_state = self._held_state, None
            write_state()

    def discard(self) -> None:
        """After a failure: delete the files not announced (no target will read them) and drop the held STATE."""
        files, self._files = self._files, {}
        self._held_state = None
        for file in files.values():
            file.discard()

    def _open(self, stream: str) -> _File:
        if not self._root_made:
            self._root.mkdir(parents=True, exist_ok=True)
            self._root_made = True
        number = self._numbers[stream] = self._numbers.get(stream, 0) + 1
        name = f"{self._prefix}{stream}-{self._run}-{number}{self._suffix}"
        file = self._files[stream] = _File(
            self._root / name, self.config.storage.get_url(name), self._suffix.endswith(".gz")
        )
        return file


class BatchingStream(Stream):
    """A stream whose records go to the tap's `BatchOutput` when `batch_config` is set, its STATE held back while
    the files holding the records before it are not announced; otherwise the SDK's RECORD messages."""

    @cached_property
    def batch_output(self) -> BatchOutput | None:
        return getattr(self._tap, "batch_output", None)

    def _sync_batches(self, batch_config: BatchConfig, context: Any = None) -> None:
        """The SDK's record pass, its records written to the batch files as they come."""
        output = self.batch_output
        if output is None:
            super()._sync_batches(batch_config, context=context)
            return
        try:
            for _ in self._sync_records(context=context):
                pass
        except BaseException:
            output.discard()
            raise
        if self.parent_stream_type is None:  # a child's records go out with its parent's next checkpoint
            output.checkpoint()

    def _write_record_message(self, record: Any) -> None:
        output = self.batch_output
        if output is None:
            super()._write_record_message(record)
            return
        # Deselected fields, conformance and stream maps as for RECORD messages; one file per output stream.
        for message in self._generate_record_messages(record):
            output.write_record(message.stream, message.record)
        self.state_manager.is_flushed = False

    def _write_state_message(self) -> None:
        output = self.batch_output
        if output is not None and not self.state_manager.is_flushed and output.hold_state(self._write_held_state):
            return
        super()._write_state_message()

    def _write_held_state(self) -> None:
        super()._write_state_message()
