"""TargetBrevo: settings, routing streams to sinks by `stream_types`, STATE only after delivery."""

from __future__ import annotations

import functools
import logging
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import orjson
from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.sinks import Sink

from target_brevo.runtime import Runtime
from target_brevo.settings import STREAM_TYPES, Settings, parse_settings
from target_brevo.sinks.base import BrevoSink
from target_brevo.sinks.contacts import ContactsSink
from target_brevo.sinks.events import EventsSink
from target_brevo.sinks.list_members import ListMembersSink
from target_brevo.sinks.lists import ListsSink
from target_brevo.sinks.orders import OrdersSink
from target_brevo.sinks.skip import SkipSink

SINKS: dict[str, type[BrevoSink]] = {
    "contacts": ContactsSink,
    "events": EventsSink,
    "orders": OrdersSink,
    "list_members": ListMembersSink,
    "lists": ListsSink,
    "skip": SkipSink,
}
SUMMARY_LOGGER = logging.getLogger("target_brevo.summary")

_STRING_MAP = th.ObjectType(additional_properties=th.StringType)
# A number, or its text: Meltano 4.4 cannot pass `kind: decimal` values set from the environment, so
# meltano.yml declares these settings as text and the target reads both forms.
_NUMBER = th.CustomType({"type": ["number", "string"], "pattern": r"^-?[0-9]+(\.[0-9]+)?$"})


def _fields(description: str, names: list[str]) -> th.Property:
    return th.Property(
        "x", th.ObjectType(*(th.Property(n, th.StringType(nullable=True)) for n in names), additional_properties=False),
        description=description,
    )


def _named(prop: th.Property, name: str) -> th.Property:
    prop.name = name
    return prop


