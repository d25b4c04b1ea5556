"""tap-amplitude: settings and streams."""

from __future__ import annotations

import logging
from functools import cached_property
from types import FrameType
from typing import Any

from singer_sdk import Stream, Tap, metrics
from singer_sdk import typing as th
from singer_sdk.plugin_base import PluginBase

from tap_amplitude import streams
from tap_amplitude.batches import BatchConfigError, BatchOutput, batch_config_from
from tap_amplitude.charts import DEFAULT_MAX_WAIT, DEFAULT_RETRY_WAIT
from tap_amplitude.client import CredentialsError
from tap_amplitude.logs import quiet_sdk
from tap_amplitude.output import SingerOutput
from tap_amplitude.privacy import DEFAULT_LOOKBACK_DAYS
from tap_amplitude.revenue import DEFAULT_PROPERTIES, REVENUE_FIELDS

STREAM_TYPES: tuple[type[Stream], ...] = (
    streams.EventsStream,
    streams.UsersStream,
    streams.RevenueStream,
    streams.GroupsStream,
    streams.CohortsStream,
    streams.CohortMembersStream,
    streams.EventTypesStream,
    streams.DeletionsStream,
    streams.ChartResultsStream,
    streams.ChartSeriesStream,
)


# A number, or its text: Meltano 4.4 cannot pass `kind: decimal` values set from the environment, so
# meltano.yml declares these settings as text and the tap reads both forms (with float()).
_NUMBER = th.CustomType({"type": ["number", "string"], "pattern": r"^-?[0-9]+(\.[0-9]+)?$"})


