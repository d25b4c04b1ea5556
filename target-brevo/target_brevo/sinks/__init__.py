"""One sink per Brevo object type; each turns a batch of records into bulk Brevo calls."""
