"""The emulated Amplitude's streaming destinations per data center: what ingestion and the cohort cadence push.

One Webhooks Streaming destination and one Cohort Webhooks destination per data center (configured
through the admin routes in `webhooks_admin.py`). Ingestion calls `on_accepted` with the events it
kept (a repeated insert_id is not among them); a background task runs each cohort sync's
computation when it falls due on the sandbox clock. Both hand their messages to one `Pusher`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sandbox import clock
from sandbox.amplitude.cohort_webhooks import CohortSync, compute
from sandbox.amplitude.destinations import CohortWebhookDestination, WebhookDestination
from sandbox.amplitude.project import Project
from sandbox.amplitude.pushes import Pusher
from sandbox.amplitude.streaming import Accepted, webhook_pushes
from sandbox.faults import FaultRegistry

log = logging.getLogger("sandbox")

CADENCE_POLL_SECONDS = 0.1  # how often cohort syncs are checked for a due computation (the clock can jump)


class Webhooks:
    """Destinations per region, the ingestion hook, the cohort cadence and the pusher they share."""

    def __init__(self, projects: dict[str, Project], faults: FaultRegistry | None = None) -> None:
        self.projects = projects
        self.pusher = Pusher(faults)
        self.webhooks: dict[str, WebhookDestination] = {}
        self.cohort_syncs: dict[str, CohortSync] = {}
        self._cadence: asyncio.Task[None] | None = None

    def set_webhook(self, destination: WebhookDestination) -> None:
        """Configure (or replace) a region's Webhooks Streaming destination; call it from the event loop."""
        self._start()
        self.webhooks[destination.region] = destination

    def set_cohort_webhook(self, destination: CohortWebhookDestination) -> CohortSync:
        """Configure a region's Cohort Webhooks destination: a new sync, whose first computation sends everyone."""
        self._start()
        sync = self.cohort_syncs[destination.region] = CohortSync(destination, clock.now())
        return sync

    def on_accepted(self, project: Project, accepted: list[Accepted], accepted_at: float) -> None:
        """Ingestion's hook, from any thread: push what the region's webhook wants of the accepted events."""
        destination = self.webhooks.get(project.region)
        if destination is None:
            return
        pushes = webhook_pushes(destination, accepted, accepted_at)
        self.pusher.submit(pushes, clock.now() + destination.push_delay_seconds)

    async def compute_cohorts(self, region: str) -> dict[str, Any] | None:
        """Run the region's cohort computation now and queue its messages; what changed per cohort (None: no sync)."""
        sync = self.cohort_syncs.get(region)
        if sync is None:
            return None
        async with sync.lock:
            now = clock.now()
            pushes, summary = await asyncio.to_thread(compute, self.projects[region], sync, now, time.time())
            sync.computed(now)
        if self.cohort_syncs.get(region) is sync:  # not replaced nor reset meanwhile
            self.pusher.submit(pushes, now)
        return {"region": region, "computed_time": str(int(now)), "cohorts": summary}

    def reset(self) -> None:
        self.webhooks.clear()
        self.cohort_syncs.clear()
        self.pusher.reset()

    def close(self) -> None:
        if self._cadence is not None:
            self._cadence.cancel()
        self.pusher.close()

    def _start(self) -> None:
        self.pusher.start()
        if self._cadence is None:
            self._cadence = asyncio.get_running_loop().create_task(self._run_cadence())

    async def _run_cadence(self) -> None:
        while True:
            now = clock.now()
            for region, sync in list(self.cohort_syncs.items()):
                if sync.due(now):
                    try:
                        await self.compute_cohorts(region)
                    except Exception:  # e.g. a reset wiped the store under it: wait for the next one
                        log.exception("cohort webhook computation failed (region %s)", region)
                        sync.computed(now)
            await asyncio.sleep(CADENCE_POLL_SECONDS)
