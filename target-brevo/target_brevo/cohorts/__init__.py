"""Cohort sync: cohorts and their snapshots, the member store, Brevo lists, the mirror / append / remove
policy with its removal cap, and delta mode (membership changes, de-duplicated and ordered)."""
