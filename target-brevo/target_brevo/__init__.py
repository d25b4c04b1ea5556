"""target-brevo: a Singer target that loads contacts, events, cohort lists and revenue into Brevo."""
