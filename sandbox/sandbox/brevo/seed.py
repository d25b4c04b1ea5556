"""POST /_sandbox/brevo/seed: put an account in a known state without spending API calls.

Parameters (all optional):
    {"attributes": [{"name": "AGE", "type": "float", "category": "normal"}, ...],
     "folders": ["Imports", ...],
     "lists": [{"name": "Customers", "folderId": 1} | "Customers", ...],
     "contacts": 100 | [{"email": ..., "attributes": {...}, "listIds": [...]}, ...],
     "contact_list_ids": [1]}     # lists every generated contact joins (when contacts is a number)
"""

from __future__ import annotations

from typing import Any

from sandbox.brevo import attributes as attrs
from sandbox.brevo import contacts, lists
from sandbox.brevo.store import DEFAULT_FOLDER, Store


def seed(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {"attributes": [], "folders": {}, "lists": {}, "contacts": 0}
    with store.tx() as db:
        for spec in params.get("attributes", []):
            body = {k: v for k, v in spec.items() if k not in ("name", "category")}
            attrs.create(db, spec.get("category", "normal"), spec["name"], body)
            summary["attributes"].append(spec["name"].upper())
        for name in params.get("folders", []):
            summary["folders"][name] = lists.create_folder(db, {"name": name})
        default_folder = db.execute(
            "SELECT id FROM folders WHERE name=? ORDER BY id LIMIT 1", (DEFAULT_FOLDER,)
        ).fetchone()
        for spec in params.get("lists", []):
            spec = {"name": spec} if isinstance(spec, str) else spec
            folder_id = spec.get("folderId") or (
                default_folder[0] if default_folder else lists.create_folder(db, {"name": DEFAULT_FOLDER})
            )
            summary["lists"][spec["name"]] = lists.create_list(db, {"name": spec["name"], "folderId": folder_id})
        wanted = params.get("contacts", [])
        if isinstance(wanted, int):
            list_ids = params.get("contact_list_ids", [])
            wanted = [
                {"email": f"seed{i}@example.com", "attributes": {"FIRSTNAME": f"Seed{i}"}, "listIds": list_ids}
                for i in range(1, wanted + 1)
            ]
        elif not isinstance(wanted, list):
            raise TypeError("contacts must be a number or a list of contacts")
        for body in wanted:
            contacts.create(db, {**body, "updateEnabled": True})
            summary["contacts"] += 1
    return summary
