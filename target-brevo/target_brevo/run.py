"""One run's parts, built from the settings, wired together, and closed at the end."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from target_brevo.brevo.api import BrevoApi
from target_brevo.brevo.http import BrevoHttp
from target_brevo.cohorts.lists import ListDirectory
from target_brevo.cohorts.store import MemberStore
from target_brevo.cohorts.sync import CohortSync
from target_brevo.cohorts.writes import ListWriter
from target_brevo.delivery.attributes import AttributeCatalog
from target_brevo.delivery.contacts import ContactDelivery
from target_brevo.delivery.events import EventDelivery
from target_brevo.delivery.flush import FlushPolicy
from target_brevo.delivery.imports import ContactImports
from target_brevo.delivery.ledger import Ledger
from target_brevo.delivery.orders import OrderDelivery
from target_brevo.report import RejectsFile, RunReport
from target_brevo.settings import Settings
from target_brevo.sinks.base import BrevoSink, SkipSink
from target_brevo.sinks.contacts import ContactsSink
from target_brevo.sinks.events import EventsSink
from target_brevo.sinks.lists import ListsSink
from target_brevo.sinks.members import ListMembersSink
from target_brevo.sinks.orders import OrdersSink

SinkFactory = Callable[..., BrevoSink]


class Run:
    """The Brevo API, the report, imports, the ledger and cohort sync of one run, and the sinks they feed.

    The ledger and the member store open on first use: a run without events or cohorts creates neither.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.http = BrevoHttp(settings.api_key, settings.api_url, settings.retry)
        self.api = BrevoApi(self.http)
        self.report = RunReport(RejectsFile(settings.rejects_file, redact=self.http.redact), dry_run=settings.dry_run)
        self.flush_policy = FlushPolicy(settings.flush_interval_seconds, dry_run=settings.dry_run)
        self.imports = ContactImports(
            self.api,
            self.report,
            max_rows=settings.limits.import_rows,
            max_bytes=settings.limits.import_bytes,
            waits=settings.import_waits,
        )
        self.attributes = AttributeCatalog(
            self.api,
            self.report,
            configured_types=settings.attribute_types,
            create_missing=settings.create_missing_attributes,
            dry_run=settings.dry_run,
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

        self._ledger: Ledger | None = None
        self._cohorts: CohortSync | None = None

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(self.settings.ledger_path)
        return self._ledger

    @property
    def cohorts(self) -> CohortSync:
        if self._cohorts is None:
            self._cohorts = self._new_cohort_sync()
        return self._cohorts

    def _new_cohort_sync(self) -> CohortSync:
        settings = self.settings
        store = MemberStore()
        writer = ListWriter(
            self.api,
            self.imports,
            store,
            self.report,
            call_size=settings.limits.list_call_contacts,
            import_threshold=settings.limits.list_import_threshold,
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
        settings = self.settings
        limits = settings.limits
        bind = functools.partial
        common: dict[str, Any] = {"report": self.report}
        if stream_type == "contacts":
            delivery = ContactDelivery(
                self.imports,
                self.report,
                stream=stream_name,
                contacts_list=self.lists.contacts_list_id,
                dry_run=settings.dry_run,
            )
            return bind(
                ContactsSink,
                identity=settings.identity,
                rules=settings.contacts,
                attributes=self.attributes,
                delivery=delivery,
                **common,
            )
        if stream_type == "events":
            delivery = EventDelivery(
                self.api,
                self.ledger,
                self.report,
                stream=stream_name,
                max_items=limits.events,
                max_bytes=limits.events_bytes,
                dry_run=settings.dry_run,
            )
            return bind(EventsSink, rules=settings.events, delivery=delivery, **common)
        if stream_type == "orders":
            delivery = OrderDelivery(
                self.api,
                self.report,
                stream=stream_name,
                max_items=limits.orders,
                max_bytes=limits.orders_bytes,
                historical=settings.orders_historical,
                dry_run=settings.dry_run,
            )
            return bind(OrdersSink, rules=settings.orders, delivery=delivery, **common)
        if stream_type == "list_members":
            return bind(
                ListMembersSink, identity=settings.identity, rules=settings.members, cohorts=self.cohorts, **common
            )
        if stream_type == "lists":
            return bind(ListsSink, rules=settings.cohort_definitions, cohorts=self.cohorts, **common)
        return bind(SkipSink, **common)

    def settle(self) -> None:
        """Wait until Brevo applied every import sent so far."""
        self.imports.settle()

    def finish(self) -> None:
        """End of input: report mirrors that never saw a complete snapshot."""
        if self._cohorts is not None:
            self._cohorts.finish()

    def summary(self, *, completed: bool) -> dict[str, Any]:
        return {**self.report.summary(self.http.stats), "completed": completed}

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
        if self._cohorts is not None:
            self._cohorts.store.close()
        self.report.rejects.close()
        self.http.close()
