"""Brevo's API as the target uses it: `api.BrevoApi` (one method per endpoint) over `http.BrevoHttp`."""
