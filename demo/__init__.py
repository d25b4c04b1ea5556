"""`make demo`: the whole pipeline, end to end, against the local sandbox (no accounts needed)."""