CONFIG_SCHEMA = th.PropertiesList(
    th.Property("api_key", th.StringType, required=True, secret=True,
                description="Brevo API v3 key (`xkeysib-...`), sent in the `api-key` header. Never logged."),
    th.Property("api_url", th.StringType, default="https://api.brevo.com/v3",
                description="Brevo API base URL. Override for the sandbox; plain http only for loopback hosts."),
    th.Property("stream_types", _STRING_MAP,
                description="Stream name -> one of " + ", ".join(f"`{t}`" for t in STREAM_TYPES) + ". Merged over the "
                "defaults users->contacts, events->events, revenue->orders, cohort_members->list_members, "
                "cohorts->lists. Unrouted streams are skipped with one warning each."),
    th.Property("email_field", th.CustomType({"type": ["string", "array", "null"], "items": {"type": "string"}}),
                description="Record property or dotted path (or a list, first non-empty wins) holding the contact "
                "email. Default: the property that `property_mapping` maps to `email`, then `email`, "
                "`user_properties.email`."),
    th.Property("ext_id_field", th.CustomType({"type": ["string", "array", "null"], "items": {"type": "string"}}),
                description="Record property or path (or list) giving the contact ext_id. Default `user_id`."),
    th.Property("property_mapping", th.ObjectType(additional_properties=th.CustomType({"type": ["string", "object"]})),
                description="Record property or dotted path -> Brevo attribute (e.g. `first_name: FIRSTNAME`, "
                "`phone: SMS`, `user_properties.plan: PLAN`). Target `email` sets the email identity. Nested "
                "objects read as paths (`{user_properties: {plan: PLAN}}` = `user_properties.plan: PLAN`), which "
                "is how Meltano passes dotted keys."),
    th.Property("attribute_types", _STRING_MAP,
                description="Brevo attribute -> type (`text`, `date`, `float`, `boolean`, `multiple-choice`) used "
                "when creating a missing attribute. Default: derived from the stream schema."),
    th.Property("create_missing_attributes", th.BooleanType, default=True,
                description="Create mapped contact attributes that do not exist in Brevo (category `normal`)."),
    th.Property("default_region", th.StringType,
                description="ISO 3166 region (e.g. `FR`) for phone numbers written without a country code; phones "
                "are sent in E.164."),
    th.Property("event_mapping", _STRING_MAP,
                description="Source event type -> Brevo event name (e.g. `Purchase: order_completed`). Names are "
                "validated at start-up: 1-255 letters, digits, `-`, `_`."),
    th.Property("forward_unmapped_events", th.BooleanType, default=False,
                description="Also send events without an `event_mapping` entry, with names normalised to Brevo's "
                "allowed characters. Off: they are counted and skipped."),
    th.Property("event_contact_properties", _STRING_MAP,
                description="Event record property or path -> contact attribute sent as `contact_properties`."),
    _named(_fields("Event record fields: `uuid` (ledger key), `name`, `time`, `properties`. Defaults `uuid`, "
                   "`event_type`, `event_time`, `event_properties`.", ["uuid", "name", "time", "properties"]),
           "event_fields"),
    _named(_fields("Order record fields: `id`, `created_at`, `amount`, `price`, `quantity`, `product_id`, `status`, "
                   "`revenue_type`, `currency`. Defaults: `uuid`, `event_time`, `revenue`, `price`, `quantity`, "
                   "`product_id`, `order_status`, `revenue_type`, `currency`.",
                   ["id", "created_at", "amount", "price", "quantity", "product_id", "status", "revenue_type", "currency"]),
           "order_fields"),
    th.Property("order_status", th.StringType, default="completed",
                description="Order status when the record has none."),
    th.Property("orders_historical", th.BooleanType, default=True,
                description="Send orders as historical (`historical: true`), so backfills do not trigger "
                "automations."),
    _named(_fields("List-member record fields: `cohort_id`, `cohort_name`, `snapshot_size` (members in the complete "
                   "snapshot) and `snapshot_complete` (an optional boolean completion marker). Defaults "
                   "`cohort_id`, `cohort_name`, `snapshot_size`, none.",
                   ["cohort_id", "cohort_name", "snapshot_size", "snapshot_complete"]), "cohort_fields"),
    _named(_fields("Lists-stream record fields: `id` and `name`. Defaults `id`, `name`.", ["id", "name"]), "list_fields"),
    th.Property("lists", th.ObjectType(additional_properties=th.CustomType({
        "anyOf": [
            {"type": "integer"},
            {"type": "string"},
            {"type": "object", "properties": {
                "list_id": {"type": "integer"}, "list_name": {"type": "string"},
                "sync_mode": {"type": "string", "enum": ["mirror", "append", "remove"]},
                "max_removal_fraction": {"type": "number"}, "allow_large_removals": {"type": "boolean"},
            }, "additionalProperties": False},
        ]})),
        description="Cohort id or name -> Brevo list id (e.g. `power_users: 11`), list name, or "
        "`{list_id|list_name, sync_mode, max_removal_fraction, allow_large_removals}`."),
    th.Property("create_missing_lists", th.BooleanType, default=False,
                description="Create a Brevo list (named after the cohort, or `list_name`) in `lists_folder` when none "
                "is found."),
    th.Property("lists_folder", th.StringType, default="target-brevo",
                description="Folder that created lists go into (created if missing)."),
    th.Property("contacts_list_id", th.IntegerType,
                description="List every imported contact joins (Brevo's import requires one). Default: the list "
                "named `contacts_list_name`, created if missing."),
    th.Property("contacts_list_name", th.StringType, default="target-brevo contacts",
                description="Name of the contacts list used when `contacts_list_id` is not set."),
    th.Property("cohort_sync_mode", th.StringType, default="mirror", allowed_values=["mirror", "append", "remove"],
                description="How cohort members change lists: `mirror` (add, and remove those no longer in a complete "
                "snapshot), `append` (add only), `remove` (remove the received members)."),
    th.Property("mirror_max_removal_fraction", _NUMBER, default=0.25,
                description="Mirror never removes more than this fraction of a list's members in one run."),
    th.Property("mirror_allow_large_removals", th.BooleanType, default=False,
                description="Apply mirror removals above `mirror_max_removal_fraction`."),
    th.Property("dry_run", th.BooleanType, default=False,
                description="Plan only: read from Brevo, report what would change, write nothing."),
    th.Property("rejects_file", th.StringType,
                description="JSONL file (mode 0600) receiving rejected records with stream, key and reason."),
    th.Property("ledger_path", th.StringType, default=".target-brevo/ledger.sqlite3",
                description="SQLite delivery ledger of accepted event uuids; keep it between runs."),
    th.Property("summary_file", th.StringType, description="Also write the run summary (JSON) to this file."),
    th.Property("flush_interval_seconds", _NUMBER, default=300.0,
                description="How often a STATE is made durable: on a STATE message at least this long after the last "
                "flush, every held record is sent (partial batches too), the imports are waited for, and that STATE "
                "is emitted. Full batches are sent as they fill whatever the interval. 0 flushes at every STATE."),
    th.Property("import_max_rows", th.IntegerType, default=100_000, description="Contacts per /contacts/import call."),
    th.Property("import_max_bytes", th.IntegerType, default=8_000_000,
                description="Bytes per /contacts/import body (Brevo caps at 10 MB, recommends 8)."),
    th.Property("events_batch_max_events", th.IntegerType, default=200, description="Events per /events/batch (<= 200)."),
    th.Property("events_batch_max_bytes", th.IntegerType, default=512_000,
                description="Bytes per /events/batch body (<= 512 KB)."),
    th.Property("orders_batch_max_orders", th.IntegerType, default=1000,
                description="Orders per /orders/status/batch (<= 1000)."),
    th.Property("orders_batch_max_bytes", th.IntegerType, default=5_000_000,
                description="Bytes per /orders/status/batch body (<= 5 MB)."),
    th.Property("list_call_max_contacts", th.IntegerType, default=150,
                description="Contacts per list add/remove call (<= 150)."),
    th.Property("list_import_threshold", th.IntegerType, default=1500,
                description="Adds to one list above this many members in one flush go through /contacts/import with "
                "the list id (one call per import body) instead of contacts/add (150 per call); so do all adds while "
                "contacts are being imported anyway."),
    th.Property("max_retries", th.IntegerType, default=5, description="Retries of a call after 5xx or timeouts."),
    th.Property("backoff_base_seconds", _NUMBER, default=0.5, description="First retry delay (doubles, jittered)."),
    th.Property("backoff_max_seconds", _NUMBER, default=30.0, description="Longest retry delay."),
    th.Property("request_timeout_seconds", _NUMBER, default=60.0, description="HTTP timeout per call."),
    th.Property("process_poll_initial_seconds", _NUMBER, default=1.0,
                description="Expected import time per 10,000 rows before the first poll, until the run has seen "
                "an import complete (then its own timing is used); later polls wait at least this, doubling up to "
                "the max."),
    th.Property("process_poll_max_seconds", _NUMBER, default=30.0, description="Longest wait between polls."),
    th.Property("process_timeout_seconds", _NUMBER, default=3600.0,
                description="Give up on an import process after this long."),
).to_dict()


