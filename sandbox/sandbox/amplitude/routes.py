"""Every Amplitude endpoint, as tables: path -> method -> handler(state, request).

`API_OPERATIONS` are served on `amplitude_api` and `amplitude_api_eu` (https://amplitude.com,
https://analytics.eu.amplitude.com), `INGEST_OPERATIONS` on `amplitude_ingest` and
`amplitude_ingest_eu` (https://api2.amplitude.com, https://api.eu.amplitude.com); their handlers
get the data center's `Project`. `ADMIN_OPERATIONS` are under /_sandbox/amplitude/ and get the
`Organization`; `WEBHOOK_ADMIN_OPERATIONS` (streaming destinations, deliveries) too, and get the `Webhooks`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.amplitude import admin, chart_api, cohorts, export, ingest, privacy, users, webhooks_admin

Handler = Callable[[Any, Request], Awaitable[Response]]

API_OPERATIONS: dict[str, dict[str, Handler]] = {
    "/api/2/export": {"GET": export.export},
    "/api/3/cohorts": {"GET": cohorts.list_cohorts},
    "/api/3/cohorts/upload": {"POST": cohorts.upload},
    "/api/3/cohorts/membership": {"POST": cohorts.membership},
    "/api/5/cohorts/request/{cohort_id}": {"GET": cohorts.request_cohort},
    "/api/5/cohorts/request-status/{request_id}": {"GET": cohorts.request_status},
    "/api/5/cohorts/request/{request_id}/file": {"GET": cohorts.request_file},
    # where a big cohort file's 302 points: no Basic auth, nor a concurrency slot (see app.py)
    cohorts.S3_PATH: {"GET": cohorts.presigned_file},
    "/api/2/usersearch": {"GET": users.usersearch},
    "/api/2/useractivity": {"GET": users.useractivity},
    "/api/2/events/list": {"GET": users.events_list},
    "/api/2/deletions/users": {"GET": privacy.list_deletions, "POST": privacy.create_deletions},
    "/api/2/deletions/users/{amplitude_id}/{day}": {"DELETE": privacy.remove_deletion},
    "/api/3/chart/{chart_id}/query": {"GET": chart_api.query},
    "/api/3/chart/{chart_id}/csv": {"GET": chart_api.csv},
}

INGEST_OPERATIONS: dict[str, dict[str, Handler]] = {
    "/2/httpapi": {"POST": ingest.http_v2},
    "/batch": {"POST": ingest.batch},
    "/identify": {"GET": ingest.identify, "POST": ingest.identify},
    "/groupidentify": {"GET": ingest.group_identify, "POST": ingest.group_identify},
}

ADMIN_OPERATIONS: dict[str, dict[str, Handler]] = {
    "/stats": {"GET": admin.stats},
    "/charts": {"GET": chart_api.list_charts, "POST": chart_api.define_chart},
    "/charts/{chart_id}": {"DELETE": chart_api.delete_chart},
    "/groups": {"GET": admin.groups},
    "/corrupt-gzip": {
        "GET": admin.corrupt_gzip_rules,
        "POST": admin.add_corrupt_gzip,
        "DELETE": admin.clear_corrupt_gzip,
    },
}

WEBHOOK_ADMIN_OPERATIONS: dict[str, dict[str, Handler]] = {
    "/destinations/webhook": {
        "GET": webhooks_admin.get_webhook,
        "POST": webhooks_admin.set_webhook,
        "DELETE": webhooks_admin.delete_webhook,
    },
    "/destinations/cohort-webhook": {
        "GET": webhooks_admin.get_cohort_webhook,
        "POST": webhooks_admin.set_cohort_webhook,
        "DELETE": webhooks_admin.delete_cohort_webhook,
    },
    "/destinations/cohort-webhook/compute": {"POST": webhooks_admin.compute_cohorts},
    "/deliveries": {"GET": webhooks_admin.deliveries, "DELETE": webhooks_admin.clear_deliveries},
}
