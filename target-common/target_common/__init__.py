"""Shared by target-brevo and target-amplitude (see README.md)."""
