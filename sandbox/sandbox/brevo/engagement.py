"""What happens to each recipient of a simulated send: deterministic from a seed, timed on the sandbox clock.

Rates (each from 0 to 1, all optional, default 0 but `delivered` 1):
- `hard_bounce`, `soft_bounce` and, for transactional email, `invalid_email`, `blocked`, `error`: fractions of
  the recipients, exclusive (their sum is at most 1). Such a recipient gets that event and nothing more.
- `deferred` (transactional): a fraction of the recipients whose email is deferred once before its outcome.
- `delivered`: the fraction of the others that is delivered (the rest stay in flight: no further event).
- `opened`, `click`, `unsubscribed`, `spam`, `proxy_open` (transactional): fractions of the delivered. Clickers
  are among the openers (`click` <= `opened`); an unsubscribe comes after the open, if any.

Each recipient draws from its own generator, seeded by the seed and its email, so a recipient's fate does
not depend on who else is on the list. Times (epoch milliseconds) spread after the send: a request at the
send (transactional), a bounce or a delivery within a minute, opens over `spread_seconds`, a click within
ten minutes of its open.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

FAILURES = {
    "transactional": ("invalid_email", "blocked", "error", "hard_bounce", "soft_bounce"),
    "marketing": ("hard_bounce", "soft_bounce"),
}
ENGAGEMENT = {
    "transactional": ("delivered", "opened", "click", "unsubscribed", "spam", "deferred", "proxy_open"),
    "marketing": ("delivered", "opened", "click", "unsubscribed", "spam"),
}
DEFAULT_RATES = {"delivered": 1.0}
DEFAULT_SPREAD_SECONDS = 3600.0
DEFAULT_LINKS = ("https://www.example.com/offer",)
REASONS = {
    "hard_bounce": "550 5.1.1 Recipient address rejected: User unknown",
    "soft_bounce": "452 4.2.2 Mailbox full",
    "deferred": "421 4.7.0 Try again later, closing connection",
    "blocked": "blocked: the address hard bounced before",
    "invalid_email": "invalid email address",
    "error": "Sending failed",
    "spam": "Marked as spam by the recipient",
}  # chosen texts: Brevo passes on the receiving server's
USER_AGENTS = (
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", "mobile"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36", "desktop"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15", "desktop"),
)
PROXY_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "desktop",
)


@dataclass(frozen=True)
class Recipient:
    email: str
    contact_id: int | None


@dataclass(frozen=True)
class Happening:
    """One simulated event (named as transactional payloads name it) for one recipient."""

    recipient: Recipient
    event: str
    at_ms: int
    details: dict[str, Any] = field(default_factory=dict)  # reason, link, user_agent, device_used, ip


def parse_rates(channel: str, given: Any) -> dict[str, float]:
    """The rates of a request body, defaults filled in; ValueError names what is wrong."""
    known = FAILURES[channel] + ENGAGEMENT[channel]
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ValueError("rates must be an object of event -> rate")  # noqa: TRY004 - the admin route answers 400
    unknown = set(given) - set(known)
    if unknown:
        raise ValueError(f"unknown rates: {', '.join(sorted(unknown))} (known: {', '.join(known)})")
    rates = {name: float(DEFAULT_RATES.get(name, 0.0)) for name in known}
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"rates.{name} must be a number from 0 to 1, got {value!r}")
        rates[name] = float(value)
    if sum(rates[name] for name in FAILURES[channel]) > 1:
        raise ValueError(f"the rates of {', '.join(FAILURES[channel])} add up to more than 1")
    if rates["click"] > rates["opened"]:
        raise ValueError("rates.click cannot exceed rates.opened: clicks imply opens")
    return rates


def simulate(
    channel: str,
    recipients: list[Recipient],
    rates: dict[str, float],
    seed: int | str,
    sent_at: float,
    spread_seconds: float = DEFAULT_SPREAD_SECONDS,
    links: tuple[str, ...] = DEFAULT_LINKS,
) -> list[Happening]:
    """Every recipient's events, in time order."""
    happenings: list[Happening] = []
    for recipient in recipients:
        happenings += _one(
            channel, recipient, rates, random.Random(f"{seed}|{recipient.email}"), sent_at, spread_seconds, links
        )
    return sorted(happenings, key=lambda h: h.at_ms)


def _one(
    channel: str,
    recipient: Recipient,
    rates: dict[str, float],
    rng: random.Random,
    sent_at: float,
    spread: float,
    links: tuple[str, ...],
) -> list[Happening]:
    transactional = channel == "transactional"
    found: list[Happening] = []

    def add(event: str, at: float, **details: Any) -> float:
        found.append(Happening(recipient, event, round(at * 1000), details))
        return at

    now = sent_at + rng.uniform(0, 2)
    if transactional:
        add("request", now)
    draw, failure = rng.random(), None
    for name in FAILURES[channel]:
        if draw < rates[name]:
            failure = name
            break
        draw -= rates[name]
    if transactional and failure not in ("invalid_email", "blocked", "error") and rng.random() < rates["deferred"]:
        now = add("deferred", now + rng.uniform(1, 60), reason=REASONS["deferred"])
        now += rng.uniform(60, 600)
    if failure is not None:
        add(failure, now + rng.uniform(1, 60), reason=REASONS[failure])
        return found
    if rng.random() >= rates["delivered"]:
        return found
    delivered = add("delivered", now + rng.uniform(1, 30))
    ip = f"198.51.100.{rng.randint(1, 254)}"  # where the recipient opens from (TEST-NET-2)
    engagement = rng.random()
    last = delivered
    if engagement < rates["opened"]:
        agent, device = rng.choice(USER_AGENTS)
        last = opened = add(
            "opened", delivered + rng.uniform(30, max(spread, 31)), user_agent=agent, device_used=device, ip=ip
        )
        if transactional:
            add("unique_opened", opened, user_agent=agent, device_used=device, ip=ip)
        if engagement < rates["click"]:
            last = add(
                "click",
                opened + rng.uniform(5, 600),
                link=rng.choice(links),
                user_agent=agent,
                device_used=device,
                ip=ip,
            )
    if transactional and rng.random() < rates["proxy_open"]:
        agent, device = PROXY_USER_AGENT
        proxy = add("proxy_open", delivered + rng.uniform(1, 60), user_agent=agent, device_used=device, ip=ip)
        add("unique_proxy_open", proxy, user_agent=agent, device_used=device, ip=ip)
    if rng.random() < rates["unsubscribed"]:
        add("unsubscribed", last + rng.uniform(10, 600))
    if rng.random() < rates["spam"]:
        add("spam", delivered + rng.uniform(60, max(spread, 61)), reason=REASONS["spam"])
    return found