class TargetBrevo(Target):
    """Singer target for Brevo: contacts, events, cohort lists and revenue."""

    name = "target-brevo"
    config_jsonschema: ClassVar[dict] = CONFIG_SCHEMA
    default_sink_class = SkipSink
    message_reader_class = MsgSpecReader

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_parallelism = 1
        self._warned_streams: set[str] = set()

    @functools.cached_property
    def settings(self) -> Settings:
        return parse_settings(dict(self.config))

    @functools.cached_property
    def runtime(self) -> Runtime:
        return Runtime(self.settings)

    def setup_mapper(self) -> None:
        _ = self.settings  # configuration errors (event names, lists, URL) surface at start-up
        super().setup_mapper()

    # -- routing ------------------------------------------------------------------------------
    def get_sink_class(self, stream_name: str) -> type[Sink]:
        kind = self.settings.stream_types.get(stream_name)
        if kind is None:
            if stream_name not in self._warned_streams:
                self._warned_streams.add(stream_name)
                self.logger.warning("Stream %r is not routed by stream_types; its records are skipped", stream_name)
            return SkipSink
        return SINKS[kind]

    # -- flushing: buffer across STATEs, deliver everything when a STATE is due ----------------
    def get_sink(self, stream_name: str, *, record: dict | None = None, schema: dict | None = None,
                 key_properties: Any = None) -> Sink:
        existing = self._sinks_active.get(stream_name) if schema is not None else None
        if existing is not None and (existing.original_schema != schema or existing.key_properties != key_properties):
            self.drain_one(existing)  # a new schema starts a new sink: send what the old one holds first
        return super().get_sink(stream_name, record=record, schema=schema, key_properties=key_properties)

    def _drain_all(self, sink_list: Any, parallelism: int) -> None:
        """Flush every sink, contacts first, then wait until Brevo has applied every import."""
        for sink in sorted(sink_list, key=lambda s: getattr(s, "priority", 50)):
            self.drain_one(sink)
        # drain_all flushes the retired sinks, then the active ones: wait once, after the active ones
        if sink_list is not self._sinks_to_clear and "runtime" in self.__dict__:
            self.runtime.imports.settle()

    def _handle_max_record_age(self) -> None:
        """Flushes happen on STATE messages (see `_process_state_message`), not on a fixed record age."""

    def _process_state_message(self, message_dict: dict) -> None:
        """Remember the STATE; deliver everything before it and emit it only when a flush is due.

        Sinks send full requests as they fill, whatever the STATEs; a flush sends the partial ones,
        waits for the imports and then emits the latest STATE (which every delivered record precedes).
        Flushing at every STATE would cut a request short for each of them (a tap may send one per
        exported hour), and Brevo's 100-per-hour bucket makes short batches expensive.
        """
        self._assert_line_requires(message_dict, requires={"value"})
        state = message_dict["value"]
        if self._latest_state == state:
            return
        self._latest_state = state
        if time.time() - self._last_full_drain_at >= self.settings.flush_interval_seconds:
            self.drain_all()

    def _write_state_message(self, state: dict) -> None:
        if state == getattr(self, "_last_written_state", None):
            return
        if self.settings.dry_run:
            # nothing was written: a bookmark here would make the next real run skip these records
            if getattr(self, "_last_written_state", None) is None:
                self.logger.info("Dry run: STATE messages are not emitted")
            self._last_written_state = state
            return
        self._last_written_state = state
        super()._write_state_message(state)

    def _handle_termination(self, signum: int, frame: Any) -> None:  # pragma: no cover - signal path
        # Draining here could acknowledge a batch that is half sent (meltano/sdk#3775): stop instead.
        # Records after the last STATE come again on the next run; the ledger drops repeats.
        self.logger.warning("Received signal %d: stopping without emitting STATE for undelivered records", signum)
        self._finish(ok=False)
        sys.exit(128 + signum)

    def process_endofpipe(self) -> None:
        super().process_endofpipe()
        self.runtime.list_sync.finish()
        self._finish(ok=True)

    def _finish(self, *, ok: bool) -> None:
        if "runtime" not in self.__dict__:
            return
        runtime = self.runtime
        summary = runtime.report.summary(runtime.client.stats)
        summary["completed"] = ok
        self.summary = summary
        text = orjson.dumps(summary).decode()
        SUMMARY_LOGGER.info("target-brevo run summary: %s", runtime.client.redact(text))
        if self.settings.summary_file:
            path = Path(self.settings.summary_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(runtime.client.redact(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode()) + "\n")
        runtime.close()
        del self.__dict__["runtime"]


if __name__ == "__main__":
    TargetBrevo.cli()
