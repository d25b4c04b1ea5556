"""`tap-brevo-webhooks`: create (or bring up to date) and remove the Brevo webhooks that post to tap-brevo.

    tap-brevo-webhooks ensure --url https://hooks.example.com/brevo [--type transactional|marketing] [--events ...]
    tap-brevo-webhooks remove --url https://hooks.example.com/brevo [--type ...]

`--url` is the public URL of the tap's `path_prefix`; the webhook of each type posts to `<url>/transactional` or
`<url>/marketing`. Idempotent: `GET /webhooks?type=` finds this tool's webhook by that URL (credentials aside);
missing -> `POST /webhooks`; events or authentication different -> `PUT /webhooks/{id}`; else left alone. The
webhook authenticates with the tap's `auth_token` (Brevo's `auth: {type: bearer}`) or, failing that, its
`basic_username`/`basic_password` (in the URL, as Brevo does basic auth). Settings come from `--config` (the tap's
JSON config) and the environment (`TAP_BREVO_API_KEY`, `TAP_BREVO_AUTH_TOKEN`, ...: what `meltano invoke` sets).
It prints what it did; never a secret.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from tap_brevo.client import DEFAULT_API_URL, BrevoClient, BrevoError, check_https
from tap_brevo.events import MARKETING, TRANSACTIONAL
from tap_brevo.receiving import PATHS

SUBSCRIPTIONS = {
    TRANSACTIONAL: ("request", "delivered", "hardBounce", "softBounce", "blocked", "spam", "invalid", "deferred",
                    "click", "opened", "uniqueOpened", "unsubscribed"),
    MARKETING: ("spam", "opened", "click", "hardBounce", "softBounce", "unsubscribed", "listAddition", "delivered",
                "contactUpdated", "contactDeleted"),
}  # fmt: skip
SETTINGS = ("api_key", "api_url", "auth_token", "basic_username", "basic_password")
ENV_PREFIX = "TAP_BREVO_"
DESCRIPTION = "tap-brevo {type} events (managed by tap-brevo-webhooks)"


def load_settings(config_path: str | None) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if config_path:
        with open(config_path) as file:
            settings.update({k: v for k, v in json.load(file).items() if k in SETTINGS})
    for name in SETTINGS:
        value = os.environ.get(ENV_PREFIX + name.upper())
        if value:
            settings[name] = value
    return settings


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), parts.query, ""))


def with_credentials(url: str, username: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


class WebhookManager:
    def __init__(self, client: BrevoClient, settings: dict[str, Any], out: Any = sys.stdout) -> None:
        self.client = client
        self.token = settings.get("auth_token") or None
        self.username = settings.get("basic_username") or None
        self.password = settings.get("basic_password") or None
        self.out = out

    def _say(self, text: str) -> None:
        print(text, file=self.out)

    def _target(self, base_url: str, kind: str) -> str:
        return without_credentials(base_url.rstrip("/") + PATHS[kind])

    def _mine(self, kind: str, url: str) -> list[dict[str, Any]]:
        answer = self.client.get("/webhooks", {"type": kind}) or {}
        hooks = answer.get("webhooks") or [] if isinstance(answer, dict) else []
        return [hook for hook in hooks if isinstance(hook, dict) and without_credentials(str(hook.get("url"))) == url]

    def _desired(self, kind: str, url: str, events: Sequence[str], batched: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "events": list(events),
            "description": DESCRIPTION.format(type=kind),
            "batched": batched,
        }
        if self.token:
            body["url"] = url
            body["auth"] = {"type": "bearer", "token": self.token}
        elif self.username and self.password:
            body["url"] = with_credentials(url, self.username, self.password)
        else:
            raise ValueError("set auth_token, or basic_username and basic_password: the webhook needs credentials")
        return body

    def _differs(self, hook: dict[str, Any], desired: dict[str, Any]) -> list[str]:
        changed = []
        if sorted(hook.get("events") or []) != sorted(desired["events"]):
            changed.append("events")
        auth = hook.get("auth") if isinstance(hook.get("auth"), dict) else {}
        if "auth" in desired:
            # Brevo may not show a webhook's token: a hidden one is taken as ours (a rotated token is set with
            # `remove`, then `ensure`), a shown one must match.
            shown = auth.get("token")
            if auth.get("type") != "bearer" or (shown and shown != self.token):
                changed.append("auth")
        elif auth.get("token") or hook.get("url") != desired["url"]:
            changed.append("auth")
        if bool(hook.get("batched")) != desired["batched"]:
            changed.append("batched")
        return changed

    def ensure(self, base_url: str, kind: str, events: Sequence[str], batched: bool) -> str:
        url = self._target(base_url, kind)
        desired = {**self._desired(kind, url, events, batched), "type": kind}
        hooks = self._mine(kind, url)
        if not hooks:
            created = self.client.call("POST", "/webhooks", body=desired) or {}
            self._say(f"created {kind} webhook {created.get('id')} -> {url} ({', '.join(events)})")
            return "created"
        hook, *extra = hooks
        if extra:
            self._say(f"note: {len(extra)} more {kind} webhooks post to {url} (ids {[h.get('id') for h in extra]})")
        changed = self._differs(hook, desired)
        if not changed:
            self._say(f"{kind} webhook {hook.get('id')} -> {url} is up to date")
            return "unchanged"
        update = {key: value for key, value in desired.items() if key != "type"}
        self.client.call("PUT", f"/webhooks/{hook['id']}", body=update)
        self._say(f"updated {kind} webhook {hook.get('id')} -> {url} ({', '.join(changed)})")
        return "updated"

    def remove(self, base_url: str, kind: str) -> int:
        url = self._target(base_url, kind)
        hooks = self._mine(kind, url)
        for hook in hooks:
            self.client.call("DELETE", f"/webhooks/{hook['id']}", allow=(404,))
            self._say(f"removed {kind} webhook {hook.get('id')} -> {url}")
        if not hooks:
            self._say(f"no {kind} webhook posts to {url}")
        return len(hooks)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tap-brevo-webhooks", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("ensure", "create or update the webhooks"), ("remove", "delete the webhooks")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--url", required=True, help="public URL of the tap's path_prefix (https://...)")
        command.add_argument("--type", choices=(TRANSACTIONAL, MARKETING), help="one type only (default: both)")
        command.add_argument("--config", help="the tap's JSON config (the environment's TAP_BREVO_* win)")
        if name == "ensure":
            command.add_argument("--events", nargs="+", help="subscriptions (default: every event of the type)")
            command.add_argument("--batched", action="store_true", help="ask Brevo for batched webhooks")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logger = logging.getLogger("tap-brevo-webhooks")
    try:
        settings = load_settings(args.config)
        check_https(args.url, "--url")
        if urlsplit(args.url).username:
            raise ValueError("--url must not carry credentials: they come from basic_username/basic_password")
        if not settings.get("api_key"):
            raise ValueError("api_key is required (TAP_BREVO_API_KEY or --config)")
        kinds = [args.type] if args.type else [TRANSACTIONAL, MARKETING]
        client = BrevoClient(settings.get("api_url") or DEFAULT_API_URL, settings["api_key"], logger)
        manager = WebhookManager(client, settings)
        try:
            for kind in kinds:
                if args.command == "ensure":
                    events = [name for given in args.events or () for name in given.split(",") if name.strip()]
                    manager.ensure(args.url, kind, [n.strip() for n in events] or SUBSCRIPTIONS[kind], args.batched)
                else:
                    manager.remove(args.url, kind)
        finally:
            client.close()
    except (ValueError, OSError, BrevoError) as exc:
        print(f"tap-brevo-webhooks: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
