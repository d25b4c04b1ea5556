"""Every call to Amplitude's ingestion API."""
