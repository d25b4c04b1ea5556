"""Cohort records -> what cohort sync needs: which cohort and snapshot a member record belongs to,
and the cohort definitions (id and name) of a lists stream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from target_brevo.mapping.jsonsafe import json_safe
from target_brevo.mapping.values import InvalidValue, content_key, get_path, to_boolean, to_identifier, to_number

DEFAULT_COHORT_FIELDS = {
    "cohort_id": "cohort_id",
    "cohort_name": "cohort_name",
    "snapshot_id": "snapshot_id",
    "snapshot_size": "snapshot_size",
    "snapshot_complete": "snapshot_end",
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
class CohortDefinition:
    """A cohort named by a lists stream."""

    key: str
    name: str | None


@dataclass(frozen=True)
class MemberRules:
    """Field paths of list-member records (`snapshot_complete` may be unset: no closing marker)."""

    fields: dict[str, str | None]

    def _field(self, record: dict[str, Any], name: str) -> Any:
        path = self.fields.get(name)
        return get_path(record, path) if path else None

    def marker_in(self, schema: dict[str, Any]) -> bool:
        """Whether records of this schema can carry the closing marker."""
        marker = self.fields.get("snapshot_complete")
        return bool(marker) and marker in (schema.get("properties") or {})

    def read(self, record: dict[str, Any]) -> MemberRecord:
        cohort_id = to_identifier(self._field(record, "cohort_id"))
        name = to_identifier(self._field(record, "cohort_name"))
        cohort_key = cohort_id or name
        if not cohort_key:
            raise InvalidValue(
                f"no cohort: neither {self.fields.get('cohort_id')!r} nor {self.fields.get('cohort_name')!r} is set"
            )
        size = self._field(record, "snapshot_size")
        marker = self._field(record, "snapshot_complete")
        return MemberRecord(
            cohort_key=cohort_key,
            cohort_name=name,
            snapshot_id=to_identifier(self._field(record, "snapshot_id")) or "",
            snapshot_size=int(to_number(size)) if size not in (None, "") else None,
            closes_snapshot=marker not in (None, "") and to_boolean(marker),
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
