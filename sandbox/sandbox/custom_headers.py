"""Custom headers a sender adds to its pushes (Amplitude's destinations, Brevo's webhooks): the same rules for both."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

RESERVED_HEADERS = frozenset({"content-type", "user-agent", "content-length", "host", "transfer-encoding"})
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def check_custom_headers(pairs: Iterable[tuple[Any, Any]], set_by: str) -> None:
    """ValueError naming the first (name, value) pair a push may not carry: an invalid or reserved name, a name
    given twice, a value that is not one line of text. A value is never echoed: it is usually a secret."""
    seen: set[str] = set()
    for name, value in pairs:
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise ValueError(f"invalid header name {name!r}")
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"header {name} is set by {set_by} and cannot be customized")
        if name.lower() in seen:
            raise ValueError(f"header {name} is given twice")
        seen.add(name.lower())
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise ValueError(f"header {name} must have a single-line string value")
