"""The Amplitude seed data, planned: a simulated product's users, sessions, events and cohorts.

Deterministic: the same `seed` and sizes always give the same users, sessions and events (only
the stored `uuid`s differ). Nothing here sends or stores anything; `seed.py` does.

Data: every user gets an `$identify` (email, first_name, last_name, phone, device_type, plan_type,
signup_date, and total_purchases / lifetime_revenue set to 0 once) and a `Sign Up` in their first
session; the first event of every session sets `last_active`; sessions hold Page View, Feature Click,
Add to Cart, Purchase (`$add` of total_purchases and lifetime_revenue) and, for paying plans,
Subscription Started (`$set` plan_type) then Revenue (the first charge, `$add` of lifetime_revenue).
Revenue is tracked both ways Amplitude sees it: the web app puts `revenue` and `product_id` in plain
event properties, the mobile apps and the Revenue event use the SDKs' revenue fields (top-level
price/quantity/productId/revenueType/currency, exported as `$price`, `$revenue`, ...).
Exactly 5% of users (index % 20 == 7) have an invalid phone on purpose (reject tests);
every other phone is a valid E.164 mobile number. Cohorts: `active_users` (a session in the last
7 days of the span, or its last half when shorter), `churning_users` (2+ sessions, none in that
recent window), `power_users` (the top 10% by event count).

Accounts (B2B): 5 to 20 customer companies (one per 20 users), Amplitude groups of type `company`
with 2 to 5 users each (fewer in a tiny seed; the other users belong to none); every event of a member carries
`groups: {"company": "<account id>"}`. The app sends each company's profile (name, domain, industry,
plan, employees, country) with `/groupidentify` at the start of the span, and halfway through it a
change (`$set` of a higher plan, `$add` to employees), so later events carry the new properties.
Accounts and members depend on `seed` and `users` only; every chapter sends its own change.

Chapters continue a story: `chapter` N > 0 draws new sessions and events for the same users (profiles
depend on `seed` only), starting at `start`; the first `returning_users` users signed up in an
earlier chapter (no second `$identify` or Sign Up), the others are new sign-ups. Cohorts are
recomputed from the chapter and uploaded over the existing cohorts of the same name, as an app that
refreshes its cohorts does; so membership changes from chapter to chapter.

`names` renames what the simulated app calls its event types, user properties, cohorts, group type and
group properties, so the sandbox can look like your product (`sandbox serve --app my-app.yaml`; see `AppNames`).
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FIRST_NAMES = ["Alice", "Bruno", "Chloé", "David", "Emma", "Farid", "Grace", "Hugo", "Inès", "Jonas", "Karin", "Léa",
               "Mateo", "Nora", "Oscar", "Paula", "Quentin", "Rosa", "Samir", "Tina", "Ugo", "Vera", "William", "Yara", "Zoé"]  # fmt: skip
LAST_NAMES = ["Martin", "Bernard", "Müller", "Schmidt", "Smith", "Johnson", "García", "Rossi", "Dubois", "Nowak", "O'Brien",
              "Fernández", "Jansen", "Lefèvre", "Weber", "Brown", "Moreau", "Costa", "Novak", "Lindqvist"]  # fmt: skip
# (country, city, language, phone generator)
PLACES: list[tuple[str, str, str, Callable[[random.Random], str]]] = [
    ("France", "Paris", "fr-FR", lambda r: f"+336{r.choice('0124578')}{r.randrange(10**7):07d}"),
    ("France", "Lyon", "fr-FR", lambda r: f"+337{r.choice('3456789')}{r.randrange(10**7):07d}"),
    ("Germany", "Berlin", "de-DE", lambda r: f"+49151{r.randrange(10**8):08d}"),
    ("United Kingdom", "London", "en-GB", lambda r: f"+4477{r.randrange(1, 10)}{r.randrange(10**7):07d}"),
    ("United States", "New York", "en-US", lambda r: f"+1212{r.randrange(2, 10)}{r.randrange(10**6):06d}"),
    ("United States", "San Francisco", "en-US", lambda r: f"+1415{r.randrange(2, 10)}{r.randrange(10**6):06d}"),
    ("Spain", "Madrid", "es-ES", lambda r: f"+346{r.randrange(10**8):08d}"),
]
INVALID_PHONES = ["12345", "+1 555", "not-a-phone", "+33 12", "0000000", "++4915112"]
PLATFORMS = [("Web", "Chrome", "124"), ("Web", "Firefox", "125"), ("iOS", "ios", "17.4"), ("Android", "android", "14")]
# platform -> (device_model, device_brand) as apps report them; Amplitude derives device_type / device_family.
DEVICES = {
    "Web": [("Mac", "Apple"), ("Windows", "Microsoft"), ("Chromebook", "Google")],
    "iOS": [("iPhone 15", "Apple"), ("iPhone 13", "Apple"), ("iPad Air", "Apple")],
    "Android": [("Pixel 8", "Google"), ("Galaxy S24", "Samsung"), ("Redmi Note 13", "Xiaomi")],
}
PLANS = [("free", 0.55), ("starter", 0.25), ("pro", 0.15), ("enterprise", 0.05)]
PLAN_PRICES = {"starter": 9.0, "pro": 29.0, "enterprise": 99.0}
PAGES = ["/", "/pricing", "/docs", "/blog", "/dashboard", "/settings", "/products", "/checkout"]
FEATURES = ["export", "share", "search", "filter", "invite", "dark_mode", "report", "integrations"]
PRODUCTS = [("sku-101", "Notebook", 12.5), ("sku-202", "Pen set", 4.99), ("sku-303", "Backpack", 59.0),
            ("sku-404", "Desk lamp", 34.9), ("sku-505", "Headphones", 129.0), ("sku-606", "Mug", 9.9)]  # fmt: skip
INVALID_PHONE_EVERY, INVALID_PHONE_AT = 20, 7
DAY = 86400.0
SEED_EVENT_TYPES = (
    "Sign Up",
    "Page View",
    "Feature Click",
    "Add to Cart",
    "Purchase",
    "Subscription Started",
    "Revenue",
)
SEED_USER_PROPERTIES = ("email", "first_name", "last_name", "phone", "device_type", "plan_type", "signup_date",
                        "total_purchases", "lifetime_revenue", "initial_platform", "last_active")  # fmt: skip
SEED_COHORTS = ("active_users", "power_users", "churning_users")
GROUP_TYPE = "company"
SEED_GROUP_PROPERTIES = ("name", "domain", "industry", "plan", "employees", "country")
# (name, domain label): fictional companies, on the reserved .example top-level domain
COMPANIES = [("Northwind Traders", "northwind"), ("Globex", "globex"), ("Initech", "initech"), ("Umbrella Foods", "umbrella-foods"),
             ("Hooli", "hooli"), ("Vandelay Industries", "vandelay"), ("Stark Logistics", "stark-logistics"),
             ("Wayne Analytics", "wayne-analytics"), ("Acme Robotics", "acme-robotics"), ("Soylent Labs", "soylent"),
             ("Tyrell Systems", "tyrell"), ("Cyberdyne Health", "cyberdyne"), ("Pied Piper", "piedpiper"),
             ("Monarch Retail", "monarch"), ("Gringotts Finance", "gringotts"), ("Oceanic Travel", "oceanic"),
             ("Dunder Paper", "dunder"), ("Bluth Homes", "bluth"), ("Wonka Sweets", "wonka"), ("Massive Dynamic", "massive")]  # fmt: skip
INDUSTRIES = ["Software", "Retail", "Logistics", "Healthcare", "Finance", "Education", "Manufacturing", "Media"]
ACCOUNT_PLANS = ("trial", "team", "business", "enterprise")
EMPLOYEES = (8, 15, 40, 120, 350, 900, 2500)
MIN_ACCOUNTS, MAX_ACCOUNTS, USERS_PER_ACCOUNT, MAX_MEMBERS = 5, 20, 20, 5


@dataclass(frozen=True)
class AppNames:
    """Your product's names for the simulated app's event types, user properties, cohorts, group type
    and group properties (seed name -> yours; a name left out keeps the seed's)."""

    event_types: dict[str, str] = field(default_factory=dict)
    user_properties: dict[str, str] = field(default_factory=dict)
    cohorts: dict[str, str] = field(default_factory=dict)
    group_types: dict[str, str] = field(default_factory=dict)
    group_properties: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> AppNames:
        raw = raw or {}
        known = {"event_types": SEED_EVENT_TYPES, "user_properties": SEED_USER_PROPERTIES, "cohorts": SEED_COHORTS,
                 "group_types": (GROUP_TYPE,), "group_properties": SEED_GROUP_PROPERTIES}  # fmt: skip
        unknown = set(raw) - set(known)
        if unknown:
            raise ValueError(f"names: unknown sections {sorted(unknown)} (known: {', '.join(known)})")
        for section, seed_names in known.items():
            renames = raw.get(section) or {}
            if not isinstance(renames, dict) or not all(isinstance(v, str) and v for v in renames.values()):
                raise ValueError(f"names.{section} must map seed names to non-empty names")
            strangers = set(renames) - set(seed_names)
            if strangers:
                raise ValueError(
                    f"names.{section}: {sorted(strangers)} are not the simulated app's (it has: {', '.join(seed_names)})"
                )
        return cls(**{section: dict(raw.get(section) or {}) for section in known})

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        event_type = event["event_type"]
        event["event_type"] = self.event_types.get(event_type, event_type)
        operations = event.get("user_properties")
        if operations and self.user_properties:
            rename = self.user_properties
            event["user_properties"] = {
                op: {rename.get(k, k): v for k, v in values.items()} for op, values in operations.items()
            }
        if event.get("groups") and self.group_types:
            event["groups"] = {self.group_type(k): v for k, v in event["groups"].items()}
        return event

    def cohort(self, name: str) -> str:
        return self.cohorts.get(name, name)

    def group_type(self, name: str) -> str:
        return self.group_types.get(name, name)

    def group_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """A group property update (plain keys or operations) with the group properties renamed."""
        rename = self.group_properties
        if any(key.startswith("$") for key in update):
            return {op: {rename.get(k, k): v for k, v in values.items()} for op, values in update.items()}
        return {rename.get(k, k): v for k, v in update.items()}


@dataclass
class SeedParams:
    """The parameters of one seeding run, checked: sizes, span, chapter, region and how to send."""

    seed: int = 42
    users: int = 1000
    events: int = 20000
    days: float = 14.0
    start: float | None = None  # epoch seconds; default: now - days
    region: str = "us"
    mode: str = "api"
    batch_size: int = 1000
    chapter: int = 0
    returning_users: int = 0
    names: AppNames = field(default_factory=AppNames)

    @classmethod
    def parse(cls, params: dict[str, Any]) -> SeedParams:
        known = set(cls.__dataclass_fields__)
        unknown = set(params) - known
        if unknown:
            raise ValueError(
                f"unknown seed parameters: {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})"
            )
        values = dict(params)
        if isinstance(values.get("start"), str):
            moment = datetime.fromisoformat(values["start"])
            values["start"] = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
        values["names"] = AppNames.parse(values.get("names"))
        result = cls(**values)
        if not isinstance(result.chapter, int) or result.chapter < 0:
            raise ValueError("chapter must be an integer >= 0")
        if not isinstance(result.returning_users, int) or not 0 <= result.returning_users <= result.users:
            raise ValueError("returning_users must be an integer between 0 and users")
        for name in ("seed", "users", "events", "batch_size"):
            value = getattr(result, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "seed" else 1):
                raise ValueError(f"{name} must be a positive integer")
        if not isinstance(result.days, (int, float)) or result.days <= 0:
            raise ValueError("days must be > 0")
        if result.region not in ("us", "eu"):
            raise ValueError("region must be us or eu")
        if result.mode not in ("api", "bulk"):
            raise ValueError("mode must be api or bulk")
        if result.events < 2 * result.users:
            raise ValueError(
                f"events must be at least 2 per user ($identify and Sign Up): {result.events} < 2 x {result.users}"
            )
        if result.batch_size > 2000:
            raise ValueError("batch_size must be <= 2000 (the HTTP V2 limit)")
        return result


@dataclass
class Account:
    """A customer company: its id (the group value), its members (user indexes) and its first profile."""

    id: str
    members: list[int]
    profile: dict[str, Any]

    def change(self, seed: int, chapter: int) -> dict[str, Any]:
        """What a chapter changes halfway: a higher plan (up to the top one) and more employees."""
        rng = random.Random(f"{seed}:account:{self.id}:chapter:{chapter}")
        plan = ACCOUNT_PLANS[min(ACCOUNT_PLANS.index(self.profile["plan"]) + chapter + 1, len(ACCOUNT_PLANS) - 1)]
        return {"$set": {"plan": plan}, "$add": {"employees": rng.randint(1, 25)}}


def plan_accounts(seed: int, users: int) -> list[Account]:
    """One company per 20 users, between 5 and 20 (never more than users), each with 2 to 5 members
    (fewer when users run out). Draws from its own generator: the rest of the plan does not change."""
    rng = random.Random(f"{seed}:accounts")
    count = min(users, max(MIN_ACCOUNTS, min(MAX_ACCOUNTS, users // USERS_PER_ACCOUNT)))
    pool = rng.sample(range(users), min(users, count * MAX_MEMBERS))
    accounts = []
    for k, (name, label) in enumerate(rng.sample(COMPANIES, count)):
        profile = {"name": name, "domain": f"{label}.example", "industry": rng.choice(INDUSTRIES),
                   "plan": rng.choice(ACCOUNT_PLANS[:-1]), "employees": rng.choice(EMPLOYEES),
                   "country": rng.choice(PLACES)[0]}  # fmt: skip
        accounts.append(Account(f"acct-{k + 1:04d}", [pool[k]], profile))
    rest = pool[count:]
    for account in accounts:
        extra = rng.randint(1, MAX_MEMBERS - 1)
        account.members = sorted(account.members + rest[:extra])
        rest = rest[extra:]
    return accounts


@dataclass
class UserPlan:
    """One user's part of the plan: their sessions, whether and when they subscribe."""

    index: int
    sessions: list[tuple[float, int]] = field(default_factory=list)  # (start, number of events)
    subscription_session: int | None = None
    returning: bool = False  # signed up in an earlier chapter
    plan: str = "free"
    account: str | None = None  # the company (group value) the user belongs to

    @property
    def events(self) -> int:
        return sum(n for _s, n in self.sessions)


def profile(seed: int, index: int) -> dict[str, Any]:
    rng = random.Random(f"{seed}:user:{index}")
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    country, city, language, phone = rng.choice(PLACES)
    platform, os_name, os_version = rng.choice(PLATFORMS)
    invalid_phone = index % INVALID_PHONE_EVERY == INVALID_PHONE_AT
    local = "".join(ch for ch in f"{first}.{last}".lower() if ch.isascii() and (ch.isalnum() or ch == "."))
    who = {
        "user_id": f"user-{index:06d}",
        "device_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "email": f"{local}{index}@example.com",
        "first_name": first,
        "last_name": last,
        "phone": rng.choice(INVALID_PHONES) if invalid_phone else phone(rng),
        "country": country,
        "city": city,
        "language": language,
        "platform": platform,
        "os_name": os_name,
        "os_version": os_version,
        "app_version": f"2.{rng.randrange(0, 6)}.{rng.randrange(0, 10)}",
        "ip": f"203.0.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}",
    }
    who["device_model"], who["device_brand"] = rng.choice(DEVICES[platform])
    return who


class Plan:
    """Who does what when: users, their sessions and the cohorts, from the seed (no events yet)."""

    def __init__(self, params: SeedParams, now: float) -> None:
        self.params = params
        self.start = params.start if params.start is not None else now - params.days * DAY
        self.end = self.start + params.days * DAY
        rng = random.Random(params.seed if params.chapter == 0 else f"{params.seed}:chapter:{params.chapter}")
        n = params.users
        weights = [min(rng.paretovariate(1.3), 50.0) for _ in range(n)]
        quotas = self._quotas(weights, params.events)
        span = self.end - self.start
        self.users: list[UserPlan] = []
        for i in range(n):
            user = UserPlan(i, returning=i < params.returning_users)
            user.plan = rng.choices([p for p, _ in PLANS], [w for _, w in PLANS])[0]
            signup = self.start + rng.random() * span * 0.8
            churns = rng.random() < 0.2
            last = signup + (self.end - signup) * rng.uniform(0.1, 0.5) if churns else self.end - 60
            sizes = self._session_sizes(rng, quotas[i])
            starts = sorted(rng.uniform(signup, max(signup, last)) for _ in sizes[1:])
            user.sessions = list(zip([signup, *starts], sizes, strict=True))
            if user.returning:
                user.plan = "free"  # keeps the plan it has: no new subscription in this chapter
            elif user.plan != "free":
                if len(sizes) > 1:
                    user.subscription_session = 1
                elif sizes[0] >= 4:  # $identify, Sign Up, Subscription Started, Revenue
                    user.subscription_session = 0
                else:
                    user.plan = "free"
            self.users.append(user)
        self.accounts = plan_accounts(params.seed, n)
        for account in self.accounts:
            for member in account.members:
                self.users[member].account = account.id
        self.sessions = sorted((start, u.index, k) for u in self.users for k, (start, _n) in enumerate(u.sessions))

    @staticmethod
    def _quotas(weights: list[float], total: int) -> list[int]:
        n, spare = len(weights), total - 2 * len(weights)
        whole = sum(weights)
        quotas = [2 + math.floor(spare * w / whole) for w in weights]
        left = total - sum(quotas)
        order = sorted(range(n), key=lambda i: -weights[i])
        for k in range(left):
            quotas[order[k % n]] += 1
        return quotas

    @staticmethod
    def _session_sizes(rng: random.Random, quota: int) -> list[int]:
        sizes = []
        while quota > 0:
            size = min(quota, rng.randint(3, 12))
            if quota - size == 1:
                size += 1
            sizes.append(size)
            quota -= size
        return sizes

    def cohorts(self) -> dict[str, list[str]]:
        recent = self.end - min(7 * DAY, self.params.days * DAY / 2)
        active, churning = [], []
        for user in self.users:
            last = max(s for s, _n in user.sessions)
            if last >= recent:
                active.append(user.index)
            elif len(user.sessions) >= 2:
                churning.append(user.index)
        ranked = sorted(self.users, key=lambda u: (-u.events, u.index))
        power = sorted(u.index for u in ranked[: max(1, len(ranked) // 10)])
        name = lambda i: f"user-{i:06d}"
        cohort = self.params.names.cohort
        return {
            cohort("active_users"): [name(i) for i in active],
            cohort("power_users"): [name(i) for i in power],
            cohort("churning_users"): [name(i) for i in churning],
        }

    def group_identifications(self) -> list[tuple[float, list[dict[str, Any]]]]:
        """The app's `/groupidentify` calls, (when, identifications) in time order: every company's profile
        at the start of the span (first chapter only), then every company's change halfway through it."""
        if not self.accounts:
            return []
        names, seed, chapter = self.params.names, self.params.seed, self.params.chapter

        def identification(account: Account, update: dict[str, Any]) -> dict[str, Any]:
            group_type = names.group_type(GROUP_TYPE)
            return {"group_type": group_type, "group_value": account.id, "group_properties": names.group_update(update)}

        calls = []
        if chapter == 0:
            calls.append((self.start, [identification(a, dict(a.profile)) for a in self.accounts]))
        halfway = self.start + (self.end - self.start) / 2
        calls.append((halfway, [identification(a, a.change(seed, chapter)) for a in self.accounts]))
        return calls

    def events(self) -> Iterator[dict[str, Any]]:
        """Every event, session by session in order of session start (HTTP V2 event objects)."""
        seed = self.params.seed
        profiles: dict[int, dict[str, Any]] = {}
        for start, index, number in self.sessions:
            user = self.users[index]
            who = profiles.get(index)
            if who is None:
                who = profiles[index] = profile(seed, index)
            for event in self._session(seed, user, who, number, start, self.params.chapter):
                yield self.params.names.event(event)
            if number == len(user.sessions) - 1:
                profiles.pop(index, None)

    @staticmethod
    def _session(
        seed: int, user: UserPlan, who: dict[str, Any], number: int, start: float, chapter: int = 0
    ) -> Iterator[dict[str, Any]]:
        chapter_tag = f":chapter:{chapter}" if chapter else ""
        rng = random.Random(f"{seed}{chapter_tag}:session:{user.index}:{number}")
        size = user.sessions[number][1]
        session_id = int(start * 1000)
        today = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d")
        steps = _first_steps(rng, user, who, number, today)
        in_cart: tuple[str, str, float] | None = None
        while len(steps) < size:
            roll = rng.random()
            if in_cart and roll < 0.35:
                steps.append(_purchase(rng, who, in_cart))
                in_cart = None
            elif roll < 0.45:
                steps.append(("Page View", {"page": rng.choice(PAGES)}, {}, {}))
            elif roll < 0.8:
                steps.append(("Feature Click", {"feature": rng.choice(FEATURES)}, {}, {}))
            else:
                in_cart = rng.choice(PRODUCTS)
                steps.append(
                    ("Add to Cart", {"product_id": in_cart[0], "product": in_cart[1], "price": in_cart[2]}, {}, {})
                )
        moment = start
        for k, (event_type, event_properties, user_properties, revenue_fields) in enumerate(steps[:size]):
            event: dict[str, Any] = {
                "user_id": who["user_id"],
                "device_id": who["device_id"],
                "event_type": event_type,
                "time": int(moment * 1000),
                "session_id": session_id,
                "insert_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "event_properties": event_properties,
                "platform": who["platform"],
                "os_name": who["os_name"],
                "os_version": who["os_version"],
                "app_version": who["app_version"],
                "device_model": who["device_model"],
                "device_brand": who["device_brand"],
                "country": who["country"],
                "city": who["city"],
                "language": who["language"],
                "ip": who["ip"],
                "library": "sandbox-seed/1.0",
                **revenue_fields,
            }
            if user.account:
                event["groups"] = {GROUP_TYPE: user.account}
            if k == 0:
                user_properties = _with_set(user_properties, {"last_active": today})
            if user_properties:
                event["user_properties"] = user_properties
            yield event
            moment += rng.uniform(5, 120) if k else rng.uniform(0.5, 3)


# (event type, event properties, user property operations, top-level revenue fields)
Step = tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]


def _with_set(operations: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return {**operations, "$set": {**operations.get("$set", {}), **values}}


def _first_steps(rng: random.Random, user: UserPlan, who: dict[str, Any], number: int, today: str) -> list[Step]:
    """A new user's `$identify` and Sign Up; a subscriber's Subscription Started and its first charge."""
    steps: list[Step] = []
    if number == 0 and not user.returning:
        profile_properties = {k: who[k] for k in ("email", "first_name", "last_name", "phone")}
        profile_properties["device_type"] = who["device_model"]  # as Amplitude derives its own device_type
        identify = {
            "$set": profile_properties | {"plan_type": "free", "signup_date": today},
            "$setOnce": {"total_purchases": 0, "lifetime_revenue": 0, "initial_platform": who["platform"]},
        }
        steps.append(("$identify", {}, identify, {}))
        steps.append(("Sign Up", {"method": rng.choice(["email", "google", "github"])}, {}, {}))
    if user.subscription_session == number:
        price, billing = PLAN_PRICES[user.plan], rng.choice(["monthly", "yearly"])
        subscription = {"plan": user.plan, "billing": billing, "price": price}
        steps.append(("Subscription Started", subscription, {"$set": {"plan_type": user.plan}}, {}))
        charge = {"price": price, "quantity": 1, "productId": f"plan-{user.plan}", "revenueType": "subscription",
                  "currency": "EUR"}  # fmt: skip
        counters = {"$add": {"lifetime_revenue": price}}
        steps.append(("Revenue", {"plan": user.plan, "billing": billing}, counters, charge))
    return steps


def _purchase(rng: random.Random, who: dict[str, Any], product: tuple[str, str, float]) -> Step:
    """The web app tracks revenue in plain event properties; the mobile apps use the SDKs' revenue fields."""
    sku, name, price = product
    quantity = rng.choice([1, 1, 1, 2, 3])
    revenue = round(price * quantity, 2)
    counters = {"$add": {"total_purchases": 1, "lifetime_revenue": revenue}}
    if who["platform"] == "Web":
        properties = {"revenue": revenue, "product_id": sku, "product": name, "price": price, "quantity": quantity,
                      "currency": "EUR"}  # fmt: skip
        return ("Purchase", properties, counters, {})
    charge = {"price": price, "quantity": quantity, "productId": sku, "revenueType": "purchase", "currency": "EUR"}
    return ("Purchase", {"product": name}, counters, charge)


def batches(
    events: Iterator[dict[str, Any]], size: int, span_seconds: float = 3600
) -> Iterator[tuple[float, list[dict[str, Any]]]]:
    """Groups events like an app's upload queue: at most `size`, flushed once an hour of app time passes.
    Yields (send time in seconds = newest event + 1 s, events)."""
    batch: list[dict[str, Any]] = []
    first = newest = 0.0
    for event in events:
        moment = event["time"] / 1000
        if batch and (len(batch) >= size or moment - first > span_seconds):
            yield newest + 1, batch
            batch = []
        if not batch:
            first = newest = moment
        newest = max(newest, moment)
        batch.append(event)
    if batch:
        yield newest + 1, batch


def timeline(plan: Plan, batch_size: int) -> Iterator[tuple[float, str, list[dict[str, Any]]]]:
    """The simulated app's requests in time order: (send time, "events" or "groups", the batch of events
    or of group identifications). A `/groupidentify` goes before the first event batch sent after its time."""
    calls = plan.group_identifications()
    for send_at, events in batches(plan.events(), batch_size):
        while calls and calls[0][0] <= send_at:
            moment, identifications = calls.pop(0)
            yield moment, "groups", identifications
        yield send_at, "events", events
    for moment, identifications in calls:
        yield moment, "groups", identifications


def summary(params: SeedParams, plan: Plan, events: int, cohorts: dict[str, Any], started: float) -> dict[str, Any]:
    """What a seeding run made, as the seed entry points answer it; `started` is its time.monotonic() start."""
    return {
        "region": params.region,
        "mode": params.mode,
        "seed": params.seed,
        "users": params.users,
        "events": events,
        "sessions": len(plan.sessions),
        "start": datetime.fromtimestamp(plan.start, UTC).isoformat(),
        "end": datetime.fromtimestamp(plan.end, UTC).isoformat(),
        "accounts": len(plan.accounts),
        "invalid_phone_users": sum(1 for i in range(params.users) if i % INVALID_PHONE_EVERY == INVALID_PHONE_AT),
        "cohorts": cohorts,
        "seconds": round(time.monotonic() - started, 3),
    }
