"""The HTTP client under every Brevo call: api-key auth, pacing from x-sib-ratelimit-*, retries, call counts."""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
import requests

from target_brevo.brevo.errors import BrevoAuthError, BrevoError, error_code, error_message

LOGGER = logging.getLogger("target_brevo.brevo")
USER_AGENT = "target-brevo/0.1"
MAX_RATE_LIMIT_WAITS = 50  # consecutive 429s on one call before giving up
MAX_RATE_LIMIT_WAIT_SECONDS = 3600.0
# POST /contacts and PUT /contacts/{id} document 425 Too Early without saying why: retried like a 5xx
# (a contact upsert is idempotent), and rejected once retries are spent.
TOO_EARLY = 425


def check_api_url(url: str) -> str:
    """The base URL without a trailing slash; plain http only for loopback hosts."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"api_url must be an http(s) URL, got {url!r}")
    if parts.scheme == "http":
        host = parts.hostname
        loopback = host == "localhost"
        try:
            loopback = loopback or ipaddress.ip_address(host).is_loopback
        except ValueError:
            pass
        if not loopback:
            raise ValueError(f"api_url must use https (plain http is allowed only for loopback hosts): {url!r}")
    return url.rstrip("/")


def rate_bucket(template: str, method: str) -> str:
    """Which Brevo rate-limit bucket a call draws on."""
    if template.startswith("/contacts"):
        return "contacts"
    if template.startswith("/events"):
        return "events"
    if template == "/orders/status" and method == "POST":  # the batch endpoint draws on the general bucket
        return "orders"
    return "other"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a call is retried after a 5xx or a timeout."""

    max_retries: int
    backoff_base: float
    backoff_max: float
    timeout: float


@dataclass
class _Window:
    """What the last answer said of a rate-limit bucket: calls left, and when the window surely ends."""

    remaining: int | None = None
    reset_at: float = 0.0


@dataclass
class CallStats:
    """Calls, statuses, retries and rate-limit waits of one run, for the summary."""

    calls: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    rate_limited: int = 0
    rate_limit_wait_seconds: float = 0.0
    paced_waits: int = 0
    paced_wait_seconds: float = 0.0
    retries: int = 0


