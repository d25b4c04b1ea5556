"""`users` and `groups` past their memory bound: spilled to sorted runs on disk, the same records come out, in the
same order, as when everything fits in memory (random events: repeated and out-of-order times, ties, nulls)."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest
from tap_amplitude import spill
from tap_amplitude.derive import USER_LATEST_FIELDS, GroupAggregator, UserAggregator
from tap_amplitude.events import EventDecoder

from tap.support import STRICT_WARNINGS
from tap.test_tap_units import hour

pytestmark = STRICT_WARNINGS

EVERYTHING = 10**9  # a bound no test reaches: the in-memory path
VALUES = {
    "user_id": ["u-a", "u-b", ""],
    "device_id": ["d-1", "d-2"],
    "platform": ["iOS", "Android", "Web"],
    "country": ["France", "Spain"],
    "city": ["Paris", "Madrid", "Lyon"],
    "language": ["fr", "es"],
    "version_name": ["1.0", "1.1"],
}
PROPERTIES = [
    None,
    {},
    {"plan": "free"},
    {"plan": "pro", "seats": 3},
    {"big": 2**70, "ratio": 0.1, "nested": [1, {"a": None}], "email": "b@example.com"},
]


def random_event(rng: random.Random, n: int) -> dict[str, Any]:
    """An export line with few users, few distinct times (ties), and any field possibly missing."""
    second = rng.randrange(6)
    raw: dict[str, Any] = {
        "uuid": f"00000000-0000-0000-0000-{n:012d}",
        "event_type": rng.choice(["view", "view", "$groupidentify"]),
        "amplitude_id": rng.choice([None, *range(1000, 1012)]),
        "session_id": rng.choice([None, -1, 1, 2, 3]),
        "user_properties": rng.choice(PROPERTIES),
    }
    if rng.random() < 0.9:
        raw["event_time"] = f"2024-03-02 01:00:0{second}.000000"
    if rng.random() < 0.8:
        raw["server_upload_time"] = f"2024-03-02 01:00:0{rng.randrange(6)}.500000"
    for field in USER_LATEST_FIELDS:
        if rng.random() < 0.7:
            raw[field] = rng.choice(VALUES.get(field, ["x", "y"]))
    if rng.random() < 0.8:
        chosen = rng.sample(["acme", "globex", "initech", "umbrella"], rng.randrange(1, 3))
        raw["groups"] = {"company": chosen, "team": rng.choice(["t1", "t2"])}
        raw["group_properties"] = {"company": {value: {"plan": rng.choice(["a", "b"])} for value in chosen}}
    return raw


def events(seed: int, count: int) -> list[Any]:
    rng = random.Random(seed)
    decoder = EventDecoder()
    return [decoder.decode(msgspec.json.encode(random_event(rng, n))) for n in range(count)]


def user_records(decoded: list[Any], in_memory: int) -> tuple[list[dict[str, Any]], int]:
    users = UserAggregator(hour(0), hour(2), in_memory=in_memory)
    for event in decoded:
        users.add(event)
    return list(users.records()), users.spilled


def group_records(decoded: list[Any], in_memory: int) -> tuple[list[dict[str, Any]], int]:
    groups = GroupAggregator(hour(0), hour(2), in_memory=in_memory)
    for event in decoded:
        groups.add(event)
    return list(groups.records()), groups.spilled


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("bound", [1, 2, 5])
def test_spilled_users_are_the_in_memory_users(seed, bound):
    decoded = events(seed, 300)
    expected, none = user_records(decoded, EVERYTHING)
    got, spilled = user_records(decoded, bound)
    assert none == 0 and spilled > len(expected)  # users went to disk, most of them several times
    assert got == expected
    assert [r["amplitude_id"] for r in got] == sorted({e.amplitude_id for e in decoded} - {None})


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("bound", [1, 3, 7])
def test_spilled_group_members_are_the_in_memory_members(seed, bound):
    decoded = events(seed, 300)
    expected, none = group_records(decoded, EVERYTHING)
    got, spilled = group_records(decoded, bound)
    assert none == 0 and spilled > 0
    assert got == expected
    assert any(record["members"] for record in got)


def test_many_runs_are_merged_before_more_are_written(monkeypatch):
    monkeypatch.setattr(spill, "MAX_RUNS", 3)
    decoded = events(7, 2000)
    expected, _ = user_records(decoded, EVERYTHING)
    users = UserAggregator(hour(0), hour(2), in_memory=2)
    for event in decoded:
        users.add(event)
    assert users._runs is not None and len(users._runs) <= 3
    assert users.spilled > len(decoded)  # compactions rewrote what earlier runs held
    assert list(users.records()) == expected
    groups_expected, _ = group_records(decoded, EVERYTHING)
    groups = GroupAggregator(hour(0), hour(2), in_memory=2)
    for event in decoded:
        groups.add(event)
    assert list(groups.records()) == groups_expected


def test_values_survive_the_disk_exactly():
    raw = {
        "amplitude_id": 5,
        "event_time": "2024-03-02 01:00:00.000000",
        "user_properties": {"big": 2**70, "small": -(2**63) - 1, "f": 1e-300, "z": -0.0, "s": "é\n\u2028", "l": []},
    }
    decoder = EventDecoder()
    decoded = [decoder.decode(msgspec.json.encode(raw)), decoder.decode(msgspec.json.encode({"amplitude_id": 6}))]
    (first, _), spilled = user_records(decoded, 1)
    assert spilled == 1
    assert first["user_properties"] == raw["user_properties"]
    assert type(first["user_properties"]["f"]) is float and str(first["user_properties"]["z"]) == "-0.0"


def test_users_come_out_by_amplitude_id_whatever_the_arrival_order():
    decoder = EventDecoder()
    decoded = [decoder.decode(msgspec.json.encode({"amplitude_id": n})) for n in (30, 10, 20)]
    assert [r["amplitude_id"] for r in user_records(decoded, EVERYTHING)[0]] == [10, 20, 30]
    assert [r["amplitude_id"] for r in user_records(decoded, 1)[0]] == [10, 20, 30]
