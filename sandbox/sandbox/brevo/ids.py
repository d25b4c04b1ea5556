"""Brevo's CRM ids (companies, CRM attributes): 24 hex digits, built like MongoDB ObjectIds.

4 bytes of sandbox-clock seconds, 5 bytes random per process, a 3-byte counter from a random start.
"""

from __future__ import annotations

import itertools
import secrets
import threading

from sandbox import clock

_PROCESS = secrets.token_hex(5)
_counter = itertools.count(secrets.randbelow(1 << 24))
_lock = threading.Lock()


def object_id() -> str:
    with _lock:
        count = next(_counter) & 0xFFFFFF
    return f"{int(clock.now()) & 0xFFFFFFFF:08x}{_PROCESS}{count:06x}"
