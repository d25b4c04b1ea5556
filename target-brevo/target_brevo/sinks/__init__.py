"""Thin sinks: each routes a stream's records through a mapping rule into a delivery."""
