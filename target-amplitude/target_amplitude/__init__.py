"""target-amplitude: Singer records as Amplitude events (HTTP V2 or Batch API)."""
