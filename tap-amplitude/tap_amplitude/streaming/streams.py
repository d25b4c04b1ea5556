"""The streaming tap's streams. One long-lived session feeds them all: `events` drives it (its sync runs the
session), and `revenue`, `users` and `cohort_membership_changes` are its children only so that the SDK syncs them
through it, whichever are selected. Records take the export tap's direct output path when nothing maps or deselects
fields."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_amplitude.streaming import schemas
from tap_amplitude.streams import TypedRecordsStream


class StreamedEventsStream(TypedRecordsStream):
    """Events forwarded by Webhooks Streaming, as the export's `events` records (see records.py for uuid and
    server_upload_time when the body lacks them)."""

    name = "events"
    schema = schemas.EVENTS
    primary_keys = ("uuid",)
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # built typed by the export's EventDecoder

    def get_records(self, context: Any) -> Iterator[dict[str, Any]]:
        """Runs the streaming session, which writes every stream's records itself; none pass through here."""
        self._tap.run_session()  # type: ignore[attr-defined]
        return iter(())

    def generate_child_contexts(self, record: Any, context: Any) -> Iterable[Any]:
        return ()


class _SessionFedStream(TypedRecordsStream):
    parent_stream_type = StreamedEventsStream
    state_partitioning_keys: list[str] = []  # noqa: RUF012  (the session's spool bookmark is the only state)
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY

    def get_records(self, context: Any) -> Iterator[dict[str, Any]]:
        return iter(())  # fed by the session


class StreamedRevenueStream(_SessionFedStream):
    """The export's `revenue` record of each streamed revenue event (revenue.py: `$revenue` or `$price`, or a
    configured plain property), keyed by the event's uuid, so a purchase becomes a live Brevo order at once."""

    name = "revenue"
    schema = schemas.REVENUE
    primary_keys = ("uuid",)


class StreamedUsersStream(_SessionFedStream):
    """Users forwarded by Webhooks Streaming ("Send Users"), with their user properties as sent (custom ones are
    strings)."""

    name = "users"
    schema = schemas.USERS
    primary_keys = ("amplitude_id",)


class CohortMembershipChangesStream(_SessionFedStream):
    """One record per user of each Cohort Webhooks batch: who entered (`in_cohort` true) or left a cohort."""

    name = "cohort_membership_changes"
    schema = schemas.COHORT_MEMBERSHIP_CHANGES
    primary_keys = ("message_id", "user_id")
