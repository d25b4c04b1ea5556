"""The webhook side: Brevo's two webhook types on two paths of the shared receiver, and what a spooled item
becomes (one `email_events` record)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from webhook_receiver import Endpoint, SpooledItem

from tap_brevo.auth import authorization_check
from tap_brevo.events import MARKETING, TRANSACTIONAL, UnknownEvent, from_webhook
from tap_brevo.payloads import Refused, check_item, classifier

PATHS = {TRANSACTIONAL: "/transactional", MARKETING: "/marketing"}
DESCRIPTIONS = {TRANSACTIONAL: "transactional webhooks", MARKETING: "marketing and contact webhooks"}


@dataclass(frozen=True)
class WebhookAuth:
    token: str | None = field(default=None, repr=False)
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, config: Any) -> WebhookAuth:
        return cls(config.get("auth_token") or None, config.get("basic_username") or None,
                   config.get("basic_password") or None)  # fmt: skip


def endpoints(prefix: str, auth: WebhookAuth) -> tuple[list[Endpoint], str]:
    """The receiver's endpoints, and the auth note for logs. ValueError without credentials."""
    authorize, note = authorization_check(auth.token, auth.username, auth.password)
    return [
        Endpoint(prefix + path, authorize, classifier(channel), DESCRIPTIONS[channel])  # type: ignore[arg-type]
        for channel, path in PATHS.items()
    ], note


class WebhookItems:
    """Spooled items -> records through `emit`; unknown event names and unreadable items are counted, not raised."""

    def __init__(self, emit: Callable[[dict[str, Any]], None]) -> None:
        self._emit = emit
        self.skipped: Counter[str] = Counter()

    def __call__(self, item: SpooledItem) -> None:
        body = orjson.loads(item.body)
        try:
            check_item(body)  # a batch's items were spooled unchecked
            record = from_webhook(body, item.kind, datetime.fromtimestamp(item.received_at, UTC))
        except UnknownEvent as exc:
            self.skipped[f"event {exc}"] += 1
            return
        except Refused as exc:
            self.skipped[f"unreadable item ({exc})"] += 1
            return
        self._emit(record)
