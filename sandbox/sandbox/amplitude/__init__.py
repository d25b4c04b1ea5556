"""Amplitude emulator, per ../shared/reference/amplitude-api.md.

Services (one port each): `amplitude_api` (stands in for https://amplitude.com),
`amplitude_api_eu` (https://analytics.eu.amplitude.com), `amplitude_ingest`
(https://api2.amplitude.com) and `amplitude_ingest_eu` (https://api.eu.amplitude.com). US and EU
are separate projects with separate stores (same keys): data sent to the EU ingest host is only
visible on the EU API host. Stores are SQLite files in `<data-dir>/amplitude/{us,eu}.sqlite3`.

Settings (`GET/PATCH /_sandbox/amplitude/config`, or `sandbox serve --set amplitude.NAME=VALUE`):

| name | default | meaning |
|---|---|---|
| `project_id` / `project_id_eu` | 374182 / 374183 | `app` field, zip folder and entry names |
| `export_latency_hours` | 2 | hour H is exportable once H + 1 h + latency <= sandbox now; -1 makes the current hour exportable |
| `export_max_bytes` | 4 GiB | export larger than this (raw NDJSON bytes) -> 400 |
| `export_timeout_bytes` | 0 (off) | export larger than this -> 504 (data volume timeout) |
| `export_partition_events` | 100000 | events per zip entry (`#n` partitions) |
| `export_max_days` | 365 | longest export range |
| `export_cache_bytes` | 2 GiB | disk kept for finished export zips, served again while nothing is ingested into their hours (a reset drops them); 0: build every export afresh |
| `cohort_request_seconds` | 3 | how long a cohort download request stays 202 `JOB INPROGRESS` |
| `cohort_redirect_rows` | 10000 | cohort `/file` above this many rows -> 302 to a pre-signed-style URL |
| `cohort_url_ttl_seconds` | 60 | that URL's `X-Amz-Expires`; 403 afterwards |
| `rate_limit_scale` | 1.0 | multiplier on every rate limit (5 concurrent, 360/h user queries, 60/10 min cohort requests, 1000 eps per device/user, 1/s privacy requests, the chart cost budget) |
| `insert_id_window_days` | 7 | a repeated device_id + insert_id within this window is dropped |
| `key_region` | any | data center the key pair belongs to (`any`, `us`, `eu`); the other one answers 403 `Invalid API Key` (ingestion: 400 `Invalid API key`), like a key used against the wrong region |
| `api_delay_ms` | 0 | simulated processing time of every REST API request, spent holding a concurrency slot |
| `chart_query_removed` | 0 | 1 makes `GET /api/3/chart/{id}/query` answer a plain 404, as if retired (clients fall back to `/csv`) |

Admin routes under `/_sandbox/amplitude/`: `GET stats` (row counts per region);
`POST corrupt-gzip {"hour": "YYYYMMDDTHH", "region": "us", "count": 1}` makes the next `count`
exports that contain that hour carry a corrupt gzip member for it inside a valid zip
(`GET` lists, `DELETE` clears); `POST seed` (see `seed.py`); `POST/GET charts`, `DELETE charts/{id}`: saved
charts, whose results `GET /api/3/chart/{id}/query` and `/csv` compute from the stored events, each query
charged against the cost budget (1,000 per 5 minutes, 108,000 per hour; see `chart_api.py`, `charts.py`).

Streaming destinations (reference: amplitude-streaming-and-privacy.md §1, §2; details in
`webhooks_admin.py`), per data center (`region`): `POST/GET/DELETE destinations/webhook` (Webhooks
Streaming: each ingested event, one JSON object per POST in the export format, and with `send_users`
each identify in the Identify format), `POST/GET/DELETE destinations/cohort-webhook` (Cohort Webhooks:
membership enter/exit batches at a cadence on the sandbox clock), `POST destinations/cohort-webhook/compute`
(compute now), `GET/DELETE deliveries` (every push request: attempt, status or error, sent and
ingestion-accept times; counters). Pushes retry as Amplitude documents, due on the sandbox clock.

User Privacy API v1 (reference: amplitude-streaming-and-privacy.md §3; details in `privacy.py`), on
both API hosts with Basic auth: `POST /api/2/deletions/users` (at most 100 ids; the request joins the
job due 7 days out), `GET /api/2/deletions/users?start_day=&end_day=` (at most 183 days),
`DELETE /api/2/deletions/users/{amplitude_id}/{day}` (only while the job is `staging`). Jobs are
`staging`, then `submitted` 3 days before their day, `done` 5 days after it; 1 request/s and at most
8 running jobs per project (429 beyond either).

Groups (Accounts add-on; details and the chosen export shape in `groups.py`): `POST`/`GET /groupidentify`
on both ingest hosts and `$groupidentify` events set group properties per (group_type, group_value);
events carry their groups and the groups' properties at ingestion in the export. `GET groups` (admin)
lists every group per region with its properties and last update time; `stats` counts them.

Every server-assigned time (server_upload_time, server_received_time, processed_time, cohort
times, the export latency horizon, rate-limit windows, link expiry) reads the sandbox clock.

Where things are: `routes.py` lists every endpoint (path -> method -> handler), handled in
`export.py`, `cohorts.py`, `users.py`, `privacy.py`, `ingest.py`, `chart_api.py` and, for admin ones, `admin.py` and
`webhooks_admin.py`; the streaming destinations are `webhooks.py` (per region, fed by ingestion and the
cohort cadence), `destinations.py` (settings), `streaming.py` and `cohort_webhooks.py` (payloads),
`pushes.py` (delivery, retries, log);
`organization.py` and `project.py` are the state they act on; `app.py` assembles the emulator.
Seeding: `seed.py` (entry points), `seed_plan.py` (the data), `simulated_app.py` (the sender).
"""
