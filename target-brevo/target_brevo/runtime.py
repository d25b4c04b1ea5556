"""What every sink of one run shares: settings, the Brevo client, the ledger, the report, registries."""

from __future__ import annotations

import functools

from target_brevo.attributes import AttributeRegistry
from target_brevo.client import BrevoClient, RetryPolicy
from target_brevo.imports import ImportQueue
from target_brevo.ledger import Ledger
from target_brevo.lists import ListRegistry
from target_brevo.listsync import ListSync
from target_brevo.membership import MembershipStore
from target_brevo.report import RejectsFile, RunReport
from target_brevo.settings import Settings


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = BrevoClient(
            settings.api_key,
            settings.api_url,
            RetryPolicy(
                max_retries=settings.max_retries,
                backoff_base=settings.backoff_base_seconds,
                backoff_max=settings.backoff_max_seconds,
                timeout=settings.request_timeout_seconds,
            ),
        )
        self.report = RunReport(RejectsFile(settings.rejects_file, redact=self.client.redact), dry_run=settings.dry_run)
        self.attributes = AttributeRegistry(self)
        self.lists = ListRegistry(self)
        self.cohort_names: dict[str, str] = {}
        self.list_sync = ListSync(self)
        self.imports = ImportQueue(self)

    @functools.cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.settings.ledger_path)

    @functools.cached_property
    def membership(self) -> MembershipStore:
        return MembershipStore()

    def close(self) -> None:
        if "ledger" in self.__dict__:
            self.ledger.close()
        if "membership" in self.__dict__:
            self.membership.close()
        self.report.rejects.close()
        self.client.close()
