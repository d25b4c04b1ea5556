"""Singer tap for Amplitude: events, users and revenue from the Export API, cohorts, cohort members, event types."""
