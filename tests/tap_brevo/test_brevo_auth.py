"""The webhook auth check: a bearer token or basic auth, whichever is configured; everything else refused."""

from __future__ import annotations

import base64

import pytest
from starlette.datastructures import Headers
from tap_brevo.auth import authorization_check


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def allowed(check: object, value: str | None) -> bool:
    headers = Headers({} if value is None else {"Authorization": value})
    return check(headers)  # type: ignore[operator,no-any-return]


def test_bearer_only() -> None:
    check, note = authorization_check("tok-1", None, None)
    assert note == "Bearer token expected in header Authorization"
    assert allowed(check, "Bearer tok-1") and allowed(check, "bearer  tok-1 ")
    for refused in (None, "", "Bearer", "Bearer tok-2", "tok-1", "Token tok-1", basic("tok-1", "tok-1")):
        assert not allowed(check, refused)


def test_basic_only_and_both() -> None:
    check, note = authorization_check(None, "brevo", "pa:ss")
    assert note == "basic auth expected in header Authorization"
    assert allowed(check, basic("brevo", "pa:ss"))
    for refused in (basic("brevo", "pa"), basic("Brevo", "pa:ss"), "Basic !!!", "Basic " + "YnJldm8=", "Bearer pa:ss"):
        assert not allowed(check, refused)
    both, note = authorization_check("tok-1", "brevo", "pa:ss")
    assert note == "Bearer token or basic auth expected in header Authorization"
    assert allowed(both, "Bearer tok-1") and allowed(both, basic("brevo", "pa:ss"))


def test_no_credentials_no_receiver() -> None:
    for token, user, password in ((None, None, None), ("", None, None), (None, "brevo", None), (None, None, "x")):
        with pytest.raises(ValueError, match="refuses to run open"):
            authorization_check(token, user, password)
