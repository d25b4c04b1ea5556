"""Sending events: requests within the limits, Amplitude's answers handled, the delivery ledger."""
