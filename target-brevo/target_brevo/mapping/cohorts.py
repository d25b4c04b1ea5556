"""Cohort records -> what cohort sync needs: which cohort and snapshot a member record belongs to, the
membership change a list-change record carries, and the cohort definitions (id and name) of a lists
stream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from target_brevo.mapping.jsonsafe import json_safe
from target_brevo.mapping.values import (
    InvalidValue,
    content_key,
    get_path,
    to_boolean,
    to_epoch,
    to_identifier,
    to_number,
)

DEFAULT_COHORT_FIELDS = {
    "cohort_id": "cohort_id",
    "cohort_name": "cohort_name",
    "snapshot_id": "snapshot_id",
    "snapshot_size": "snapshot_size",
    "snapshot_complete": "snapshot_end",
    "in_cohort": "in_cohort",
    "message_id": "message_id",
    "computed_time": "computed_time",
}
DEFAULT_LIST_FIELDS = {"id": "id", "name": "name"}


@dataclass(frozen=True)
class MemberRecord:
    """What a list-member record says about its cohort's snapshot. `closes_snapshot`: the record is the
    snapshot's closing marker, not a member."""

    cohort_key: str
    cohort_name: str | None
    snapshot_id: str
    snapshot_size: int | None
    closes_snapshot: bool


@dataclass(frozen=True)
class MembershipChange:
    """What a list-change record says: its user entered (`entered`) or left the cohort, as computed by
    Amplitude at `computed_at` (epoch seconds) and sent in message `message_id` ("" when the record
    has none)."""

    cohort_key: str
    cohort_name: str | None
    entered: bool
    computed_at: float
    message_id: str


@dataclass(frozen=True)
class CohortDefinition:
    """A cohort named by a lists stream."""

    key: str
    name: str | None


@dataclass(frozen=True)
class MemberRules:
    """Field paths of cohort records: list members (`snapshot_complete` may be unset: no closing marker)
    and list changes."""

    fields: dict[str, str | None]

    def _field(self, record: dict[str, Any], name: str) -> Any:
        path = self.fields.get(name)
        return get_path(record, path) if path else None

    def marker_in(self, schema: dict[str, Any]) -> bool:
        """Whether records of this schema can carry the closing marker."""
        marker = self.fields.get("snapshot_complete")
        return bool(marker) and marker in (schema.get("properties") or {})

    def cohort(self, record: dict[str, Any]) -> tuple[str, str | None]:
        """The record's cohort key (its id, else its name) and name; InvalidValue when it names none."""
        cohort_id = to_identifier(self._field(record, "cohort_id"))
        name = to_identifier(self._field(record, "cohort_name"))
        cohort_key = cohort_id or name
        if not cohort_key:
            raise InvalidValue(
                f"no cohort: neither {self.fields.get('cohort_id')!r} nor {self.fields.get('cohort_name')!r} is set"
            )
        return cohort_key, name

    def read(self, record: dict[str, Any]) -> MemberRecord:
        cohort_key, name = self.cohort(record)
        size = self._field(record, "snapshot_size")
        marker = self._field(record, "snapshot_complete")
        return MemberRecord(
            cohort_key=cohort_key,
            cohort_name=name,
            snapshot_id=to_identifier(self._field(record, "snapshot_id")) or "",
            snapshot_size=int(to_number(size)) if size not in (None, "") else None,
            closes_snapshot=marker not in (None, "") and to_boolean(marker),
        )

    def read_change(self, record: dict[str, Any]) -> MembershipChange:
        """The membership change of a list-change record; InvalidValue when it lacks the direction or the
        time (without a time a late change could not be told from a new one)."""
        cohort_key, name = self.cohort(record)
        entered = self._field(record, "in_cohort")
        if entered in (None, ""):
            raise InvalidValue(f"no membership direction in {self.fields.get('in_cohort')!r}")
        computed = self._field(record, "computed_time")
        if computed in (None, ""):
            raise InvalidValue(f"no computed time in {self.fields.get('computed_time')!r}")
        return MembershipChange(
            cohort_key=cohort_key,
            cohort_name=name,
            entered=to_boolean(entered),
            computed_at=to_epoch(computed),
            message_id=to_identifier(self._field(record, "message_id")) or "",
        )


def snapshot_member_key(record: dict[str, Any], key_properties: Sequence[str] | None) -> str:
    """What makes a member record distinct within its snapshot: its key properties, else its content."""
    if key_properties:
        return orjson.dumps([json_safe(record.get(k)) for k in key_properties]).decode()
    return content_key(record)


@dataclass(frozen=True)
class ListRules:
    """Field paths of cohort definition records (a lists stream)."""

    fields: dict[str, str]

    def read(self, record: dict[str, Any]) -> CohortDefinition:
        cohort_id = to_identifier(get_path(record, self.fields["id"]))
        name = to_identifier(get_path(record, self.fields["name"]))
        if not cohort_id and not name:
            raise InvalidValue(f"no cohort id ({self.fields['id']!r}) and no name ({self.fields['name']!r})")
        return CohortDefinition(cohort_id or name, name)  # type: ignore[arg-type]
