"""Every call this package makes to Brevo's API v3 goes through `BrevoClient`: the `api-key` header, pacing by
Brevo's rate-limit buckets, retries, and errors that name the cause (never the key).

Buckets (developers.brevo.com/docs/api-limits): `/smtp/*` 300 requests/hour, `/contacts*` 10/s (and 36,000/h),
everything else (`/webhooks`) 100/hour. Each response's `x-sib-ratelimit-remaining` and `x-sib-ratelimit-reset`
(seconds until the window resets) are read: once the remaining requests of a bucket fall to its reserve (requests
left to the account's other users of that bucket, e.g. the app sending transactional email through `/smtp/email`),
the next call waits for the reset. A 429 waits for the reset (Brevo sends no Retry-After) and retries; a 5xx or a
connection error is retried a few times with growing waits.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

DEFAULT_API_URL = "https://api.brevo.com/v3"
TIMEOUT_SECONDS = 60
RETRIES = 4  # per call, for 429, 5xx and connection errors
DEFAULT_RESET_SECONDS = 60.0  # a 429 without x-sib-ratelimit-reset waits this long
MIN_INTERVAL_SECONDS = {"contacts": 0.1}  # 10 requests/s
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
STOP_CHECK_SECONDS = 0.5


class BrevoError(Exception):
    """A call Brevo refused or that could not be made; the message names the call and the reason."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Stopped(BrevoError):
    """A stop was requested while a call waited (pacing, 429, retry): the call was not made."""


def bucket_of(path: str) -> str:
    if path.startswith("/smtp/"):
        return "smtp"
    if path.startswith("/contacts"):
        return "contacts"
    return "other"


def check_https(url: str, what: str) -> None:
    """ValueError unless `url` is HTTPS, or HTTP on a loopback host (the sandbox, a local proxy)."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return
    raise ValueError(f"{what} must be an https:// URL (http:// only on a loopback host), got {parts.scheme}://…")


@dataclass
class _Bucket:
    reserve: int
    wait_until: float = 0.0  # monotonic time before which no call is made
    last_call: float = 0.0
    remaining: int | None = None


@dataclass
class CallCounts:
    calls: Counter[str] = field(default_factory=Counter)  # per "METHOD bucket"
    waited_seconds: float = 0.0
    throttled: int = 0  # 429s


class BrevoClient:
    """`reserves` maps a bucket (`smtp`, `contacts`, `other`) to the requests left to others; `stopping()` says a
    stop was requested (waits are cut short, and the call raises Stopped); `sleep` and `clock` are replaceable for
    tests."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        logger: logging.Logger,
        *,
        reserves: Mapping[str, int] | None = None,
        stopping: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_https(api_url, "api_url")
        self.api_url = api_url.rstrip("/")
        self.logger = logger
        self._stopping = stopping
        self._sleep = sleep or self._sleep_unless_stopping
        self._clock = clock
        self._session = requests.Session()
        self._session.headers.update(
            {"api-key": api_key, "accept": "application/json", "user-agent": "tap-brevo-engagement"}
        )
        self._buckets = {name: _Bucket((reserves or {}).get(name, 0)) for name in ("smtp", "contacts", "other")}
        self.counts = CallCounts()

    def close(self) -> None:
        self._session.close()

    # -- calls ----------------------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, allow: tuple[int, ...] = ()) -> Any:
        return self.call("GET", path, params=params, allow=allow)

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        allow: tuple[int, ...] = (),
    ) -> Any:
        """The parsed JSON answer (None for an empty one); a status in `allow` returns None instead of raising."""
        bucket_name = bucket_of(path)
        bucket = self._buckets[bucket_name]
        what = f"{method} {path.split('?')[0]}"
        for attempt in range(RETRIES + 1):
            if self._stopping():
                raise Stopped(f"{what}: not made, stopping")
            self._pace(bucket_name, bucket)
            try:
                response = self._session.request(
                    method, self.api_url + path, params=params, json=body, timeout=TIMEOUT_SECONDS
                )
            except requests.RequestException as exc:
                if attempt == RETRIES:
                    raise BrevoError(f"{what}: {type(exc).__name__} after {RETRIES + 1} attempts") from None
                self._wait(2.0**attempt, f"{what}: {type(exc).__name__}, retrying")
                continue
            finally:
                bucket.last_call = self._clock()
                self.counts.calls[f"{method} {bucket_name}"] += 1
            self._read_limits(bucket, response)
            if response.status_code == 429:
                self.counts.throttled += 1
                if attempt == RETRIES:
                    raise BrevoError(f"{what}: still rate limited (429) after {RETRIES + 1} attempts", 429)
                reset = _header_number(response, "x-sib-ratelimit-reset") or DEFAULT_RESET_SECONDS
                self._wait(reset, f"{what}: rate limited (429), waiting for the {bucket_name} bucket's reset")
                continue
            if response.status_code >= 500 and attempt < RETRIES:
                self._wait(2.0**attempt, f"{what}: {response.status_code}, retrying")
                continue
            if response.status_code in allow:
                return None
            if response.status_code >= 400:
                raise BrevoError(f"{what}: {response.status_code} {_reason(response)}", response.status_code)
            return response.json() if response.content else None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- pacing ---------------------------------------------------------------------------------------

    def _read_limits(self, bucket: _Bucket, response: requests.Response) -> None:
        remaining = _header_number(response, "x-sib-ratelimit-remaining")
        reset = _header_number(response, "x-sib-ratelimit-reset")
        if remaining is None:
            return
        bucket.remaining = int(remaining)
        if remaining <= bucket.reserve and reset is not None:
            bucket.wait_until = max(bucket.wait_until, self._clock() + reset)

    def _pace(self, name: str, bucket: _Bucket) -> None:
        now = self._clock()
        wait = max(bucket.wait_until - now, bucket.last_call + MIN_INTERVAL_SECONDS.get(name, 0.0) - now)
        if wait > 0:
            if wait >= 1:
                self.logger.info(
                    "Brevo %s bucket: %s requests left (reserve %d): waiting %.0f s for its reset",
                    name, bucket.remaining, bucket.reserve, wait,
                )  # fmt: skip
            self._wait(wait, None)

    def _wait(self, seconds: float, reason: str | None) -> None:
        if reason:
            self.logger.warning("%s (%.0f s)", reason, seconds)
        self.counts.waited_seconds += seconds
        self._sleep(seconds)
        if self._stopping():
            raise Stopped("stopped while waiting")

    def _sleep_unless_stopping(self, seconds: float) -> None:
        # Short slices: a stop request (a flag set by a signal handler) ends a wait of up to an hour within 0.5 s.
        end = time.monotonic() + seconds
        while not self._stopping() and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, STOP_CHECK_SECONDS))


def _header_number(response: requests.Response, name: str) -> float | None:
    value = response.headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _reason(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason or ""
    if isinstance(body, dict):
        return " ".join(str(body[key]) for key in ("code", "message") if body.get(key)) or response.reason
    return response.reason or ""
