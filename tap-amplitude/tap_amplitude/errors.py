"""The tap's own exceptions, apart from the HTTP client so that export workers can raise them without it."""

from __future__ import annotations


class AmplitudeError(Exception):
    """A failure the run cannot recover from; the message says what to fix."""


class CredentialsError(AmplitudeError):
    """Amplitude refused the API key, the secret key, or the key in this data center."""
