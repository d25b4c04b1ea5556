"""Records to Amplitude events: event type, identity, insert_id, user property updates."""
