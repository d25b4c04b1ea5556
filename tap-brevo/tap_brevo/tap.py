"""tap-brevo: settings, the `email_events` stream, and one run of its sources (webhooks, the report, or both)."""

from __future__ import annotations

import signal
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from singer_sdk.singerlib import StateMessage
from webhook_receiver import ReceiverError, SessionSettings, SpoolError, SpoolSession, seq_in, set_seq

from tap_brevo import receiving, statistics
from tap_brevo.client import DEFAULT_API_URL, BrevoClient, BrevoError, check_https
from tap_brevo.contacts import ContactLookup
from tap_brevo.emitter import Emitter
from tap_brevo.events import STATISTICS_NAMES
from tap_brevo.streams import EmailEventsStream

# A number, or its text: Meltano 4.4 cannot pass `kind: decimal` values set from the environment, so
# meltano.yml declares these settings as text and the tap reads both forms (with float()).
_NUMBER = th.CustomType({"type": ["number", "string"], "pattern": r"^-?[0-9]+(\.[0-9]+)?$"})
DEFAULT_SMTP_RESERVE = 50


class ConfigError(ValueError):
    """A setting that makes the run impossible; the message says which and why."""


class TapBrevo(Tap):
    """Brevo email engagement as `email_events`: marketing and transactional webhooks received over HTTP (durable
    before the 2xx), and/or the transactional events report pulled incrementally."""

    name = "tap-brevo"
    package_name = "tap-brevo-engagement"
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
        # -- sources
        th.Property("receive_webhooks", th.BooleanType, default=True,
                    description="Receive Brevo's webhooks over HTTP (runs until SIGTERM, or idle_exit_seconds)."),
        th.Property("pull_transactional", th.BooleanType, default=False,
                    description="Pull GET /smtp/statistics/events (transactional email) incrementally; needs api_key. "
                    "With receive_webhooks, the pull runs once the receiver listens."),
        # -- webhooks
        th.Property("auth_token", th.StringType, secret=True,
                    description="Bearer token Brevo sends (`Authorization: Bearer <token>`, the webhook's `auth`)."),
        th.Property("basic_username", th.StringType, secret=True,
                    description="Basic-auth user (credentials in the webhook URL, https://user:pass@host/...)."),
        th.Property("basic_password", th.StringType, secret=True, description="Basic-auth password."),
        th.Property("host", th.StringType, default="127.0.0.1",
                    description="Address to listen on. Loopback by default: put an HTTPS reverse proxy in front."),
        th.Property("port", th.IntegerType, default=8788, description="Port to listen on (0: any free port)."),
        th.Property("path_prefix", th.StringType, default="/brevo",
                    description="Transactional webhooks post to `<prefix>/transactional`, marketing (and contact) "
                    "webhooks to `<prefix>/marketing`. `GET /health` needs no credentials."),
        th.Property("max_body_bytes", th.IntegerType, default=20 * 1024 * 1024,
                    description="Largest request body accepted (batched webhooks carry up to 500 events); 413 beyond."),
        th.Property("spool_path", th.StringType, default=".tap-brevo/spool.sqlite3",
                    description="SQLite spool of accepted events (durable before the 200). Keep it on persistent "
                    "storage."),
        th.Property("spool_max_bytes", th.IntegerType, default=1024 * 1024 * 1024,
                    description="While undelivered items pass this size, requests get 503 (Brevo retries)."),
        th.Property("state_interval_seconds", _NUMBER, default=1,
                    description="A STATE message about this often while records flow."),
        th.Property("delivered_state_file", th.StringType,
                    description="The target's delivered-state file (its STATE written after delivery): the spool is "
                    "pruned through its seq while running. Without it, pruned at start through the input state."),
        th.Property("idle_exit_seconds", _NUMBER,
                    description="Exit once the spool is drained and nothing arrived for this long. Default: run "
                    "until SIGTERM or SIGINT."),
        th.Property("progress_interval_seconds", _NUMBER, default=30,
                    description="At most one progress line this often, when anything changed."),
        # -- API
        th.Property("api_key", th.StringType, secret=True,
                    description="Brevo API key (`api-key` header), for the pull, contact_lookup and "
                    "tap-brevo-webhooks."),
        th.Property("api_url", th.StringType, default=DEFAULT_API_URL, description="Brevo API base URL (HTTPS)."),
        # -- the pull
        th.Property("start_date", th.DateTimeType,
                    description="First moment the pull reads when there is no bookmark (default: 30 days ago)."),
        th.Property("statistics_window_days", th.IntegerType, default=7,
                    description="Days per startDate/endDate window of the pull (1 to 90)."),
        th.Property("statistics_page_size", th.IntegerType, default=5000,
                    description="Rows per page (`limit`, at most 5000), paged with `offset`."),
        th.Property("statistics_lookback_minutes", _NUMBER, default=60,
                    description="Rows this much older than the bookmark are read again (late rows; the target's "
                    "ledger drops repeats)."),
        th.Property("statistics_events", th.ArrayType(th.StringType),
                    description=f"Report event names to pull, one listing each ({', '.join(STATISTICS_NAMES)}). "
                    "Default: every event in one listing (fewest requests)."),
        th.Property("smtp_reserve_requests", th.IntegerType, default=DEFAULT_SMTP_RESERVE,
                    description="Requests of the 300/hour /smtp/* bucket left to the account's other users (e.g. "
                    "sending email): the pull waits for the bucket's reset when no more than this many remain."),
        # -- enrichment
        th.Property("contact_lookup", th.BooleanType, default=False,
                    description="Add the contact's ext_id (and contact_attributes) from a directory of the account's "
                    "contacts: read from GET /contacts in pages of 1,000 (later runs: only the contacts modified "
                    "since), again when an email is not in it (at most every 30 s); needs api_key."),
        th.Property("contact_directory_path", th.StringType, default=".tap-brevo/contacts.sqlite3",
                    description="SQLite file of that directory (email, contact id, ext_id, attributes); keep it "
                    "between runs so that they read only what changed."),
        th.Property("contact_attributes", th.ArrayType(th.StringType), default=[],
                    description="Contact attributes to copy into `contact_attributes` (e.g. AMPLITUDE_USER_ID)."),
    ).to_dict()  # fmt: skip

    _session: SpoolSession | None = None
    _stop_reason: str | None = None
    _running = False

    def discover_streams(self) -> list[Stream]:
        """Static: discovery needs no config and makes no call."""
        return [EmailEventsStream(tap=self)]

    # -- a run ----------------------------------------------------------------------------------------

    def run_sources(self, stream: Stream) -> None:
        """The run (called from the stream's sync): the pull and/or the webhook session, per the settings."""
        self._running = True
        try:
            self._run_sources(stream)
        except (ConfigError, ReceiverError, SpoolError) as exc:  # what to fix, in one line, no traceback
            self.logger.error("%s", exc)
            raise SystemExit(1) from None
        except BrevoError as exc:
            self.logger.error("Brevo API: %s", exc)
            raise SystemExit(1) from None

    def _run_sources(self, stream: Stream) -> None:
        config = self.config
        webhooks, pull = bool(config["receive_webhooks"]), bool(config.get("pull_transactional"))
        if not webhooks and not pull:
            raise ConfigError("nothing to do: set receive_webhooks and/or pull_transactional")
        client = self._client(stoppable=True) if pull else None
        # Lookups go on while the spool drains after a stop request: their client is not stopped by it.
        lookup_client = self._client(stoppable=False) if config.get("contact_lookup") else None
        contacts = None
        if lookup_client is not None:
            contacts = ContactLookup(
                lookup_client,
                config.get("contact_attributes") or [],
                self.logger,
                Path(config["contact_directory_path"]),
            )
        emitter = Emitter(stream if stream.selected else None, contacts)
        try:
            settings = statistics.pull_settings(config) if pull else None
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        items = receiving.WebhookItems(emitter.emit)
        if webhooks:
            self._receive(emitter, items, lambda: self._pull(client, settings, emitter, fatal=False) if pull else None)
        else:
            self._pull(client, settings, emitter, fatal=True)
        skipped = ", ".join(f"{why}: {count}" for why, count in sorted(items.skipped.items()))
        self.logger.info(
            "tap-brevo summary: %d records (%s); %d duplicates dropped; webhook items skipped: %s%s",
            emitter.emitted[stream.name],
            ", ".join(f"{source} {count}" for source, count in sorted(emitter.by_source.items())) or "none",
            emitter.duplicates,
            skipped or "none",
            f"; contacts: {contacts.looked_up} records enriched, {contacts.not_found} without a contact, "
            f"{contacts.contacts_read} contacts read ({contacts.failures} failed reads)"
            if contacts
            else "",
        )
        for used in (client, lookup_client):
            if used is not None:
                used.close()

    def _client(self, *, stoppable: bool) -> BrevoClient:
        api_key = self.config.get("api_key")
        if not api_key:
            raise ConfigError("api_key is required for pull_transactional and contact_lookup")
        try:
            check_https(self.config["api_url"], "api_url")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        reserve = int(self.config["smtp_reserve_requests"])
        stopping = self._stopping if stoppable else (lambda: False)
        return BrevoClient(self.config["api_url"], api_key, self.logger, reserves={"smtp": reserve}, stopping=stopping)

    def _receive(self, emitter: Emitter, items: receiving.WebhookItems, on_listening: Any) -> None:
        settings = SessionSettings.from_config(self.config)
        try:
            endpoints, auth_note = receiving.endpoints(
                settings.path_prefix, receiving.WebhookAuth.from_config(self.config)
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self._session = SpoolSession(
            settings,
            endpoints,
            emit=items,
            write_state=self._write_spool_state,
            stream_names=("email_events",),
            emitted=emitter.emitted,
            logger=self.logger,
            source="Brevo",
            auth_note=auth_note,
        )
        if self._stop_reason is not None:
            self._session.request_stop(self._stop_reason)
        self._session.run(seq_in(self.state), on_listening=on_listening)

    def _pull(
        self, client: BrevoClient | None, settings: statistics.PullSettings | None, emitter: Emitter, *, fatal: bool
    ) -> None:
        assert client is not None and settings is not None
        pull = statistics.StatisticsPull(
            client,
            settings,
            emit=emitter.emit,
            save=self._write_pull_state,
            stopping=self._stopping,
            logger=self.logger,
        )
        try:
            pull.run(statistics.bookmark_in(self.state))
        except BrevoError as exc:
            if fatal:
                raise
            # The webhooks go on: the pull is the fallback, and the next run reads from the same bookmark.
            self.logger.error("The pull stopped (Brevo API: %s); receiving webhooks goes on", exc)

    def _stopping(self) -> bool:
        return self._stop_reason is not None or (self._session is not None and self._session.stopping)

    # -- state ----------------------------------------------------------------------------------------

    def _write_spool_state(self, seq: int, repeat: bool) -> None:
        set_seq(self.state, seq)  # type: ignore[arg-type]
        if repeat:  # the SDK's state writer would drop an unchanged state
            self.message_writer.write_message(StateMessage(value=self.state))
        else:
            self.state_writer.write_state(self.state)

    def _write_pull_state(self, bookmark: datetime) -> None:
        statistics.set_bookmark(self.state, bookmark)  # type: ignore[arg-type]
        self.state_writer.write_state(self.state)

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """The first SIGTERM/SIGINT stops the run gracefully (the pull between pages; the receiver stops accepting,
        the spool is drained, a final STATE); a second one exits at once as the SDK does."""
        if self._running and self._stop_reason is None:
            self._stop_reason = signal.Signals(signum).name
            if self._session is not None:
                self._session.request_stop(self._stop_reason)
            return
        super()._handle_termination(signum, frame)
