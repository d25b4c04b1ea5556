"""Check Brevo requests and responses against the spec the sandbox serves (Brevo's OpenAPI + overlay).

    from brevo_spec import assert_request_valid, assert_response_valid, assert_exchange_valid, SpecCheckedSession

    assert_request_valid("POST", "/v3/contacts/import", {"jsonBody": [...], "listIds": [2]})
    assert_response_valid("GET", "/v3/contacts?limit=10", 200, response.json())
    assert_exchange_valid(response)          # a `requests.Response`: its request and itself
    api = SpecCheckedSession(sandbox.brevo)  # api.get("/contacts"): every response checked

Paths may be full URLs (`http://127.0.0.1:PORT/v3/...`) or start at `/v3`. (tests/ is on sys.path
through tests/conftest.py, so `import brevo_spec` works from any test directory.)
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import requests
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockRequest, MockResponse
from sandbox.brevo.spec import load_spec, openapi
from werkzeug.datastructures import ImmutableMultiDict

HOST = "https://api.brevo.com"


def _request(
    method: str, url_path: str, body: Any = None, query: dict[str, Any] | None = None, raw: bytes | None = None
) -> MockRequest:
    parts = urlsplit(url_path)
    path = parts.path
    if not path.startswith("/v3"):
        raise AssertionError(f"Brevo paths start with /v3: {url_path}")
    args = parse_qsl(parts.query, keep_blank_values=True)
    for key, value in (query or {}).items():
        args.extend((key, str(v)) for v in (value if isinstance(value, list) else [value]))
    data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
    return MockRequest(
        HOST,
        method.lower(),
        path,
        args=ImmutableMultiDict(args),  # type: ignore[arg-type]
        headers={"api-key": "xkeysib-test"},
        data=data,
        content_type="application/json",
    )


def _fail(what: str, errors: list[Exception]) -> None:
    details = []
    for error in errors:
        cause = error.__cause__
        schema_errors = getattr(cause, "schema_errors", None)
        details.append(
            f"{type(error).__name__}: {error}" + (f" -> {[e.message for e in schema_errors]}" if schema_errors else "")
        )
    raise AssertionError(f"{what} does not match Brevo's spec:\n  " + "\n  ".join(details))


def _validate_request(what: str, request: MockRequest) -> None:
    try:
        openapi().validate_request(request)
    except OpenAPIError as exc:
        _fail(what, [exc])


def _validate_response(what: str, request: MockRequest, response: MockResponse) -> None:
    try:
        openapi().validate_response(request, response)
    except OpenAPIError as exc:
        _fail(what, [exc])


def assert_request_valid(method: str, url_path: str, body: Any = None, query: dict[str, Any] | None = None) -> None:
    _validate_request(f"{method} {url_path} request", _request(method, url_path, body, query))


def _operation_responses(method: str, path: str) -> dict[str, Any]:
    relative = path[len("/v3") :]
    for template, item in load_spec()["paths"].items():
        if re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)), relative) and method.lower() in item:
            return item[method.lower()]["responses"]
    raise AssertionError(f"{method} {path} is not an operation of the served spec")


def _check_empty(method: str, url_path: str, status: int) -> None:
    """A response without a body is valid when the spec documents that status without content."""
    responses = _operation_responses(method, urlsplit(url_path).path)
    documented = responses.get(str(status))
    if documented is None:
        raise AssertionError(f"{method} {url_path}: status {status} is not documented")
    if "$ref" in documented:
        raise AssertionError(f"{method} {url_path}: status {status} must carry a body")
    if documented.get("content"):
        raise AssertionError(f"{method} {url_path}: status {status} must carry a body")


def assert_response_valid(
    method: str,
    url_path: str,
    status: int,
    body: Any = None,
    *,
    request_body: Any = None,
    content_type: str = "application/json",
) -> None:
    data = b"" if body is None else orjson.dumps(body)
    if not data:
        _check_empty(method, url_path, status)
        return
    response = MockResponse(data, status_code=status, content_type=content_type if data else None)
    _validate_response(f"{method} {url_path} -> {status} response", _request(method, url_path, request_body), response)


def assert_exchange_valid(response: Any, *, request_valid: bool = True) -> None:
    """Validate a `requests.Response` from the sandbox: the request that was sent (unless
    `request_valid` is False, for tests that send invalid requests on purpose) and the response."""
    sent = response.request
    raw = sent.body.encode() if isinstance(sent.body, str) else sent.body
    if request_valid:
        _validate_request(f"{sent.method} {sent.url} request", _request(sent.method, sent.url, raw=raw))
    body = response.json() if response.content else None
    content_type = response.headers.get("content-type", "application/json").split(";")[0]
    data = response.content
    if not data:
        _check_empty(sent.method, sent.url, response.status_code)
        return
    mock = MockResponse(data, status_code=response.status_code, content_type=content_type if data else None)
    what = f"{sent.method} {sent.url} -> {response.status_code} response {body!r}"
    _validate_response(what, _request(sent.method, sent.url, raw=raw), mock)


def _check_response_hook(response: Any, *args: Any, **kwargs: Any) -> Any:
    assert_exchange_valid(response, request_valid=False)
    return response


class SpecCheckedSession(requests.Session):
    """A session on the sandbox's Brevo API (`api.get("/contacts")`) that checks every response
    against the spec. Requests are not checked: tests send invalid ones on purpose."""

    def __init__(self, brevo: dict[str, str], *, check_responses: bool = True) -> None:
        super().__init__()
        self.base_url = brevo["api"]
        self.headers["api-key"] = brevo["api_key"]
        if check_responses:
            self.hooks["response"].append(_check_response_hook)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = str(url)
        if url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", 30)
        return super().request(method, url, *args, **kwargs)