@dataclass(frozen=True)
class Response:
    """A 2xx or 4xx answer (5xx, 425, 401/403 and 429 never come back: they are retried or raised)."""

    status: int
    body: Any
    headers: dict[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class BrevoHttp:
    """Sends one logical call, waiting out 429s and retrying 5xx/timeouts; returns 2xx and 4xx answers."""

    def __init__(
        self, api_key: str, api_url: str, policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._api_key = api_key
        self.api_url = check_api_url(api_url)
        self.policy = policy
        self.stats = CallStats()
        self._sleep = sleep
        self._windows: dict[str, _Window] = {}
        self._clock_offset: float | None = None
        self._lock = threading.Lock()
        self.session = requests.Session()
        self.session.headers.update(
            {
                "api-key": api_key,
                "accept": "application/json",
                "content-type": "application/json",
                "user-agent": USER_AGENT,
            }
        )

    def now(self) -> float:
        """Brevo's time (epoch seconds) as its last `Date` header told it, else this machine's."""
        return time.time() + (self._clock_offset or 0.0)

    @property
    def clock_known(self) -> bool:
        return self._clock_offset is not None

    def _set_clock(self, date: str | None) -> None:
        if date:
            with contextlib.suppress(TypeError, ValueError):
                self._clock_offset = email.utils.parsedate_to_datetime(date).timestamp() - time.time()

    def redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def call(
        self,
        method: str,
        template: str,
        *,
        path_params: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        body: bytes | None = None,
        files: dict[str, Any] | None = None,
    ) -> Response:
        path = template.format(**{k: quote(str(v), safe="") for k, v in (path_params or {}).items()})
        url = self.api_url + path
        label = f"{method} {template}"
        data = body if body is not None else (orjson.dumps(json) if json is not None else None)
        bucket = rate_bucket(template, method)
        failures = rate_waits = 0
        while True:
            self._pace(bucket)
            self.stats.calls[label] += 1
            try:
                raw = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    files=files,
                    headers={"content-type": None} if files else None,  # requests sets the multipart boundary
                    timeout=self.policy.timeout,
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                failures += 1
                self._backoff(label, failures, type(exc).__name__, BrevoError(f"{label}: no answer"))
                continue
            response = _parse(raw)
            self._set_clock(response.headers.get("date"))
            self.stats.statuses[f"{label} {response.status}"] += 1
            self._observe(bucket, response.headers)
            if response.status == 429:
                rate_waits += 1
                self._wait_for_window(label, response, rate_waits)
            elif response.status >= 500 or response.status == TOO_EARLY:
                failures += 1
                self._backoff(label, failures, str(response.status), self._error(label, response, BrevoError))
            elif response.status in (401, 403):
                raise self._error(label, response, BrevoAuthError)
            else:
                return response

    def _error(self, label: str, response: Response, error_type: type[BrevoError]) -> BrevoError:
        message = self.redact(error_message(response.body))
        if error_type is BrevoAuthError:
            text = f"{label}: Brevo refused the api_key ({response.status} {message}); check api_key and the key's IP allow-list"
        else:
            text = f"{label}: Brevo answered {response.status} {message}"
        return error_type(text, status=response.status, code=error_code(response.body), reason=message)

    def _wait_for_window(self, label: str, response: Response, waits: int) -> None:
        """A 429: wait for the window to reset, as `x-sib-ratelimit-reset` says."""
        self.stats.rate_limited += 1
        if waits > MAX_RATE_LIMIT_WAITS:
            raise BrevoError(f"{label}: still rate limited after {waits - 1} waits", status=429)
        wait = _reset_seconds(response.headers, default=1.0)
        LOGGER.info("Brevo rate limit on %s: waiting %.1fs for the window to reset", label, wait)
        self.stats.rate_limit_wait_seconds += wait
        self._sleep(wait)

    def _backoff(self, label: str, attempt: int, reason: str, error: BrevoError) -> None:
        """Wait before retry `attempt`, or raise `error` (noting the attempts) once retries are spent."""
        if attempt > self.policy.max_retries:
            raise type(error)(
                f"{error} after {attempt} attempts ({reason})",
                status=error.status,
                code=error.code,
                reason=error.reason,
            ) from None
        cap = min(self.policy.backoff_max, self.policy.backoff_base * (2 ** (attempt - 1)))
        delay = cap / 2 + random.uniform(0, cap / 2)
        self.stats.retries += 1
        LOGGER.warning("Brevo %s failed (%s); retry %d in %.2fs", label, reason, attempt, delay)
        self._sleep(delay)

    def _observe(self, bucket: str, headers: dict[str, str]) -> None:
        """Remember how many calls the bucket's window has left and the earliest time it surely resets.

        `x-sib-ratelimit-reset` is whole seconds rounded up, so one answer only says the window ends
        within `reset` seconds of it; every answer of the same window narrows that, and the earliest
        bound wins (waiting for the last answer's bound alone wastes most of a second per window).
        Calls are sequential, so an answer is of the same window only if `remaining` went down: an
        equal count is the first call of a new window (merging the two bounds would end the new
        window early, and the next call would meet a 429).
        """
        if "x-sib-ratelimit-remaining" not in headers:
            return
        try:
            remaining = int(float(headers["x-sib-ratelimit-remaining"]))
        except ValueError:
            return
        now = time.monotonic()
        bound = now + _reset_seconds(headers, default=1.0)
        with self._lock:
            window = self._windows.get(bucket)
            if (
                window is not None
                and window.remaining is not None
                and remaining < window.remaining
                and now < window.reset_at
            ):
                bound = min(window.reset_at, bound)
            self._windows[bucket] = _Window(remaining, bound)

    def _pace(self, bucket: str) -> None:
        """Slow down when the last answer said no calls are left in this bucket's window."""
        with self._lock:
            window = self._windows.get(bucket)
            if window is None or window.remaining is None or window.remaining > 0:
                return
            wait = min(window.reset_at - time.monotonic(), MAX_RATE_LIMIT_WAIT_SECONDS)
            self._windows[bucket] = _Window()
        if wait > 0:
            self.stats.paced_waits += 1
            self.stats.paced_wait_seconds += wait
            LOGGER.info("Brevo %s rate window exhausted: pausing %.2fs until it resets", bucket, wait)
            self._sleep(wait)

    def close(self) -> None:
        self.session.close()


def _parse(raw: requests.Response) -> Response:
    headers = {k.lower(): v for k, v in raw.headers.items()}
    body: Any = None
    if raw.content:
        try:
            body = orjson.loads(raw.content)
        except orjson.JSONDecodeError:
            body = raw.text[:1000]
    return Response(raw.status_code, body, headers)


def _reset_seconds(headers: dict[str, str], default: float) -> float:
    try:
        return max(0.0, float(headers["x-sib-ratelimit-reset"]))
    except (KeyError, ValueError):
        return default