class TapAmplitude(Tap):
    """Amplitude events (Export API), users, revenue and groups derived from them, cohorts, cohort members, event
    types, deletion jobs (User Privacy API), saved chart results (Dashboard REST API)."""

    name = "tap-amplitude"
    package_name = "tap-amplitude-export"  # the distribution's name (for the version in logs and --about)
    message_writer_class = SingerOutput

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            description="Project API key (HTTP Basic user name for the Export and Dashboard APIs).",
        ),
        th.Property(
            "secret_key",
            th.StringType,
            required=True,
            secret=True,
            description="Project secret key (HTTP Basic password).",
        ),
        th.Property(
            "data_center",
            th.StringType,
            default="US",
            allowed_values=["US", "EU"],
            description="Where the project lives: US (https://amplitude.com) or EU "
            "(https://analytics.eu.amplitude.com). A wrong region answers 403 Invalid API Key.",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            required=True,
            description="First hour to export (UTC, by server_upload_time) when there is no bookmark.",
        ),
        th.Property(
            "end_date",
            th.DateTimeType,
            description="Optional end for backfills (exclusive, UTC): hours from this one on are not exported.",
        ),
        th.Property(
            "export_window_hours",
            th.IntegerType,
            default=24,
            description="Hours per Export API request. On HTTP 400 (export over 4 GB) or 504 the window is "
            "halved and retried, down to one hour.",
        ),
        th.Property(
            "export_workers",
            th.IntegerType(minimum=0),
            description="Worker processes that decompress, decode and encode export events when events is the "
            "only export stream selected and its records go out unchanged (no stream map, every field). 0 does all "
            "the work in the tap's own process. Default: one per CPU, at most 4; 0 on a single CPU.",
        ),
        th.Property(
            "export_latency_hours",
            th.IntegerType,
            default=2,
            description="Amplitude's export latency: the newest exported hour is "
            "floor_hour(server now) - (export_latency_hours + 1) h, so every exported hour is "
            "final and re-runs need no look-back. Now is read from the Date header of "
            "Amplitude's response.",
        ),
        th.Property(
            "event_types_include",
            th.ArrayType(th.StringType),
            description="Only these event types (applied while streaming, to events, users and revenue).",
        ),
        th.Property(
            "event_types_exclude",
            th.ArrayType(th.StringType),
            description="Skip these event types (applied while streaming, to events, users and revenue).",
        ),
        th.Property(
            "revenue_properties",
            th.ObjectType(
                *(
                    th.Property(
                        field,
                        th.ArrayType(th.StringType),
                        description=f"Event properties holding {field}. Default: {DEFAULT_PROPERTIES[field]}.",
                    )
                    for field in REVENUE_FIELDS
                ),
                additional_properties=False,
            ),
            default=DEFAULT_PROPERTIES,
            description="Revenue record field (revenue, price, quantity, product_id, revenue_type, currency) -> "
            "plain event properties holding it, tried in order after Amplitude's own `$` field ($revenue, $price, "
            "$quantity, $productId, $revenueType, $currency). An event with a revenue or a price is a revenue "
            "event. A field left out keeps its default; [] reads only the `$` field.",
        ),
        th.Property(
            "revenue_event_types",
            th.ArrayType(th.StringType),
            description="Only these event types' plain properties (revenue_properties) count as revenue; "
            "Amplitude's `$` revenue fields count on every event type. Default: every event type.",
        ),
        th.Property(
            "cohort_ids",
            th.ArrayType(th.StringType),
            description="Cohorts for cohort_members, by id or by name. Default: every non-archived cohort.",
        ),
        th.Property(
            "cohort_properties",
            th.ArrayType(th.StringType),
            description="User properties (propKeys) to request with cohort members. Default: none.",
        ),
        th.Property(
            "cohort_poll_timeout",
            _NUMBER,
            default=1800,
            description="Seconds to wait for a cohort download job before failing.",
        ),
        th.Property(
            "cohort_poll_interval",
            _NUMBER,
            default=2,
            description="First wait between cohort job status polls, in seconds; doubles up to 60.",
        ),
        th.Property(
            "deletions_lookback_days",
            th.IntegerType,
            default=DEFAULT_LOOKBACK_DAYS,
            description="Days before the deletions bookmark (the newest job day seen) that every run lists again, "
            "so jobs re-emerge with their new status (staging, submitted, done: up to about 35 days after the "
            "request). Each run lists jobs up to 31 days after today (Amplitude's clock).",
        ),
        th.Property(
            "chart_ids",
            th.ArrayType(th.StringType),
            description="Saved charts (ids, as in the chart's URL) whose results chart_results and chart_series fetch "
            "on every run, from /api/3/chart/{id}/query, else /csv. Default: none (the streams emit nothing).",
        ),
        th.Property(
            "chart_retry_wait_seconds",
            _NUMBER,
            default=DEFAULT_RETRY_WAIT,
            description="First wait after a chart query's HTTP 429 (the Dashboard API's cost budget, 1,000 per "
            "5 minutes per project, or its 5 concurrent requests); doubles up to 300. Retry-After wins if longer.",
        ),
        th.Property(
            "chart_max_wait_seconds",
            _NUMBER,
            default=DEFAULT_MAX_WAIT,
            description="Seconds one chart may spend waiting out HTTP 429s before the run fails.",
        ),
        th.Property(
            "request_timeout",
            _NUMBER,
            default=300,
            description="Seconds to wait for an HTTP response (connect and each read).",
        ),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=5,
            description="Retries for 429, 5xx, dropped connections and 200 bodies that are not a zip.",
        ),
        th.Property(
            "retry_backoff_seconds",
            _NUMBER,
            default=1.0,
            description="First retry wait in seconds; doubles per attempt (Retry-After wins if longer).",
        ),
        th.Property(
            "api_url",
            th.StringType,
            description="Pin the Export/Dashboard host whatever data_center says (a warning names both when it "
            "is the other data center's host). Must be https, except for loopback hosts. Default: chosen by "
            "data_center.",
        ),
        th.Property(
            "api_urls",
            th.ObjectType(th.Property("US", th.StringType), th.Property("EU", th.StringType)),
            description="Export/Dashboard host per data center (e.g. the sandbox's US and EU ports); data_center "
            "picks one. A data center left out uses Amplitude's host.",
        ),
    ).to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        quiet_sdk([logging.getLogger(self.name)], metrics.get_metrics_logger())  # before the SDK's first words
        super().__init__(*args, **kwargs)
        quiet_sdk([], self.metrics_logger)  # the SDK set its level from LOGLEVEL in __init__

    @cached_property
    def batch_output(self) -> BatchOutput | None:
        """With `batch_config`: the run's batch files (batches.py), which every stream writes its records to."""
        config = batch_config_from(self.config.get("batch_config"))
        return BatchOutput(config, self.name, self.write_message) if config is not None else None

    def sync_all(self) -> None:
        try:
            output = self.batch_output
            super().sync_all()
        except (CredentialsError, BatchConfigError) as exc:  # what to fix in one line (`meltano config test` too)
            self.logger.error("%s", exc)
            raise SystemExit(1) from None
        if output is not None:
            self.logger.info("BATCH messages: %d files under %s", output.announced, output.config.storage.root)

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """On SIGTERM or SIGINT the SDK writes the state as it stands; while batch files are not yet announced that
        state covers records no target was told about, so the last STATE sent must stand instead. A signal that
        arrives while output is being written is handled once that write is complete."""
        writer = self.message_writer
        if isinstance(writer, SingerOutput) and writer.defer_while_writing(
            lambda: self._handle_termination(signum, frame)
        ):
            return
        try:
            output = self.batch_output
        except BatchConfigError:
            output = None
        if output is not None and output.holding:  # (the files not announced are deleted as the exit unwinds)
            PluginBase._handle_termination(self, signum, frame)
        else:
            super()._handle_termination(signum, frame)

    def discover_streams(self) -> list[Stream]:
        """Static schemas: discovery makes no API call (Meltano runs it on every `meltano run`)."""
        found = [stream_type(tap=self) for stream_type in STREAM_TYPES]
        quiet_sdk([stream.logger for stream in found], self.metrics_logger)
        return found
