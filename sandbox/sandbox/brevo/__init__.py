"""A faithful local Brevo API v3 (contacts, imports, attributes, lists, events, orders, transactional log
deletion and email events, CRM companies and their attributes, webhooks), and simulated sends (a campaign
to a list, transactional emails) whose events are pushed to the registered webhooks.

Served on its own port under `/v3` (see sandbox/README.md for the endpoint table). Every request is
checked against Brevo's OpenAPI spec (`openapi.yaml`, vendored, with the overlay in `spec.py` for
what is newer) and the account persists in `<data-dir>/brevo.sqlite3`.

Settings (`--set brevo.NAME=VALUE` at start, GET/PATCH /_sandbox/brevo/config at run time):

    import_delay_seconds     0.5      an import is `queued` for half of it, `processing` for the
                                      other half, then applied and `completed`
    plan                     general  rate-limit plan: general | advanced | extended
    rate_limit_window_scale  1.0      multiplies every rate-limit window (0.01: an hour lasts 36 s)
    rate_limits_enabled      true     false: never answer 429 (headers still sent, remaining = limit)
    ecommerce_active         true     false: order calls get 400 "eCommerce is not activated" and
                                      GET /ecommerce/config/displayCurrency 403, until
                                      POST /v3/ecommerce/activate

Resetting the emulator restores these to their start-up values.

Where things are: `routes.py` lists every endpoint (path -> method -> handler), `/v3` ones
handled in `api.py` through `pipeline.py`, admin ones in `admin.py` and `simulation_admin.py`;
`account.py` is the state they act on; `app.py` assembles the emulator.
"""
