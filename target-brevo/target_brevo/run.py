"""One run's parts, built from the settings, wired together, and closed at the end."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from target_brevo.brevo.api import BrevoApi
from target_brevo.brevo.http import BrevoHttp
from target_brevo.cohorts.deltas import DeltaSync
from target_brevo.cohorts.lists import ListDirectory
from target_brevo.cohorts.store import MemberStore
from target_brevo.cohorts.sync import CohortSync
from target_brevo.cohorts.writes import ListWriter
from target_brevo.companies.sync import CompanySync
from target_brevo.delivery.attributes import AttributeCatalog
from target_brevo.delivery.contacts import ContactDelivery
from target_brevo.delivery.events import EventDelivery
from target_brevo.delivery.existing import ExistingContacts
from target_brevo.delivery.flush import FlushPolicy
from target_brevo.delivery.imports import ContactImports
from target_brevo.delivery.ledger import Ledger
from target_brevo.delivery.orders import OrderDelivery
from target_brevo.delivery.upserts import ContactUpserts
from target_brevo.privacy.erasure import Erasures
from target_brevo.privacy.gate import PrivacyGate
from target_brevo.privacy.store import PrivacyStore
from target_brevo.report import RejectsFile, RunReport
from target_brevo.settings import Settings
from target_brevo.sinks.base import BrevoSink, SkipSink
from target_brevo.sinks.changes import ListChangesSink
from target_brevo.sinks.companies import CompaniesSink
from target_brevo.sinks.contacts import ContactsSink
from target_brevo.sinks.deletions import DeletionsSink
from target_brevo.sinks.events import EventsSink
from target_brevo.sinks.lists import ListsSink
from target_brevo.sinks.members import ListMembersSink
from target_brevo.sinks.orders import OrdersSink

SinkFactory = Callable[..., BrevoSink]
LOGGER = logging.getLogger("target_brevo")


class Run:
    """The Brevo API, the report, imports, the ledger and cohort sync of one run, and the sinks they feed.

    The ledger and the member store open on first use: a run without events or cohorts creates neither.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.http = BrevoHttp(settings.api_key, settings.api_url, settings.retry)
        self.api = BrevoApi(self.http)
        rejects = RejectsFile(settings.rejects_file, redact=self.http.redact, keep_runs=settings.rejects_keep_runs)
        self.report = RunReport(rejects, dry_run=settings.dry_run)
        self.flush_policy = FlushPolicy(
            settings.flush_interval_seconds, dry_run=settings.dry_run, ack_file=settings.state_ack_file
        )
        limits = settings.limits
        self.imports = ContactImports(
            self.api, self.report, limits.import_rows, limits.import_bytes, settings.import_waits
        )
        self.upserts = ContactUpserts(self.api, self.report, limits.contact_calls)
        self.attributes = AttributeCatalog(
            self.api, self.report, settings.attribute_types, settings.create_missing_attributes, settings.dry_run
        )
        self.lists = ListDirectory(
            self.api,
            self.report,
            folder_name=settings.lists_folder,
            create_missing=settings.create_missing_lists,
            contacts_list=settings.contacts_list_id,
            contacts_list_name=settings.contacts_list_name,
            dry_run=settings.dry_run,
        )

        self.existing_contacts = ExistingContacts(self.api, self.report)
        self._ledger: Ledger | None = None
        self._privacy_store: PrivacyStore | None = None
        self._cohorts: CohortSync | None = None
        self._deltas: DeltaSync | None = None
        self._companies: CompanySync | None = None
        privacy = settings.privacy
        self.privacy = PrivacyGate(
            self.privacy_store,
            self.api,
            self.report,
            identity=settings.identity,
            amplitude_id_paths=privacy.amplitude_id_paths,
            consent=privacy.consent,
            dry_run=settings.dry_run,
        )

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(self.settings.ledger_path)
        return self._ledger

    def privacy_store(self) -> PrivacyStore:
        """The identity map, tombstones and consent states (opened on first use)."""
        if self._privacy_store is None:
            self._privacy_store = PrivacyStore(self.settings.privacy.store_path)
        return self._privacy_store

    @property
    def cohorts(self) -> CohortSync:
        if self._cohorts is None:
            self._cohorts = self._new_cohort_sync()
        return self._cohorts

    @property
    def deltas(self) -> DeltaSync:
        """Delta mode: membership changes, sharing cohort sync's list writer."""
        if self._deltas is None:
            settings = self.settings
            self._deltas = DeltaSync(
                self.lists,
                self.cohorts.writer,
                self.ledger,
                self.report,
                list_target=settings.list_target,
                dry_run=settings.dry_run,
            )
        return self._deltas

    def _new_cohort_sync(self) -> CohortSync:
        settings = self.settings
        store = MemberStore()
        writer = ListWriter(
            self.api,
            self.imports,
            self.upserts,
            store,
            self.report,
            call_size=settings.limits.list_call_contacts,
            import_threshold=settings.limits.list_import_threshold,
            contact_mode=settings.contact_mode,
            privacy=self.privacy,
            dry_run=settings.dry_run,
        )
        return CohortSync(
            self.lists,
            writer,
            store,
            self.report,
            list_target=settings.list_target,
            default_mode=settings.cohort_sync_mode,
            default_cap=settings.removal_cap,
        )

    def sink_factory(self, stream_type: str, stream_name: str) -> SinkFactory:
        """The sink class of a stream type with its collaborators bound (the SDK adds target, stream, schema)."""
        builders = {
            "contacts": self._contacts_sink,
            "events": self._events_sink,
            "orders": self._orders_sink,
            "list_members": self._members_sink,
            "list_changes": self._changes_sink,
            "lists": self._lists_sink,
            "deletions": self._deletions_sink,
            "companies": self._companies_sink,
        }
        build = builders.get(stream_type)
        sink = build(stream_name) if build else SkipSink
        return functools.partial(sink, report=self.report, privacy=self.privacy)

    def _request(self, stream_name: str, max_items: int, max_bytes: int) -> dict[str, Any]:
        return {
            "stream": stream_name,
            "max_items": max_items,
            "max_bytes": max_bytes,
            "dry_run": self.settings.dry_run,
            "privacy": self.privacy,
        }

    def _contacts_sink(self, stream_name: str) -> SinkFactory:
        settings = self.settings
        delivery = ContactDelivery(
            self.imports,
            self.upserts,
            self.report,
            stream=stream_name,
            contacts_list=self.lists.contacts_list_id,
            mode=settings.contact_mode,
            existing=self.existing_contacts,
            privacy=self.privacy,
            dry_run=settings.dry_run,
        )
        return functools.partial(
            ContactsSink,
            identity=settings.identity,
            rules=settings.contacts,
            attributes=self.attributes,
            delivery=delivery,
        )

    def _events_sink(self, stream_name: str) -> SinkFactory:
        limits = self.settings.limits
        request = self._request(stream_name, limits.events, limits.events_bytes)
        delivery = EventDelivery(
            self.api,
            self.ledger,
            self.report,
            live_window_seconds=self.settings.live_window_seconds,
            send_old_events=self.settings.send_old_events,
            **request,
        )
        existing = self.existing_contacts if self.settings.contact_mode == "update_only" else None
        return functools.partial(EventsSink, rules=self.settings.events, delivery=delivery, existing=existing)

    def _orders_sink(self, stream_name: str) -> SinkFactory:
        settings = self.settings
        request = self._request(stream_name, settings.limits.orders, settings.limits.orders_bytes)
        delivery = OrderDelivery(
            self.api,
            self.report,
            historical=settings.orders_historical,
            live_window_seconds=settings.live_window_seconds,
            calls_max=settings.limits.order_calls,
            **request,
        )
        return functools.partial(OrdersSink, rules=settings.orders, delivery=delivery)

    def _members_sink(self, stream_name: str) -> SinkFactory:
        settings = self.settings
        return functools.partial(
            ListMembersSink, identity=settings.identity, rules=settings.members, cohorts=self.cohorts
        )

    def _changes_sink(self, stream_name: str) -> SinkFactory:
        settings = self.settings
        return functools.partial(
            ListChangesSink, identity=settings.identity, rules=settings.members, deltas=self.deltas
        )

    def _deletions_sink(self, stream_name: str) -> SinkFactory:
        settings = self.settings
        erasures = Erasures(
            self.api,
            self.privacy_store,
            self.privacy,
            lambda: self.ledger,
            self.report,
            action=settings.privacy.deletion_action,
            transactional_logs=settings.privacy.transactional_logs,
            lookup_attribute=settings.privacy.lookup_attribute,
            log_deletions_per_run=settings.privacy.log_deletions_per_run,
            dry_run=settings.dry_run,
        )
        return functools.partial(DeletionsSink, rules=settings.privacy.deletions, erasures=erasures, settle=self.settle)

    def _companies_sink(self, stream_name: str) -> SinkFactory:
        if self._companies is None:
            self._companies = CompanySync(
                self.api,
                self.imports,
                lambda: self.ledger,
                self.privacy,
                self.report,
                key_attribute=self.settings.company_key_attribute,
                dry_run=self.settings.dry_run,
            )
        return functools.partial(CompaniesSink, rules=self.settings.companies, companies=self._companies)

    def _lists_sink(self, stream_name: str) -> SinkFactory:
        return functools.partial(ListsSink, rules=self.settings.cohort_definitions, cohorts=self.cohorts)

    def settle(self) -> None:
        """Wait until Brevo applied every import sent so far."""
        self.imports.settle()

    def finish(self) -> None:
        """End of input: report mirrors that never saw a complete snapshot, and mappings that matched nothing."""
        if self._cohorts is not None:
            self._cohorts.finish()
        self._warn_unmatched_mappings()

    def _warn_unmatched_mappings(self) -> None:
        report = self.report
        for path, counts in report.mapped_paths.items():
            if not counts["with_value"]:
                LOGGER.warning(
                    "property_mapping %r: none of %d records had a value there (check the path)",
                    path,
                    counts["records"],
                )
        if self.report.objects.get("events"):  # an events stream ran
            for event_type in self.settings.events.names:
                if event_type not in report.event_types:
                    LOGGER.warning("event_mapping %r: no event of this type was seen", event_type)

    def summary(self, *, completed: bool) -> dict[str, Any]:
        return {**self.report.summary(self.http.stats), "completed": completed}

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
        if self._privacy_store is not None:
            self._privacy_store.close()
        if self._cohorts is not None:
            self._cohorts.store.close()
        if self._deltas is not None:
            self._deltas.close()
        self.report.rejects.close()
        self.http.close()
