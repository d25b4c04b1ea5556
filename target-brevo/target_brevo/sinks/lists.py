"""lists: cohort definitions -> Brevo lists (remembers cohort names; creates lists when allowed)."""

from __future__ import annotations

from typing import Any

from target_brevo.mapping import InvalidValue, get_path, to_identifier
from target_brevo.sinks.base import BrevoSink


class ListsSink(BrevoSink):
    kind = "lists"
    priority = 20

    def prepare(self, record: dict[str, Any]) -> tuple[str, str | None]:
        fields = self.runtime.settings.list_fields
        cohort_id = to_identifier(get_path(record, fields["id"]))
        name = to_identifier(get_path(record, fields["name"]))
        if not cohort_id and not name:
            raise InvalidValue(f"no cohort id ({fields['id']!r}) and no name ({fields['name']!r})")
        if cohort_id and name:
            self.runtime.cohort_names[cohort_id] = name
        return cohort_id or name, name  # type: ignore[return-value]

    def setup(self) -> None:
        super().setup()
        self._held: dict[str, str | None] = {}

    def buffer(self, item: tuple[str, str | None]) -> None:
        self._held[item[0]] = item[1]

    def pending(self) -> int:
        return len(self._held)

    def flush(self) -> None:
        settings = self.runtime.settings
        held, self._held = self._held, {}
        for cohort_id, name in held.items():
            target = settings.lists.get(cohort_id) or (settings.lists.get(name) if name else None)
            if target is None and not settings.create_missing_lists:
                self.runtime.report.count(self.kind, "unmapped")
                continue
            list_id = self.runtime.lists.resolve(target, name or cohort_id)
            self.runtime.report.count(self.kind, "resolved" if list_id is not None else "unresolved")
