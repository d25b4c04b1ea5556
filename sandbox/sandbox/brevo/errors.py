"""Brevo's error envelope `{"code", "message"[, "metadata"]}` as an exception handlers raise."""

from __future__ import annotations

from typing import Any


class BrevoError(Exception):
    """A failed /v3 call: its HTTP status and Brevo's error body."""

    def __init__(self, status: int, code: str, message: str, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.metadata = metadata

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.metadata is not None:
            body["metadata"] = self.metadata
        return body


def invalid(message: str) -> BrevoError:
    return BrevoError(400, "invalid_parameter", message)


def missing(message: str) -> BrevoError:
    return BrevoError(400, "missing_parameter", message)


def not_found(message: str) -> BrevoError:
    return BrevoError(404, "document_not_found", message)


def out_of_range(message: str) -> BrevoError:
    return BrevoError(400, "out_of_range", message)


CONTACT_NOT_FOUND = "Contact does not exist"
LIST_NOT_FOUND = "List ID does not exist"
FOLDER_NOT_FOUND = "Folder ID does not exist"
INVALID_PHONE = "Invalid phone number"
