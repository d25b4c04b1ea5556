"""The one error type of a Brevo call that failed for good."""

from __future__ import annotations

from typing import Any

# Statuses that say nothing about the items of a request: retried, or a problem of the account or key.
_NOT_ABOUT_ITEMS = frozenset({401, 403, 404, 405, 429})


class BrevoError(Exception):
    """A Brevo call that failed for good. The message names the call and Brevo's answer, never the key.

    `reason` is Brevo's own message; `item_errors` maps the 0-based index of a refused item of a bulk request to Brevo's reason;
    `refused_values` names the values of a single contact that Brevo refused (`EXT_ID`, `SMS`, ...), when it says which.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        reason: str | None = None,
        item_errors: dict[int, str] | None = None,
        refused_values: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.reason = reason or message
        self.item_errors = item_errors or {}
        self.refused_values = refused_values

    @property
    def refuses_items(self) -> bool:
        """Brevo refused the request for what it carries (4xx), so sending less of it may succeed."""
        return (
            self.status is not None
            and 400 <= self.status < 500
            and self.status not in _NOT_ABOUT_ITEMS
            and self.code != "permission_denied"
        )


class BrevoAuthError(BrevoError):
    """The api_key was refused (401) or lacks permission (403)."""


def describe(label: str, status: int, body: Any) -> str:
    """`label: status message` from a Brevo error body."""
    return f"{label}: {status} {error_message(body)}"


def error_message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body)
    return str(body)[:500]


def error_code(body: Any) -> str | None:
    return body.get("code") if isinstance(body, dict) else None


def duplicate_identifiers(body: Any) -> tuple[str, ...]:
    """The identifiers a contact error says belong to another contact (`metadata.duplicate_identifiers`), upper-cased
    as attribute names: `email` -> `EMAIL`, `ext_id` -> `EXT_ID`, `SMS` stays."""
    if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        return ()
    names = body["metadata"].get("duplicate_identifiers")
    return tuple(str(name).upper() for name in names) if isinstance(names, list) else ()
