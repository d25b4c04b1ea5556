"""One HTTP client for every Amplitude call: hosts per data center, Basic auth, retries with backoff,
the server's clock, and error messages that name the cause without ever showing a secret."""

from __future__ import annotations

import ipaddress
import logging
import random
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from tap_amplitude.errors import AmplitudeError, CredentialsError

HOSTS = {"US": "https://amplitude.com", "EU": "https://analytics.eu.amplitude.com"}
RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "tap-amplitude (Meltano Singer SDK)"


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def base_url(config: Mapping[str, Any], data_center: str, logger: logging.Logger) -> str:
    """The Export/Dashboard host: `api_url` if set, else `data_center`'s entry of `api_urls`, else Amplitude's
    host for the data center. An `api_url` that is the other data center's host is named in a warning."""
    pinned = config.get("api_url")
    per_region = config.get("api_urls") or {}
    url = str(pinned or per_region.get(data_center) or HOSTS[data_center]).rstrip("/")
    check_url_scheme(url, "api_url" if pinned else f"api_urls.{data_center}" if data_center in per_region else "host")
    if pinned:
        host = urlsplit(url).hostname
        for region, official in HOSTS.items():
            if region != data_center and host == urlsplit(official).hostname:
                logger.warning(
                    "api_url %s is the %s data center's host but data_center is %s; api_url wins "
                    "(remove it to let data_center decide)",
                    url, region, data_center,
                )  # fmt: skip
    return url


