"""Brevo's documented request limits: the settings' defaults and ceilings come from here."""

IMPORT_MAX_ROWS = 1_000_000
IMPORT_RECOMMENDED_BYTES = 8_000_000
IMPORT_MAX_BYTES = 10_000_000
EVENTS_PER_BATCH = 200
EVENTS_BATCH_BYTES = 512_000
EVENT_PROPERTIES_BYTES = 50_000
ORDERS_PER_BATCH = 1000
ORDERS_BATCH_BYTES = 5_000_000
CONTACTS_PER_LIST_CALL = 150
LISTS_PAGE = 50
FOLDERS_PAGE = 50
PROCESSES_PAGE = 50
COMPANIES_PAGE = 100  # GET /companies has no documented maximum: pages Brevo will surely serve
CONTACTS_PAGE = 1000  # GET /contacts pages hold 1000 (a list's own contacts endpoint only 500)
