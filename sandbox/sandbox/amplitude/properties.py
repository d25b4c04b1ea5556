"""User property operations of the Identify API (`$set`, `$setOnce`, `$add`, ...), applied to a user's properties."""

from __future__ import annotations

from typing import Any

OPERATIONS = (
    "$set",
    "$setOnce",
    "$add",
    "$append",
    "$prepend",
    "$unset",
    "$preInsert",
    "$postInsert",
    "$remove",
    "$clearAll",
)


def is_operation_update(update: dict[str, Any]) -> bool:
    return any(key in OPERATIONS for key in update)


def mixes_operations_and_plain_keys(update: dict[str, Any]) -> bool:
    has_ops = is_operation_update(update)
    return has_ops and any(key not in OPERATIONS for key in update)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def apply(properties: dict[str, Any], update: dict[str, Any]) -> bool:
    """Apply `update` (plain keys mean `$set`) to `properties` in place; True if anything changed."""
    if not update:
        return False
    before = dict(properties)
    if not is_operation_update(update):
        update = {"$set": update}
    if "$clearAll" in update:
        properties.clear()
    for key, value in (update.get("$set") or {}).items():
        properties[key] = value
    for key, value in (update.get("$setOnce") or {}).items():
        properties.setdefault(key, value)
    for key, value in (update.get("$add") or {}).items():
        current = properties.get(key, 0)
        if _is_number(value) and (_is_number(current) or current is None):
            properties[key] = (current or 0) + value
    for key, value in (update.get("$append") or {}).items():
        properties[key] = _as_list(properties.get(key)) + _as_list(value)
    for key, value in (update.get("$prepend") or {}).items():
        properties[key] = _as_list(value) + _as_list(properties.get(key))
    for key, value in (update.get("$postInsert") or {}).items():
        current = _as_list(properties.get(key))
        properties[key] = current + [v for v in _as_list(value) if v not in current]
    for key, value in (update.get("$preInsert") or {}).items():
        current = _as_list(properties.get(key))
        properties[key] = [v for v in _as_list(value) if v not in current] + current
    for key, value in (update.get("$remove") or {}).items():
        removed = _as_list(value)
        if key in properties:
            properties[key] = [v for v in _as_list(properties[key]) if v not in removed]
    unset = update.get("$unset") or {}
    for key in unset if isinstance(unset, (dict, list)) else [unset]:
        properties.pop(key, None)
    return properties != before


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
