"""The shared sandbox as one test sees it: a request log without the requests of earlier tests.

A client that an earlier test killed can leave a request in the sandbox (a latency fault keeps serving it, or the
handler is still building its response); the sandbox logs it when it finishes, which can be after the next test's
reset. Such a request started before that reset, so the view leaves out every logged request that started
before the view's last reset: counts, statuses, total and recent calls then hold only this test's requests.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.process import SandboxProcess

WHOLE_LOG = 1_000_000_000  # `limit` that returns every recent call the sandbox keeps


class SandboxForOneTest(SandboxProcess):
    """The session's sandbox process seen by one test; it cannot stop the process."""

    def __init__(self, shared: SandboxProcess) -> None:
        super().__init__(shared.info)
        self.http = shared.http
        self.reset_at = 0.0

    def reset(self) -> None:
        super().reset()
        # Read after the reset returned: every request this test sends starts later, on the same clock.
        self.reset_at = time.time()

    def requests_log(self, service: str | None = None, limit: int = 0) -> dict[str, Any]:
        log = super().requests_log(service, limit=WHOLE_LOG)
        return leave_out_started_before(log, self.reset_at, limit)


def leave_out_started_before(log: dict[str, Any], moment: float, limit: int = 0) -> dict[str, Any]:
    """`log` (a request log summary with every recent call) without the calls that started before `moment`,
    its `recent` cut to the last `limit` calls (none for 0) as the sandbox does."""
    kept = []
    for call in log["recent"]:
        if call["started"] >= moment:
            kept.append(call)
            continue
        service, endpoint = call["service"], f"{call['method']} {call['route']}"
        _count_down(log["counts"], service, endpoint)
        _count_down(log["statuses"][service], endpoint, str(call["status"]))
        if not log["statuses"][service]:
            del log["statuses"][service]
        log["total"] -= 1
    log["recent"] = kept[-limit:] if limit else []
    return log


def _count_down(counts: dict[str, dict[str, int]], outer: str, inner: str) -> None:
    """Take one from counts[outer][inner], dropping entries that reach zero (as a log that never had them)."""
    counts[outer][inner] -= 1
    if counts[outer][inner] == 0:
        del counts[outer][inner]
        if not counts[outer]:
            del counts[outer]
