"""The one place that talks to Amplitude: POST a body of events to `/2/httpapi` or `/batch`, with retries.

Answers that say something about the events (200, 400 with event indexes, 413, 429) go back to the
caller, which decides what to send next. 500/502/504 (the request may have been ingested) and 503
(it was not) are sent again unchanged, so with the same insert_ids, after a backoff, as are timeouts
and dropped connections. Anything else stops the run with an AmplitudeError that never quotes the key.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests

LOGGER = logging.getLogger("target_amplitude.amplitude")
USER_AGENT = "target-amplitude/0.1"
HOSTS = {"US": "https://api2.amplitude.com", "EU": "https://api.eu.amplitude.com"}
HTTP_V2_PATH = "/2/httpapi"
BATCH_PATH = "/batch"
RETRIED_STATUSES = frozenset({500, 502, 503, 504})
#: Statuses whose body the caller acts on.
ANSWERED_STATUSES = frozenset({200, 400, 413, 429})


class AmplitudeError(Exception):
    """A request Amplitude refused for good (bad key, unexpected status, retries spent). Never holds the key."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def check_api_url(url: str) -> str:
    """The base URL without a trailing slash; plain http only for loopback hosts."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"api_url must be an http(s) URL, got {url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(f"api_url must use https (plain http is allowed only for loopback hosts): {url!r}")
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    backoff_base: float
    backoff_max: float
    timeout: float


@dataclass(frozen=True)
class Answer:
    """Amplitude's answer to one request: 200, 400, 413 or 429, with its JSON body (a dict, maybe empty)."""

    status: int
    body: dict[str, Any]

    @property
    def error(self) -> str:
        return str(self.body.get("error") or "")


@dataclass
class CallStats:
    requests: int = 0
    retries: int = 0
    statuses: Counter = field(default_factory=Counter)


class AmplitudeClient:
    """Sends pre-encoded events to one ingestion endpoint and returns the answer the caller must act on."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        path: str,
        policy: RetryPolicy,
        *,
        min_id_length: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api_key = api_key
        self.url = check_api_url(base_url) + path
        self.path = path
        self.policy = policy
        self.stats = CallStats()
        self._sleep = sleep
        options = orjson.dumps({"min_id_length": min_id_length}) if min_id_length is not None else None
        self._head = b'{"api_key":' + orjson.dumps(api_key) + b',"events":['
        self._tail = b"]" + (b',"options":' + options if options else b"") + b"}"
        self.session = requests.Session()
        self.session.headers.update({"content-type": "application/json", "accept": "*/*", "user-agent": USER_AGENT})

    @property
    def envelope_bytes(self) -> int:
        """Bytes a request body takes besides its events and the commas between them."""
        return len(self._head) + len(self._tail)

    def redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def body(self, encoded_events: list[bytes]) -> bytes:
        return self._head + b",".join(encoded_events) + self._tail

    def send(self, encoded_events: list[bytes]) -> Answer:
        """POST the events; retry 5xx and transport failures; return a 200/400/413/429 answer."""
        data = self.body(encoded_events)
        failures = 0
        while True:
            self.stats.requests += 1
            try:
                raw = self.session.post(self.url, data=data, timeout=self.policy.timeout)
            except (requests.Timeout, requests.ConnectionError) as exc:
                failures += 1
                self._backoff(failures, type(exc).__name__, status=None)
                continue
            self.stats.statuses[raw.status_code] += 1
            answer = Answer(raw.status_code, _json_body(raw))
            if raw.status_code in RETRIED_STATUSES:
                failures += 1
                self._backoff(failures, f"{raw.status_code} {answer.error}".strip(), status=raw.status_code)
                continue
            if raw.status_code == 400 and _is_key_error(answer):
                raise AmplitudeError(
                    f"POST {self.path}: Amplitude refused the api_key (400 {self.redact(answer.error)}); "
                    "check api_key and data_center (a key works only in its own region)",
                    status=400,
                )
            if raw.status_code not in ANSWERED_STATUSES:
                text = self.redact(answer.error or raw.text[:300])
                raise AmplitudeError(
                    f"POST {self.path}: Amplitude answered {raw.status_code} {text}", status=raw.status_code
                )
            return answer

    def _backoff(self, attempt: int, reason: str, *, status: int | None) -> None:
        if attempt > self.policy.max_retries:
            raise AmplitudeError(
                f"POST {self.path}: still failing after {attempt} attempts ({self.redact(reason)})", status=status
            )
        cap = min(self.policy.backoff_max, self.policy.backoff_base * 2 ** (attempt - 1))
        delay = cap / 2 + random.uniform(0, cap / 2)
        self.stats.retries += 1
        LOGGER.warning(
            "Amplitude POST %s failed (%s); retry %d in %.2fs", self.path, self.redact(reason), attempt, delay
        )
        self._sleep(delay)

    def close(self) -> None:
        self.session.close()


def _json_body(raw: requests.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(raw.content) if raw.content else {}
    except orjson.JSONDecodeError:
        return {"error": raw.text[:300]}
    return body if isinstance(body, dict) else {"error": str(body)[:300]}


def _is_key_error(answer: Answer) -> bool:
    """A 400 about the request as a whole: the key is wrong or missing."""
    return answer.error.lower().startswith("invalid api key") or answer.body.get("missing_field") == "api_key"
