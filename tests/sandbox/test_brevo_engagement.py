"""Brevo emulator: the simulated recipients' fates (no sandbox process needed)."""

from __future__ import annotations

import collections

import pytest
from sandbox.brevo.engagement import Recipient, parse_rates, simulate

RECIPIENTS = [Recipient(f"user{i}@example.com", i + 1) for i in range(4000)]


def fates(channel: str, rates: dict[str, float], seed: int = 7) -> dict[str, list[str]]:
    by_email = collections.defaultdict(list)
    for happening in simulate(channel, RECIPIENTS, parse_rates(channel, rates), seed, 1_800_000_000.0, 3600):
        by_email[happening.recipient.email].append(happening.event)
    return by_email


def test_rates_hold_and_outcomes_are_consistent() -> None:
    rates = {"delivered": 0.9, "opened": 0.5, "click": 0.2, "unsubscribed": 0.05, "hard_bounce": 0.1, "spam": 0.02}
    found = fates("marketing", rates)
    counts = collections.Counter(event for events in found.values() for event in events)
    assert counts["hard_bounce"] == pytest.approx(400, rel=0.15)
    delivered = counts["delivered"]
    assert delivered == pytest.approx(3600 * 0.9, rel=0.05)
    assert counts["opened"] / delivered == pytest.approx(0.5, rel=0.1)
    assert counts["click"] / delivered == pytest.approx(0.2, rel=0.15)
    for events in found.values():
        if "hard_bounce" in events:
            assert events == ["hard_bounce"]
        if "click" in events:
            assert "opened" in events
        if "opened" in events or "unsubscribed" in events or "spam" in events:
            assert "delivered" in events
    assert "request" not in counts, "marketing has no request event"


def test_times_follow_the_send() -> None:
    happenings = simulate(
        "transactional",
        RECIPIENTS[:500],
        parse_rates("transactional", {"opened": 1, "click": 1}),
        1,
        1_800_000_000.0,
        600,
    )
    assert happenings == sorted(happenings, key=lambda h: h.at_ms)
    per_email: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for h in happenings:
        per_email[h.recipient.email][h.event] = h.at_ms
    for times in per_email.values():
        assert 1_800_000_000_000 <= times["request"] < times["delivered"] < times["opened"] <= times["click"]
        assert times["opened"] == times["unique_opened"]


def test_same_seed_same_fate_whoever_else_is_on_the_list() -> None:
    rates = parse_rates("marketing", {"opened": 0.5, "click": 0.3, "soft_bounce": 0.1})
    alone = simulate("marketing", RECIPIENTS[10:11], rates, "s", 1.0e9)
    among = [h for h in simulate("marketing", RECIPIENTS[:50], rates, "s", 1.0e9) if h.recipient == RECIPIENTS[10]]
    assert alone == among
    assert simulate("marketing", RECIPIENTS[:50], rates, "s", 1.0e9) == simulate(
        "marketing", RECIPIENTS[:50], rates, "s", 1.0e9
    )
    assert simulate("marketing", RECIPIENTS[:50], rates, "s", 1.0e9) != simulate(
        "marketing", RECIPIENTS[:50], rates, "t", 1.0e9
    )


@pytest.mark.parametrize(
    "rates",
    [
        {"opened": 1.5},
        {"opened": -0.1},
        {"opened": True},
        {"click": 0.5, "opened": 0.2},
        {"blocked": 0.1},
        {"hard_bounce": 0.6, "soft_bounce": 0.5},
    ],
)
def test_bad_rates_are_refused(rates: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        parse_rates("marketing", rates)


def test_transactional_knows_more_outcomes() -> None:
    found = fates(
        "transactional", {"blocked": 0.2, "invalid_email": 0.2, "error": 0.1, "deferred": 0.3, "proxy_open": 0.5}
    )
    counts = collections.Counter(event for events in found.values() for event in events)
    assert counts["request"] == 4000
    assert counts["blocked"] == pytest.approx(800, rel=0.15) and counts["invalid_email"] == pytest.approx(800, rel=0.15)
    assert counts["proxy_open"] == counts["unique_proxy_open"] > 0
    for events in found.values():
        if {"blocked", "invalid_email", "error"} & set(events):
            assert len(events) == 2 and "deferred" not in events
