"""One Brevo API client: api-key auth, pacing from x-sib-ratelimit-*, retries, error mapping, call counts."""

from __future__ import annotations

import ipaddress
import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
import requests

LOGGER = logging.getLogger("target_brevo.client")
DEFAULT_API_URL = "https://api.brevo.com/v3"
USER_AGENT = "target-brevo/0.1"


class BrevoError(Exception):
    """A Brevo call that failed for good. The message names the call and Brevo's answer, never the key."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.body = body


class BrevoAuthError(BrevoError):
    """The api_key was refused (401) or lacks permission (403)."""


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
    if template == "/orders/status" and method == "POST":
        return "orders"
    return "other"


@dataclass
class RetryPolicy:
    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_rate_limit_waits: int = 50
    timeout: float = 60.0
    max_rate_limit_wait: float = 3600.0


@dataclass
class _Bucket:
    remaining: int | None = None
    reset_at: float = 0.0


@dataclass
class ClientStats:
    calls: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    rate_limited: int = 0
    rate_limit_wait_seconds: float = 0.0
    paced_waits: int = 0
    paced_wait_seconds: float = 0.0
    retries: int = 0


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None

    @property
    def error_message(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("message") or self.body)
        return str(self.body)[:500]


class BrevoClient:
    """Sends one logical call, waiting out 429s and retrying 5xx/timeouts; returns 2xx and 4xx answers."""

    def __init__(
        self,
        api_key: str,
        api_url: str = DEFAULT_API_URL,
        policy: RetryPolicy | None = None,
        sleep: Any = time.sleep,
    ) -> None:
        self._api_key = api_key
        self.api_url = check_api_url(api_url)
        self.policy = policy or RetryPolicy()
        self.stats = ClientStats()
        self._sleep = sleep
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self.session = requests.Session()
        self.session.headers.update(
            {"api-key": api_key, "accept": "application/json", "content-type": "application/json", "user-agent": USER_AGENT}
        )

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
    ) -> Response:
        path = template.format(**{k: quote(str(v), safe="") for k, v in (path_params or {}).items()})
        url = self.api_url + path
        label = f"{method} {template}"
        data = body if body is not None else (orjson.dumps(json) if json is not None else None)
        bucket = rate_bucket(template, method)
        failures = 0
        rate_waits = 0
        while True:
            self._pace(bucket)
            self.stats.calls[label] += 1
            try:
                raw = self.session.request(method, url, params=params, data=data, timeout=self.policy.timeout)
            except (requests.Timeout, requests.ConnectionError) as exc:
                failures += 1
                if failures > self.policy.max_retries:
                    raise BrevoError(f"{label}: no answer after {failures} attempts ({type(exc).__name__})") from None
                self._backoff(label, failures, type(exc).__name__)
                continue
            response = self._parse(raw)
            self.stats.statuses[f"{label} {response.status}"] += 1
            self._observe(bucket, response.headers)
            if response.status == 429:
                rate_waits += 1
                self.stats.rate_limited += 1
                if rate_waits > self.policy.max_rate_limit_waits:
                    raise BrevoError(f"{label}: still rate limited after {rate_waits - 1} waits", status=429)
                wait = self._reset_seconds(response.headers, default=1.0)
                LOGGER.info("Brevo rate limit on %s: waiting %.1fs for the window to reset", label, wait)
                self.stats.rate_limit_wait_seconds += wait
                self._sleep(wait)
                continue
            if response.status >= 500:
                failures += 1
                if failures > self.policy.max_retries:
                    raise BrevoError(
                        f"{label}: Brevo answered {response.status} {self.redact(response.error_message)} "
                        f"after {failures} attempts",
                        status=response.status,
                        code=response.error_code,
                    )
                self._backoff(label, failures, str(response.status))
                continue
            if response.status in (401, 403):
                raise BrevoAuthError(
                    f"{label}: Brevo refused the api_key ({response.status} "
                    f"{self.redact(response.error_message)}); check api_key and the key's IP allow-list",
                    status=response.status,
                    code=response.error_code,
                )
            return response

    def _parse(self, raw: requests.Response) -> Response:
        headers = {k.lower(): v for k, v in raw.headers.items()}
        body: Any = None
        if raw.content:
            try:
                body = orjson.loads(raw.content)
            except orjson.JSONDecodeError:
                body = raw.text[:1000]
        return Response(raw.status_code, body, headers)

    def _backoff(self, label: str, attempt: int, reason: str) -> None:
        cap = min(self.policy.backoff_max, self.policy.backoff_base * (2 ** (attempt - 1)))
        delay = cap / 2 + random.uniform(0, cap / 2)
        self.stats.retries += 1
        LOGGER.warning("Brevo %s failed (%s); retry %d in %.2fs", label, reason, attempt, delay)
        self._sleep(delay)

    @staticmethod
    def _reset_seconds(headers: dict[str, str], default: float) -> float:
        try:
            return max(0.0, float(headers["x-sib-ratelimit-reset"]))
        except (KeyError, ValueError):
            return default

    def _observe(self, bucket: str, headers: dict[str, str]) -> None:
        """Remember how many calls the bucket's window has left and the earliest time it surely resets.

        `x-sib-ratelimit-reset` is whole seconds rounded up, so one answer only says the window ends
        within `reset` seconds of it; every answer of the same window narrows that, and the earliest
        bound wins (waiting for the last answer's bound alone wastes most of a second per window).
        """
        if "x-sib-ratelimit-remaining" not in headers:
            return
        try:
            remaining = int(float(headers["x-sib-ratelimit-remaining"]))
        except ValueError:
            return
        now = time.monotonic()
        bound = now + self._reset_seconds(headers, default=1.0)
        with self._lock:
            state = self._buckets.get(bucket)
            same_window = (state is not None and state.remaining is not None and remaining <= state.remaining
                           and now < state.reset_at)
            self._buckets[bucket] = _Bucket(remaining, min(state.reset_at, bound) if same_window else bound)  # type: ignore[union-attr]

    def _pace(self, bucket: str) -> None:
        """Slow down when the last answer said no calls are left in this bucket's window."""
        with self._lock:
            state = self._buckets.get(bucket)
            if state is None or state.remaining is None or state.remaining > 0:
                return
            wait = min(state.reset_at - time.monotonic(), self.policy.max_rate_limit_wait)
            self._buckets[bucket] = _Bucket()
        if wait > 0:
            self.stats.paced_waits += 1
            self.stats.paced_wait_seconds += wait
            LOGGER.info("Brevo %s rate window exhausted: pausing %.2fs until it resets", bucket, wait)
            self._sleep(wait)

    def close(self) -> None:
        self.session.close()
