"""The real-time path's delivery guarantees: one delivery key per event on every path, a ledger that two
target processes share without sending a key twice, the STATE acknowledgement file, and custom user
properties that arrive as strings."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
from target_brevo.cohorts import policy
from target_brevo.delivery.flush import FlushPolicy
from target_brevo.delivery.ledger import ContactChange, Ledger
from target_brevo.mapping.values import InvalidValue, coerce_attribute, to_epoch
from target_brevo.settings import parse_settings
from target_common import files

from .support import USERS_SCHEMA, record, run_target, schema, state, to_lines, user

BASE = {"api_key": "xkeysib-unit", "api_url": "http://127.0.0.1:9/v3"}
EVENT_TIME = "2026-01-02T03:04:05Z"
STREAMED_EVENTS = schema(
    "events",
    {
        "uuid": {"type": ["string", "null"]},
        "$insert_id": {"type": ["string", "null"]},
        "event_type": {"type": ["string", "null"]},
        "event_time": {"type": ["string", "null"], "format": "date-time"},
        "user_id": {"type": ["string", "null"]},
        "event_properties": {"type": ["object", "null"]},
    },
    ["uuid"],
)


def amplitude_event(uuid: str, insert_id: str | None, n: int) -> dict:
    data = {"uuid": uuid, "event_type": "Purchase", "event_time": EVENT_TIME, "user_id": f"u{n}"}
    data["event_properties"] = {"n": n}
    if insert_id is not None:
        data["$insert_id"] = insert_id
    return record("events", data)


def stored_events(brevo) -> list[dict]:
    return brevo.admin("GET", "brevo/events", limit=10_000)["events"]


# -- the delivery key -------------------------------------------------------------------------


def test_the_delivery_key_is_the_insert_id_else_the_uuid_else_a_hash():
    rules = parse_settings(BASE).events
    assert rules.key_paths == ("$insert_id", "uuid")
    assert rules.delivery_keys({"$insert_id": "ins-1", "uuid": "u-1"}) == ("ins-1", "u-1")  # the uuid: an alias
    assert rules.delivery_keys({"$insert_id": "", "uuid": "u-1"}) == ("u-1",)
    assert rules.delivery_keys({"$insert_id": "same", "uuid": "same"}) == ("same",)
    (hashed,) = rules.delivery_keys({"event_type": "Purchase", "user_id": "u1"})
    assert hashed.startswith("sha256:")
    assert (hashed,) == rules.delivery_keys({"user_id": "u1", "event_type": "Purchase"})  # key order aside
    assert (hashed,) != rules.delivery_keys({"event_type": "Purchase", "user_id": "u2"})


@pytest.mark.parametrize(
    ("event_fields", "paths"),
    [
        ({"key": ["id", "uuid"]}, ("id", "uuid")),
        ({"key": "event_id"}, ("event_id",)),
        ({"uuid": "event_id"}, ("event_id",)),  # the older spelling: one path
        ({"key": ["a"], "uuid": "b"}, ("a",)),
        ({"name": "type"}, ("$insert_id", "uuid")),
    ],
)
def test_the_key_paths_are_configured_once(event_fields, paths):
    assert parse_settings({**BASE, "event_fields": event_fields}).events.key_paths == paths


def test_an_event_streamed_then_exported_reaches_brevo_once(brevo, config, tmp_path):
    cfg = config(event_mapping={"Purchase": "order_completed"})
    streamed = [STREAMED_EVENTS, amplitude_event("stream-1", "ins-1", 1), amplitude_event("uuid-2", None, 2)]
    result = run_target(cfg, streamed)
    assert result.summary["objects"]["events"]["sent"] == 2
    # The export carries the same $insert_id under another uuid, the event without one under the same uuid.
    exported = [STREAMED_EVENTS, amplitude_event("export-1", "ins-1", 1), amplitude_event("uuid-2", None, 2)]
    exported.append(amplitude_event("export-3", "ins-3", 3))
    result = run_target(cfg, exported)
    assert result.summary["objects"]["events"] == {"sent": 1, "skipped_already_delivered": 2}
    assert sorted(e["event_properties"]["n"] for e in stored_events(brevo)) == [1, 2, 3]


def test_an_event_known_by_its_uuid_alone_is_recognised_by_either_key(brevo, config, tmp_path):
    """A streamed copy without `$insert_id` that shares the exported uuid, either way round; and a ledger
    written when the key was the uuid."""
    cfg = config(event_mapping={"Purchase": "order_completed"})
    run_target(cfg, [STREAMED_EVENTS, amplitude_event("uuid-1", "ins-1", 1), amplitude_event("uuid-2", None, 2)])
    result = run_target(
        cfg, [STREAMED_EVENTS, amplitude_event("uuid-1", None, 1), amplitude_event("uuid-2", "ins-2", 2)]
    )
    assert result.summary["objects"]["events"] == {"skipped_already_delivered": 2}

    legacy = Ledger(tmp_path / "legacy.sqlite3")
    legacy.mark_delivered("event", ["uuid-3"])  # before the upgrade: keyed by uuid
    legacy.close()
    cfg = config(event_mapping={"Purchase": "order_completed"}, ledger_path=str(tmp_path / "legacy.sqlite3"))
    result = run_target(cfg, [STREAMED_EVENTS, amplitude_event("uuid-3", "ins-3", 3)])
    assert result.summary["objects"]["events"] == {"skipped_already_delivered": 1}
    assert sorted(e["event_properties"]["n"] for e in stored_events(brevo)) == [1, 2]


def test_two_targets_sharing_one_ledger_send_each_event_once(brevo, config, tmp_path):
    """A streaming and an export target side by side, on the same events at the same time."""
    brevo.configure("brevo", rate_limits_enabled=False)
    brevo.fault(action="latency", service="brevo", method="POST", path="/v3/events/batch", latency_ms=30, count=1000)
    events = [amplitude_event(f"uuid-{n}", f"ins-{n}", n) for n in range(120)]
    lines = to_lines([STREAMED_EVENTS, *events, state({"done": True})])
    targets = []
    for name in ("streaming", "export"):
        cfg = config(
            event_mapping={"Purchase": "order_completed"},
            events_batch_max_events=10,
            summary_file=str(tmp_path / f"{name}-summary.json"),
            rejects_file=str(tmp_path / f"{name}-rejects.jsonl"),
        )
        (tmp_path / f"{name}.json").write_text(json.dumps(cfg))
        command = [sys.executable, "-m", "target_brevo", "--config", str(tmp_path / f"{name}.json")]
        targets.append(subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    # both started: their input arrives at the same moment
    with ThreadPoolExecutor(2) as pool:
        errors = list(pool.map(lambda p: p.communicate(lines, timeout=120)[1], targets))
    for target, err in zip(targets, errors, strict=True):
        assert target.returncode == 0, err[-2000:]
    numbers = [e["event_properties"]["n"] for e in stored_events(brevo)]
    assert sorted(numbers) == list(range(120)), "an event was lost or sent twice"
    outcomes = [
        json.loads((tmp_path / f"{n}-summary.json").read_text())["objects"]["events"] for n in ("streaming", "export")
    ]
    assert sum(o.get("sent", 0) for o in outcomes) == 120
    assert all(o.get("sent", 0) < 120 for o in outcomes), "the runs did not overlap: nothing was tested"


# -- the ledger shared by processes -----------------------------------------------------------

CLAIMER = """
import json, pathlib, sys, time
from target_brevo.delivery.ledger import Ledger
ledger = Ledger(sys.argv[1])
go = pathlib.Path(sys.argv[2])
keys = [f"k{i}" for i in range(int(sys.argv[3]))]
if sys.argv[4] == "reversed":
    keys.reverse()
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
mine = []
for start in range(0, len(keys), 7):
    claimed = ledger.mark_inflight("event", keys[start:start + 7])
    time.sleep(0.002)  # the request to Brevo
    ledger.mark_delivered("event", claimed)
    mine += claimed
