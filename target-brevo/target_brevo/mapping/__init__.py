"""Pure functions from a record to what Brevo takes: a contact row, an event, an order, a cohort member."""
