"""tap-amplitude-streaming: settings and streams of the long-lived tap fed by Amplitude's webhook destinations."""

from __future__ import annotations

import copy
import signal
from types import FrameType
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from webhook_receiver import ReceiverError, SpoolError

from tap_amplitude.output import SingerOutput
from tap_amplitude.revenue import RevenueReader
from tap_amplitude.streaming import streams
from tap_amplitude.streaming.records import RecordBuilder
from tap_amplitude.streaming.session import COHORTS_PATH, STREAM_PATH, Settings, StreamingSession
from tap_amplitude.tap import _NUMBER, TapAmplitude

STREAM_TYPES: tuple[type[Stream], ...] = (
    streams.StreamedEventsStream,
    streams.StreamedRevenueStream,
    streams.StreamedUsersStream,
    streams.CohortMembershipChangesStream,
)

# The export tap declares these (type, default, description); they are taken from it as they are, so that a streamed
# event gives the `revenue` record the export gives for it under the same settings.
REVENUE_SETTINGS = ("revenue_properties", "revenue_event_types")


def _export_setting(name: str) -> dict[str, Any]:
    return copy.deepcopy(TapAmplitude.config_jsonschema["properties"][name])


class TapAmplitudeStreaming(Tap):
    """Amplitude's Webhooks Streaming (events, their revenue, users) and Cohort Webhooks (membership changes),
    received over HTTP, made durable in a spool, emitted as Singer records; runs until stopped."""

    name = "tap-amplitude-streaming"
    package_name = "tap-amplitude-export"  # the distribution's name (for the version in logs and --about)
    message_writer_class = SingerOutput
    # Not BATCH (files of records, for bulk extracts) nor ACTIVATE_VERSION (full-table versions): records stream.
    capabilities = [  # noqa: RUF012
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    config_jsonschema = th.PropertiesList(
        th.Property(
            "secret",
            th.StringType,
            required=True,
            secret=True,
            description="The exact value Amplitude must send in `secret_header` (set it as a custom header in both "
            "destinations), e.g. `Bearer <a long random string>`. Other requests get 401.",
        ),
        th.Property(
            "secret_header",
            th.StringType,
            default="Authorization",
            description="The request header carrying `secret`.",
        ),
        th.Property(
            "host",
            th.StringType,
            default="127.0.0.1",
            description="Address to listen on. Loopback by default: put an HTTPS reverse proxy in front, or use "
            "0.0.0.0 inside a container.",
        ),
        th.Property(
            "port",
            th.IntegerType,
            default=8787,
            description="Port to listen on (0: any free port, logged at start).",
        ),
        th.Property(
            "path_prefix",
            th.StringType,
            default="/amplitude",
            description=f"URL path prefix: Webhooks Streaming posts to `<prefix>{STREAM_PATH}` (events, and users "
            f"with Send Users), Cohort Webhooks to `<prefix>{COHORTS_PATH}`. `GET /health` needs no secret.",
        ),
        th.Property(
            "max_body_bytes",
            th.IntegerType,
            default=10 * 1024 * 1024,
            description="Largest request body accepted; larger ones get 413.",
        ),
        th.Property(
            "spool_path",
            th.StringType,
            default=".tap-amplitude-streaming/spool.sqlite3",
            description="SQLite spool of accepted items (made durable before the 200). Keep it on persistent "
            "storage: it holds what was acknowledged to Amplitude and not yet delivered.",
        ),
        th.Property(
            "spool_max_bytes",
            th.IntegerType,
            default=1024 * 1024 * 1024,
            description="Size guard: while the undelivered items pass this many bytes, requests get 503 (Amplitude "
            "retries them later).",
        ),
        th.Property(
            "state_interval_seconds",
            _NUMBER,
            default=1,
            description="A STATE message about this often while records flow.",
        ),
        th.Property(
            "delivered_state_file",
            th.StringType,
            description="The file target-brevo's `state_ack_file` writes (set both to the same path): the last "
            "STATE the target emitted, i.e. delivered. Read every few seconds; the spool is pruned through its "
            "seq. Without it the spool is pruned only at start, through the input state.",
        ),
        th.Property(
            "idle_exit_seconds",
            _NUMBER,
            description="Exit once the spool is drained and nothing arrived for this many seconds (tests, batch "
            "use). Default: run until SIGTERM or SIGINT.",
        ),
        th.Property(
            "progress_interval_seconds",
            _NUMBER,
            default=30,
            description="At most one progress line this often (received, emitted, pending), when anything changed.",
        ),
        *(th.Property(name, th.CustomType(_export_setting(name))) for name in REVENUE_SETTINGS),
    ).to_dict()

    _session: StreamingSession | None = None

    def discover_streams(self) -> list[Stream]:
        """Static schemas: discovery needs no config and makes no call."""
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]

    def run_session(self) -> None:
        """Receive, spool and emit until stopped (called from the `events` stream's sync)."""
        builder = RecordBuilder(RevenueReader.from_config(self.config))
        self._session = StreamingSession(self, self.streams, Settings.from_config(self.config), builder, self.logger)
        try:
            self._session.run()
        except (ReceiverError, SpoolError) as exc:  # what to fix (port taken, spool locked, disk), no traceback
            self.logger.error("%s", exc)
            raise SystemExit(1) from None

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """The first SIGTERM/SIGINT stops the session gracefully (stop accepting, drain, final STATE); a second
        one, or one outside the session, exits at once as the SDK does."""
        session = self._session
        if session is not None and session.request_stop(signal.Signals(signum).name):
            return
        super()._handle_termination(signum, frame)
