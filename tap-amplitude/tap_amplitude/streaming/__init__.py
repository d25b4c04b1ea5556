"""tap-amplitude-streaming: Amplitude's webhook destinations (Webhooks Streaming, Cohort Webhooks) as a Singer tap."""
