"""Cohort sync: cohorts and their snapshots, the member store, Brevo lists, and the mirror / append /
remove policy with its removal cap."""