ledger.close()
print(json.dumps(mine))
"""

HOLDER = """
import sys
from target_brevo.delivery.ledger import Ledger
ledger = Ledger(sys.argv[1])
print(",".join(ledger.mark_inflight("event", ["k"])), flush=True)
sys.stdin.readline()
"""


def test_two_processes_never_claim_the_same_key(tmp_path):
    path, go = tmp_path / "ledger.sqlite3", tmp_path / "go"
    claimers = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(path), str(go), "700", order], stdout=subprocess.PIPE, text=True
        )
        for order in ("forward", "forward", "reversed")
    ]
    assert all(p.stdout.readline().strip() == "ready" for p in claimers)
    go.touch()
    claimed = [json.loads(p.communicate(timeout=60)[0]) for p in claimers]
    everything = [key for keys in claimed for key in keys]
    assert sorted(everything) == sorted(f"k{i}" for i in range(700)), "a key was claimed twice, or by no one"
    assert sum(1 for keys in claimed if keys) >= 2, "one process took everything: the claims did not contend"


def test_a_claim_is_free_again_once_its_process_is_gone(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "k"
        ledger = Ledger(path)
        assert ledger.mark_inflight("event", ["k", "other"]) == ["other"]  # the holder is running: not ours
        ledger.forget("event", ["k"])  # another owner's claim stays
    finally:
        holder.kill()  # a hard kill: no clean-up ran
        holder.wait()
    assert ledger.mark_inflight("event", ["k"]) == ["k"]
    ledger.mark_delivered("event", ["k"])
    assert ledger.mark_inflight("event", ["k"]) == []
    owners = tmp_path / "ledger.sqlite3.owners"
    assert len(list(owners.iterdir())) == 1  # the killed owner's lock file is gone, ours is left
    ledger.close()
    assert list(owners.iterdir()) == []


def test_two_ledgers_in_one_process_respect_each_others_claims(tmp_path):
    first, second = Ledger(tmp_path / "l.sqlite3"), Ledger(tmp_path / "l.sqlite3")
    assert first.mark_inflight("event", ["a", "b"]) == ["a", "b"]
    assert first.mark_inflight("event", ["a"]) == ["a"]  # its own claim
    assert second.mark_inflight("event", ["a", "b", "c"]) == ["c"]
    first.mark_delivered("event", ["a"])
    first.close()  # "b" was claimed and never confirmed: free now its owner closed
    assert second.mark_inflight("event", ["a", "b"]) == ["b"]
    second.close()


def test_the_ledger_uses_wal_and_waits_for_another_writer(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    other = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.execute("BEGIN IMMEDIATE")  # another process is writing
    other.execute("INSERT INTO deliveries(kind, key, status, updated_at) VALUES ('event', 'x', 'delivered', 0)")
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
    started = time.monotonic()
    ledger = Ledger(path)
    assert ledger.mark_inflight("event", ["x", "y"]) == ["y"]  # waited for the commit, then saw "x" delivered
    assert time.monotonic() - started >= 0.3
    ledger.close()
    other.close()


def test_a_ledger_written_before_owners_keeps_deliveries_and_frees_old_claims(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    old = sqlite3.connect(str(path))
    old.execute(
        "CREATE TABLE deliveries (kind TEXT NOT NULL, key TEXT NOT NULL, status TEXT NOT NULL, "
        "updated_at REAL NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID"
    )
    old.executemany("INSERT INTO deliveries VALUES ('event', ?, ?, 0)", [("sent", "delivered"), ("killed", "inflight")])
    old.commit()
    old.close()
    ledger = Ledger(path)
    assert ledger.is_delivered("event", "sent")
    assert ledger.mark_inflight("event", ["sent", "killed"]) == ["killed"]
    ledger.close()


def test_opening_a_ledger_drops_lock_files_of_ended_owners(tmp_path):
    owners = tmp_path / "ledger.sqlite3.owners"
    owners.mkdir()
    (owners / "ended.lock").touch()  # its process was killed: nobody holds the lock
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    assert [p.name for p in owners.iterdir()] != [] and not (owners / "ended.lock").exists()
    ledger.close()


def test_a_ledger_in_memory_needs_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ledger = Ledger(":memory:")
    assert ledger.mark_inflight("event", ["a"]) == ["a"]
    ledger.mark_delivered("event", ["a"])
    assert ledger.mark_inflight("event", ["a"]) == []
    ledger.close()
    assert list(tmp_path.iterdir()) == []


def test_list_change_records_keep_the_latest(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    ledger.record_changes(7, [("x:u1", ContactChange(True, 100.0, "m1")), ("x:u2", ContactChange(True, 100.0, "m1"))])
    ledger.record_changes(7, [("x:u1", ContactChange(False, 200.0, "m2"))])
    ledger.record_changes(7, [("x:u1", ContactChange(True, 150.0, "m3"))])  # older than what is recorded
    assert ledger.applied_changes(7, ["x:u1", "x:u2", "x:u3"]) == {
        "x:u1": ContactChange(False, 200.0, "m2"),
        "x:u2": ContactChange(True, 100.0, "m1"),
    }
    assert ledger.applied_changes(8, ["x:u1"]) == {}
    ledger.close()


@pytest.mark.parametrize(
    ("change", "last", "verdict"),
    [
        (ContactChange(True, 100.0, "m1"), None, policy.TO_ADD),
        (ContactChange(False, 100.0, "m1"), None, policy.TO_REMOVE),
        (ContactChange(True, 100.0, "m1"), ContactChange(True, 100.0, "m1"), policy.DUPLICATE),
        (ContactChange(True, 100.0, "m1"), ContactChange(False, 200.0, "m2"), policy.LATE),
        (ContactChange(True, 300.0, "m3"), ContactChange(False, 200.0, "m2"), policy.TO_ADD),
        (ContactChange(False, 200.0, ""), ContactChange(False, 200.0, ""), policy.TO_REMOVE),  # no message id
    ],
)
def test_delta_verdicts(change, last, verdict):
    assert policy.delta_verdict(change, last) == verdict


# -- the STATE acknowledgement file -----------------------------------------------------------


def test_state_ack_file_holds_the_last_state_emitted(brevo, config, tmp_path):
    ack = tmp_path / "spool" / "ack.json"
    cfg = config(state_ack_file=str(ack), flush_interval_seconds=0, event_mapping={"Purchase": "order_completed"})
    messages = [STREAMED_EVENTS, amplitude_event("a", "ins-a", 1), state({"spool": 1})]
    messages += [amplitude_event("b", "ins-b", 2), state({"spool": 2})]
    result = run_target(cfg, messages)
    assert result.states == [{"spool": 1}, {"spool": 2}]
    assert orjson.loads(ack.read_bytes()) == {"spool": 2}
    assert [p.name for p in ack.parent.iterdir()] == ["ack.json"]  # no temporary file left


def test_state_ack_file_is_not_written_in_a_dry_run(brevo, config, tmp_path):
    ack = tmp_path / "ack.json"
    result = run_target(
        config(state_ack_file=str(ack), dry_run=True, flush_interval_seconds=0),
        [STREAMED_EVENTS, amplitude_event("a", "ins-a", 1), state({"spool": 1})],
    )
    assert result.states == []
    assert not ack.exists()


def test_an_acknowledgement_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    ack = tmp_path / "ack.json"
    policy_ = FlushPolicy(0, dry_run=False, ack_file=str(ack))
    policy_.acknowledge({"spool": 1})

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        policy_.acknowledge({"spool": 2})
    assert orjson.loads(ack.read_bytes()) == {"spool": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ack.json"]


def test_a_reader_never_sees_a_partial_acknowledgement(tmp_path):
    ack = tmp_path / "ack.json"
    policy_ = FlushPolicy(0, dry_run=False, ack_file=str(ack))
    policy_.acknowledge({"n": 0})
    big = "x" * 200_000  # larger than one write
    done = threading.Event()
    seen: list[int] = []

    def read() -> None:
        while not done.is_set():
            seen.append(orjson.loads(ack.read_bytes())["n"])  # fails on a half-written file

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(1, 40):
            policy_.acknowledge({"n": n, "pad": big})
    finally:
        done.set()
        reader.join()
    assert seen == sorted(seen) and len(seen) > 1
    assert orjson.loads(ack.read_bytes())["n"] == 39


# -- custom user properties as strings --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "attribute_type", "expected"),
    [
        ("42", "float", 42),
        ("19.99", "float", 19.99),
        (" -3.5 ", "float", -3.5),
        ("true", "boolean", True),
        ("False", "boolean", False),
        ("1", "boolean", True),
        ("1.0", "boolean", True),
        ("2024-05-01T10:00:00Z", "date", "2024-05-01"),
        ("2024-05-01T23:30:00-05:00", "date", "2024-05-02"),  # in UTC
        ("2022-02-28 20:07:01.795", "date", "2022-02-28"),  # Amplitude's own format
        ("1692206763", "date", "2023-08-16"),  # epoch seconds as text
        ("1692206763000", "date", "2023-08-16"),  # epoch milliseconds as text
        ("20240501", "date", "2024-05-01"),  # a basic ISO date, not an epoch
        ("42", "text", "42"),
    ],
)
def test_string_values_are_coerced_to_the_attribute_type(value, attribute_type, expected):
    assert coerce_attribute("ATTR", value, attribute_type, None) == expected


@pytest.mark.parametrize(
    ("value", "attribute_type", "reason"),
    [
        ("lots", "float", "not a number"),
        ("NaN", "float", "not a finite number"),
        ("Infinity", "float", "not a finite number"),
        ("1e400", "float", "not a finite number"),
        ("maybe", "boolean", "not a boolean"),
        ("2", "boolean", "not a boolean"),
        ("next tuesday", "date", "not a date"),
        ("99999999999999999999", "date", "out of range"),
    ],
)
def test_strings_that_cannot_be_coerced_are_refused_with_a_reason(value, attribute_type, reason):
    with pytest.raises(InvalidValue, match=reason):
        coerce_attribute("ATTR", value, attribute_type, None)


def test_epoch_text_is_a_time():
    assert to_epoch("1692206763") == 1692206763.0
    assert to_epoch("1692206763500") == 1692206763.5


def test_streamed_users_with_string_properties_land_typed(brevo, config, tmp_path):
    mapping = {
        "user_properties.ltv": "LTV",
        "user_properties.vip": "VIP",
        "user_properties.signup": "SIGNUP",
        "user_properties.orders": "ORDERS",
    }
    types = {"LTV": "float", "VIP": "boolean", "SIGNUP": "date", "ORDERS": "float"}
    cfg = config(property_mapping=mapping, attribute_types=types)
    good = user(1, ltv="19.99", vip="true", signup="2024-05-01T10:00:00Z", orders="42")
    bad = user(2, ltv="lots", vip="maybe", signup="2024-05-01", orders="7")
    result = run_target(cfg, [USERS_SCHEMA, good, bad])
    attributes = brevo.admin("GET", "brevo/contacts/user1@example.com")["attributes"]
    assert (attributes["LTV"], attributes["VIP"], attributes["SIGNUP"], attributes["ORDERS"]) == (
        19.99,
        True,
        "2024-05-01",
        42,
    )
    second = brevo.admin("GET", "brevo/contacts/user2@example.com")["attributes"]
    assert second["ORDERS"] == 7 and "LTV" not in second and "VIP" not in second  # sent without the bad values
    rejects = [orjson.loads(line) for line in Path(cfg["rejects_file"]).read_text().splitlines()]
    reasons = {line["attribute"]: line["reason"] for line in rejects}
    assert reasons["LTV"].startswith("invalid value for LTV: not a number: 'lots'")
    assert reasons["VIP"].startswith("invalid value for VIP: not a boolean: 'maybe'")
    assert result.summary["objects"]["contacts"]["upserted"] == 2

    # A later run reads the types from Brevo (no attribute_types) and coerces the same way.
    result = run_target(config(property_mapping=mapping), [USERS_SCHEMA, user(3, ltv="5", vip="0", orders="1.5")])
    attributes = brevo.admin("GET", "brevo/contacts/user3@example.com")["attributes"]
    assert (attributes["LTV"], attributes["VIP"], attributes["ORDERS"]) == (5, False, 1.5)


def test_an_event_is_claimed_under_all_its_keys_at_once(tmp_path):
    """A copy known by another key (streamed without `$insert_id`, exported with it) is not claimed while
    another running process holds, or has delivered, any of its keys."""
    path = tmp_path / "ledger.sqlite3"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "k"  # the other process is sending key "k"
        ledger = Ledger(path)
        ledger.mark_delivered("event", ["done"])
        groups = [("uuid-1", "k"), ("uuid-2", "done"), ("uuid-3", "insert-3"), ("uuid-3", "insert-3")]
        assert ledger.claim("event", groups) == [2, 3]  # our own claim again is ours
        assert ledger.mark_inflight("event", ["uuid-1", "uuid-2"]) == ["uuid-1", "uuid-2"]  # nothing was half claimed
    finally:
        holder.kill()
        holder.wait()
    ledger.close()
