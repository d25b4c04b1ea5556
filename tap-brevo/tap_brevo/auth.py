"""Who may post webhooks: Brevo sends either `Authorization: Bearer <token>` (the webhook's `auth`) or basic auth
(credentials in the webhook URL, `https://user:pass@host/...`). Either configured form is accepted; comparisons are
constant-time and nothing of the request is echoed or logged."""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.datastructures import Headers


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))


def authorization_check(token: str | None, username: str | None, password: str | None) -> tuple[object, str]:
    """(an auth check for webhook_receiver.Endpoint, what it expects in words for logs). ValueError without any
    credential: an open receiver is never started."""
    if not token and not (username and password):
        raise ValueError("set auth_token, or basic_username and basic_password: the receiver refuses to run open")
    accepted = []
    if token:
        accepted.append("Bearer token")
    if username and password:
        accepted.append("basic auth")

    def authorize(headers: Headers) -> bool:
        header = headers.get("authorization")
        if header is None:
            return False
        scheme, _, credentials = header.strip().partition(" ")
        scheme, credentials = scheme.lower(), credentials.strip()
        if scheme == "bearer" and token:
            return _same(credentials, token)
        if scheme == "basic" and username and password:
            try:
                decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
            user, separator, secret = decoded.partition(":")
            # Both compared, whatever the first gives: the time does not tell which part was wrong.
            return bool(separator) & _same(user, username) & _same(secret, password)
        return False

    return authorize, " or ".join(accepted) + " expected in header Authorization"