def check_url_scheme(url: str, what: str) -> None:
    """Plain http only to this machine (the sandbox); anything else must be https."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return
    raise AmplitudeError(
        f"{what} must be an https URL (plain http is allowed only for loopback hosts): {strip_query(url)}"
    )


def strip_query(url: str) -> str:
    """A URL safe to log: pre-signed download links carry their signature in the query."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def error_details(response: requests.Response) -> str:
    """`error.metadata.details` (or `error.message`) of Amplitude's error envelope, else the body's start."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            metadata = error.get("metadata") or {}
            details = metadata.get("details") if isinstance(metadata, dict) else None
            return str(details or error.get("message") or error.get("type") or body)[:300]
        if isinstance(error, str):
            return error[:300]
    return str(body)[:300]


class AmplitudeClient:
    """Basic-auth session against the Dashboard/Export host of one project."""

    def __init__(self, config: Mapping[str, Any], logger: logging.Logger) -> None:
        self.logger = logger
        self.data_center = str(config.get("data_center") or "US").upper()
        if self.data_center not in HOSTS:
            raise AmplitudeError(f"data_center must be US or EU, not {self.data_center!r}")
        self.base_url = base_url(config, self.data_center, logger)
        api_key, secret_key = config.get("api_key"), config.get("secret_key")
        if not api_key or not secret_key:
            raise AmplitudeError("api_key and secret_key are required")
        self._secrets = tuple(s for s in (str(api_key), str(secret_key)) if s)
        self.timeout = float(config.get("request_timeout") or 300)
        self.max_retries = int(config.get("max_retries", 5))
        self.backoff_seconds = float(config.get("retry_backoff_seconds", 1.0))
        self.session = requests.Session()
        self.session.auth = (str(api_key), str(secret_key))
        self.session.headers["User-Agent"] = USER_AGENT
        # Pre-signed download links must not receive our credentials.
        self.anonymous = requests.Session()
        self.anonymous.headers["User-Agent"] = USER_AGENT
        self._clock_offset: timedelta | None = None

    # -- secrets -------------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # -- the server's clock ----------------------------------------------------------------------

    def _note_server_date(self, response: requests.Response) -> None:
        header = response.headers.get("Date")
        if not header or self._clock_offset is not None:
            return
        try:
            server = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return
        if server.tzinfo is None:
            server = server.replace(tzinfo=UTC)
        self._clock_offset = server - datetime.now(UTC)

    @property
    def has_server_clock(self) -> bool:
        return self._clock_offset is not None

    def server_now(self) -> tuple[datetime, str]:
        """Now as Amplitude's server sees it (from the first response's `Date`), and where it came from."""
        if self._clock_offset is None:
            return datetime.now(UTC), "local clock (no Date header seen)"
        return datetime.now(UTC) + self._clock_offset, "Amplitude server Date header"

    # -- requests ----------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def wait_before_retry(
        self, attempt: int, response: requests.Response | None = None, *, at_least: float = 0.0
    ) -> None:
        delay = max(self.backoff_seconds * (2**attempt), at_least)
        if response is not None and (retry_after := response.headers.get("Retry-After")):
            try:
                delay = max(delay, float(retry_after))
            except ValueError:
                pass
        delay = min(delay, 120.0)
        time.sleep(delay + random.uniform(0, delay / 10))

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        *,
        accept: Iterable[int] = (200,),
        stream: bool = False,
        allow_redirects: bool = True,
        what: str | None = None,
        min_retry_wait: float = 0.0,
    ) -> requests.Response:
        """GET with retries on 429/5xx and connection errors; returns responses whose status is in `accept`.

        401/403 raise `CredentialsError`; any other status raises `AmplitudeError` naming `what`. A retry waits
        at least `min_retry_wait` seconds (an API whose rate limit window is longer than the backoff).
        """
        return self._send(
            self.session,
            self.url(path),
            params,
            accept=frozenset(accept),
            stream=stream,
            allow_redirects=allow_redirects,
            what=what or path,
            min_retry_wait=min_retry_wait,
        )

    def get_anonymous(self, url: str, *, accept: Iterable[int] = (200,), what: str) -> requests.Response:
        """GET a pre-signed URL without credentials (it carries its own signature)."""
        check_url_scheme(url, "download link")
        return self._send(
            self.anonymous, url, None, accept=frozenset(accept), stream=True, allow_redirects=True, what=what
        )

    def _send(
        self,
        session: requests.Session,
        url: str,
        params: Any,
        *,
        accept: frozenset[int],
        stream: bool,
        allow_redirects: bool,
        what: str,
        min_retry_wait: float = 0.0,
    ) -> requests.Response:
        attempt = 0
        while True:
            try:
                response = session.get(
                    url, params=params, timeout=self.timeout, stream=stream, allow_redirects=allow_redirects
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt >= self.max_retries:
                    raise AmplitudeError(
                        self.redact(
                            f"{what}: no answer from {strip_query(url)} after {attempt + 1} attempts "
                            f"({type(exc).__name__})"
                        )
                    ) from None
                self.logger.warning(
                    "%s: %s, retrying (attempt %d of %d)", what, type(exc).__name__, attempt + 1, self.max_retries
                )
                self.wait_before_retry(attempt)
                attempt += 1
                continue
            if session is self.session:
                self._note_server_date(response)
            status = response.status_code
            if status in accept:
                return response
            if status in (401, 403) and session is self.session:
                response.close()
                raise self.credentials_error(response)
            if status in RETRIABLE_STATUSES and attempt < self.max_retries:
                self.logger.warning(
                    "%s: HTTP %d, retrying (attempt %d of %d)", what, status, attempt + 1, self.max_retries
                )
                self.wait_before_retry(attempt, response, at_least=min_retry_wait)
                response.close()
                attempt += 1
                continue
            details = error_details(response)
            response.close()
            suffix = f" after {attempt + 1} attempts" if status in RETRIABLE_STATUSES else ""
            raise AmplitudeError(self.redact(f"{what}: HTTP {status} from {strip_query(url)}{suffix}: {details}"))

    def credentials_error(self, response: requests.Response) -> CredentialsError:
        details = error_details(response)
        status = response.status_code
        lowered = details.lower()
        if "combination" in lowered or "secret" in lowered:
            message = (
                f"Amplitude accepted the API key but rejected the secret key (HTTP {status}: {details}). "
                "Check secret_key: it must be the secret key of the same project as api_key."
            )
        elif "api key" in lowered or "api_key" in lowered:
            other = "EU" if self.data_center == "US" else "US"
            message = (
                f"Amplitude does not know this API key at {self.base_url} (HTTP {status}: {details}). "
                f"Either api_key is wrong or the project lives in the other data center: data_center is "
                f"{self.data_center}; a project created in the {other} region needs data_center={other}."
            )
        else:
            message = (
                f"Amplitude refused the credentials at {self.base_url} (HTTP {status}: {details}). "
                "Check api_key, secret_key and data_center (US or EU)."
            )
        return CredentialsError(self.redact(message))
