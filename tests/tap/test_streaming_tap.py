"""tap-amplitude-streaming as a real process: it listens on a free loopback port with a spool in a temp directory;
the tests post webhook bodies with requests and read its Singer messages from stdout."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_amplitude import schemas as export_schemas
from tap_amplitude.events import EventDecoder, event_record
from tap_amplitude.revenue import DEFAULT_PROPERTIES, RevenueReader
from tap_amplitude.streaming.tap import TapAmplitudeStreaming
from tap_amplitude.tap import TapAmplitude

from tap.support import STRICT_WARNINGS

pytestmark = STRICT_WARNINGS

SECRET = "Bearer streaming-test-secret-4f9a"
GOOD = {"Authorization": SECRET}
LISTENING = re.compile(r"Receiving Amplitude webhooks on (http://\S+):")


def event(n: int, **fields: Any) -> dict[str, Any]:
    """An event as Webhooks Streaming sends it (Amplitude's export format; time without a zone, milliseconds)."""
    return {
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "$insert_id": f"insert-{n}",
        "event_type": "Viewed Page",
        "event_time": "2024-03-02 10:00:01.250",
        "server_upload_time": "2024-03-02 10:00:02.500",
        "user_id": f"user-{n % 3}",
        "device_id": f"device-{n % 3}",
        "amplitude_id": 1000 + n,
        "event_properties": {"page": f"/p/{n}"},
        "user_properties": {"plan": "pro"},
        "session_id": 1709373600000,
        **fields,
    }


class StreamingTap:
    """One run of the tap CLI; its stdout messages are collected with their arrival times."""

    def __init__(self, workdir: Path, **config: Any) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.spool_path = workdir / "spool.sqlite3"
        self.config = {
            "secret": SECRET,
            "port": 0,
            "spool_path": str(self.spool_path),
            "progress_interval_seconds": 1,
            **config,
        }
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._runs = 0

    # -- process ---------------------------------------------------------------------------------------

    def start(self, state: dict[str, Any] | None = None, catalog: dict[str, Any] | None = None) -> StreamingTap:
        self._runs += 1
        run = self.workdir / f"run{self._runs}"
        run.mkdir()
        config_file = run / "config.json"
        config_file.write_text(json.dumps(self.config))
        args = [sys.executable, "-m", "tap_amplitude.streaming", "--config", str(config_file)]
        for option, content in (("--state", state), ("--catalog", catalog)):
            if content is not None:
                path = run / f"{option[2:]}.json"
                path.write_text(json.dumps(content))
                args += [option, str(path)]
        self.stderr_path = run / "stderr.log"
        self.messages = []
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr)
        threading.Thread(target=self._read_stdout, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + 30
        while not (match := LISTENING.search(self.stderr)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the tap did not start listening:\n{self.stderr}")
            time.sleep(0.02)
        self.url = match.group(1)
        return self

    def _read_stdout(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.messages.append((time.monotonic(), json.loads(line)))

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        time.sleep(0.1)  # the reader thread takes the last lines
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    # -- HTTP ------------------------------------------------------------------------------------------

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return requests.post(
            f"{self.url}/amplitude/{path}",
            data=data,
            headers={"Content-Type": "application/json", **(GOOD if headers is None else headers)},
            timeout=10,
        )

    # -- output ----------------------------------------------------------------------------------------

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [m["record"] for _, m in list(self.messages) if m["type"] == "RECORD" and m["stream"] == stream]

    def states(self) -> list[int]:
        return [m["value"]["bookmarks"]["spool"]["seq"] for _, m in list(self.messages) if m["type"] == "STATE"]

    def wait_until(self, condition: Callable[[], bool], timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; stderr:\n{self.stderr}")
            time.sleep(0.02)

    def spool_seqs(self) -> list[int]:
        with sqlite3.connect(self.spool_path) as connection:
            return [seq for (seq,) in connection.execute("SELECT seq FROM spool ORDER BY seq")]


@pytest.fixture
def streaming_tap(tmp_path: Path) -> Iterator[Callable[..., StreamingTap]]:
    taps: list[StreamingTap] = []

    def make(**config: Any) -> StreamingTap:
        tap = StreamingTap(tmp_path / f"tap{len(taps)}", **config)
        taps.append(tap)
        return tap

    yield make
    for tap in taps:
        tap.kill()


def cohort_batch(message_id: str, users: list[dict[str, Any]], *, in_cohort: bool = True) -> dict[str, Any]:
    return {
        "cohort_name": "Power users",
        "cohort_id": "coh_42",
        "in_cohort": in_cohort,
        "computed_time": "1692206763",
        "message_id": message_id,
        "users": users,
    }


# -- CLI ----------------------------------------------------------------------------------------------


def test_about_and_discover_need_no_server() -> None:
    about = subprocess.run(
        [sys.executable, "-m", "tap_amplitude.streaming", "--about", "--format=json"],
        capture_output=True,
        check=True,
        text=True,
    )
    settings = json.loads(about.stdout)["settings"]["properties"]
    assert settings["secret"]["writeOnly"] is True
    for name in (
        "host",
        "port",
        "path_prefix",
        "secret_header",
        "max_body_bytes",
        "spool_path",
        "delivered_state_file",
    ):
        assert settings[name]["description"]
    export_settings = TapAmplitude.config_jsonschema["properties"]
    for name in ("revenue_properties", "revenue_event_types"):  # the export's, description and default included
        assert settings[name] == json.loads(json.dumps(export_settings[name]))
    assert settings["revenue_properties"]["default"] == DEFAULT_PROPERTIES
    streams = {entry["tap_stream_id"]: entry for entry in discover()["streams"]}
    assert set(streams) == {"events", "revenue", "users", "cohort_membership_changes"}
    assert streams["events"]["schema"] == export_schemas.EVENTS
    assert streams["events"]["key_properties"] == ["uuid"]
    assert streams["revenue"]["schema"] == export_schemas.REVENUE
    assert streams["revenue"]["key_properties"] == ["uuid"]
    for entry in streams.values():
        top = next(meta["metadata"] for meta in entry["metadata"] if meta["breadcrumb"] == [])
        assert top["selected-by-default"] is True
    assert streams["users"]["key_properties"] == ["amplitude_id"]
    assert streams["cohort_membership_changes"]["key_properties"] == ["message_id", "user_id"]
    users = streams["users"]["schema"]
    assert {k: v for k, v in users["properties"].items() if k != "amplitude_id"} == {
        k: v for k, v in export_schemas.USERS["properties"].items() if k != "amplitude_id"
    }


# -- the receiver contract ----------------------------------------------------------------------------


def test_refused_bodies_get_their_reason_and_nothing_is_kept(streaming_tap) -> None:
    tap = streaming_tap(max_body_bytes=4000).start()
    assert tap.post("stream", event(1), {"Authorization": "Bearer nope"}).status_code == 401
    assert tap.post("stream", event(1), {}).status_code == 401
    unauthorized = tap.post("cohorts", cohort_batch("m", []), {"Authorization": "Bearer nope"})
    assert (unauthorized.status_code, unauthorized.json()) == (401, {"error": "unauthorized"})

    malformed = tap.post("stream", b'{"event_type": "x",')
    assert malformed.status_code == 400
    assert malformed.json()["error"].startswith("malformed JSON")
    not_an_event = tap.post("stream", {"page": "/home"})
    assert (not_an_event.status_code, not_an_event.json()) == (
        400,
        {"error": "neither an event (no event_type) nor a user (no user_properties)"},
    )
    mixed = tap.post("stream", [event(1), "text"])
    assert mixed.json() == {"error": "item 1: expected an event or user object, got a string"}
    nobody = tap.post("stream", {"user_properties": {"plan": "pro"}})
    assert nobody.json() == {"error": "a user needs a user_id, device_id or amplitude_id"}
    not_a_batch = tap.post("cohorts", {"cohort_id": "c", "users": []})
    assert not_a_batch.json() == {"error": "not a cohort batch: missing in_cohort, message_id"}
    bad_time = tap.post("cohorts", {**cohort_batch("m", []), "computed_time": "yesterday"})
    assert bad_time.json() == {"error": "computed_time must be Unix epoch seconds (a number or a string of digits)"}
    oversize = tap.post("stream", event(1, event_properties={"pad": "x" * 5000}))
    assert (oversize.status_code, oversize.json()) == (413, {"error": "body larger than 4000 bytes"})

    assert tap.spool_seqs() == []
    assert requests.get(f"{tap.url}/health", timeout=5).json()["pending"] == 0
    assert tap.stop() == 0
    assert [m for _, m in tap.messages if m["type"] == "RECORD"] == []
    assert "streaming-test-secret" not in tap.stderr


def test_200_arrives_only_once_the_item_is_in_the_spool_file(streaming_tap) -> None:
    tap = streaming_tap().start()
    for n in range(1, 21):
        response = tap.post("stream", event(n))
        assert (response.status_code, response.json()) == (200, {"accepted": 1})
        with sqlite3.connect(tap.spool_path) as connection:  # another connection: committed, not just queued
            kept = connection.execute("SELECT seq, kind, body FROM spool ORDER BY seq DESC LIMIT 1").fetchone()
        assert kept[0] == n and kept[1] == "event"
        assert orjson.loads(kept[2]) == event(n)
    assert tap.stop() == 0


# -- records ------------------------------------------------------------------------------------------


def export_record(exported: dict[str, Any]) -> dict[str, Any]:
    """The record the export path makes of an exported line."""
    return event_record(EventDecoder().decode(orjson.dumps(exported)))


def test_streamed_events_become_the_records_the_export_gives(streaming_tap) -> None:
    tap = streaming_tap().start()
    exported = event(1, event_time="2024-03-02 10:00:01.250000", server_upload_time="2024-03-02 10:00:02.500000")
    variants = [
        event(1),  # milliseconds, space, no zone
        event(1, event_time="2024-03-02T10:00:01.250", server_upload_time="2024-03-02T10:00:02.5"),
        event(1, event_time="2024-03-02T11:00:01.25+01:00", server_upload_time="2024-03-02T10:00:02.500Z"),
    ]
    for body in variants:
        assert tap.post("stream", body).status_code == 200
    bare = {"event_type": "Signed Up", "user_id": "u-9", "event_time": "2024-03-02 10:00:00.000"}
    assert (
        tap.post(
            "stream", [bare, {"user_id": "u-9", "event_type": "Signed Up", "event_time": "2024-03-02 10:00:00.000"}]
        ).status_code
        == 200
    )
    assert tap.post("stream", event(2, uuid=None)).status_code == 200
    tap.wait_until(lambda: len(tap.records("events")) == 6)
    assert tap.stop() == 0

    streamed = tap.records("events")
    expected = export_record(exported)
    assert streamed[:3] == [expected] * 3
    # No uuid: a content hash, the same whatever the key order; no server_upload_time: when it was received.
    first, second = streamed[3], streamed[4]
    assert first["uuid"] == second["uuid"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", first["uuid"])
    assert first["server_upload_time"].endswith("+00:00") and first["event_time"] == "2024-03-02T10:00:00.000000+00:00"
    assert {k for k, v in first.items() if v is not None} == {
        "uuid",
        "event_type",
        "user_id",
        "event_time",
        "server_upload_time",
    }
    assert list(first) == list(export_schemas.EVENTS["properties"])
    assert streamed[5]["uuid"] == "insert-2"  # no uuid: the $insert_id


REVENUE_EVENT_TYPES = ["Purchase", "Revenue"]
REVENUE_FIELDS = ("revenue", "price", "quantity", "product_id", "revenue_type", "currency")


def export_revenue(exported: dict[str, Any]) -> dict[str, Any] | None:
    """The `revenue` record the export path derives from an exported line, under the same settings."""
    reader = RevenueReader.from_config({"revenue_event_types": REVENUE_EVENT_TYPES})
    return reader.record(EventDecoder().decode(orjson.dumps(exported)))


def as_exported(streamed: dict[str, Any]) -> dict[str, Any]:
    """The line the Export API gives for a streamed event (microseconds, no zone)."""
    return {**streamed, "event_time": "2024-03-02 10:00:01.250000", "server_upload_time": "2024-03-02 10:00:02.500000"}


def test_streamed_revenue_events_give_the_export_revenue_records(streaming_tap) -> None:
    tap = streaming_tap(revenue_event_types=REVENUE_EVENT_TYPES).start()
    amplitude_fields = {  # `$` fields count on every event type, this one included
        "$revenue": 25.0,
        "$price": 12.5,
        "$quantity": 2,
        "$productId": "sku-1",
        "$revenueType": "purchase",
        "$currency": "eur",
    }
    checkout = event(1, event_type="Checkout Completed", event_properties=amplitude_fields)
    purchase = event(2, event_type="Purchase", event_properties={"revenue": 89.99, "product_id": "SKU-001"})
    priced = event(3, event_type="Revenue", event_properties={"$price": "4.5", "quantity": 3}, uuid=None)
    viewed = event(4)
    add_to_cart = event(5, event_type="Add to Cart", event_properties={"price": 9.0, "product_id": "sku-9"})
    assert tap.post("stream", [checkout, purchase, priced]).status_code == 200
    assert tap.post("stream", viewed).status_code == 200
    assert tap.post("stream", add_to_cart).status_code == 200
    tap.wait_until(lambda: len(tap.records("events")) == 5)
    assert tap.stop() == 0

    revenue = tap.records("revenue")
    # The key is the event's: a body without a uuid takes its $insert_id, as its `events` record does.
    exported_priced = as_exported({**priced, "uuid": "insert-3"})
    assert revenue == [export_revenue(as_exported(e)) for e in (checkout, purchase)] + [export_revenue(exported_priced)]
    assert [r["uuid"] for r in revenue] == [r["uuid"] for r in tap.records("events")[:3]]
    assert [tuple(r[k] for k in REVENUE_FIELDS) for r in revenue] == [
        (25.0, 12.5, 2, "sku-1", "purchase", "EUR"),
        (89.99, None, 1, "SKU-001", None, None),
        (13.5, 4.5, 3, None, None, None),
    ]
    assert revenue[1]["event_time"] == "2024-03-02T10:00:01.250000+00:00"
    assert (revenue[1]["event_type"], revenue[1]["amplitude_id"], revenue[1]["user_id"]) == ("Purchase", 1002, "user-2")
    # Not revenue: no amount at all, or a plain price on a type revenue_event_types leaves out.
    assert export_revenue(as_exported(viewed)) is None and export_revenue(as_exported(add_to_cart)) is None
    assert "revenue=3" in tap.stderr


def test_revenue_alone_is_still_derived_from_the_events(streaming_tap) -> None:
    catalog = discover()
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] == "revenue"
    tap = streaming_tap().start(catalog=catalog)
    purchase = event(1, event_type="Purchase", event_properties={"revenue": "19.90", "currency": "usd"})
    assert tap.post("stream", [event(2), purchase]).status_code == 200
    tap.wait_until(lambda: tap.states() and tap.states()[-1] == 2)
    assert tap.stop() == 0
    assert {m["stream"] for _, m in tap.messages if m["type"] in ("SCHEMA", "RECORD")} == {"revenue"}
    assert tap.records("revenue") == [export_revenue(as_exported(purchase))]
    assert tap.records("revenue")[0]["revenue"] == 19.9


def test_users_and_cohort_changes(streaming_tap) -> None:
    tap = streaming_tap().start()
    identify = {
        "user_id": "user-7",
        "device_id": "device-7",
        "user_properties": {"plan": "pro", "age": "41", "email": "seven@example.com"},
        "platform": "iOS",
        "country": "France",
        "app_version": "2.1.0",
        "groups": {"company": "acme"},
    }
    device_only = {"device_id": "device-8", "amplitude_id": "8008", "user_properties": {"$set": {"plan": "free"}}}
    assert tap.post("stream", [event(1), identify, device_only]).status_code == 200
    enter = cohort_batch(
        "9baaa88f::enter::0",
        [{"user_id": "user-7", "user_properties": {"email": "seven@example.com"}}, {"user_id": "user-8"}],
    )
    leave = cohort_batch("9baaa88f::exit::0", [{"user_id": 9, "user_properties": None}], in_cohort=False)
    assert tap.post("cohorts", enter).status_code == 200
    assert tap.post("cohorts", [leave]).status_code == 200
    tap.wait_until(lambda: len(tap.records("cohort_membership_changes")) == 3)
    assert tap.stop() == 0

    assert len(tap.records("events")) == 1
    user, device = tap.records("users")
    assert user["user_id"] == "user-7" and user["amplitude_id"] is None
    assert user["user_properties"] == identify["user_properties"]
    assert (user["platform"], user["country"], user["version_name"]) == ("iOS", "France", "2.1.0")
    assert (user["event_count"], user["session_count"]) == (0, 0)
    assert user["window_start"] == user["window_end"] and user["first_active"] is None
    assert (device["user_id"], device["device_id"], device["amplitude_id"]) == (None, "device-8", 8008)

    changes = tap.records("cohort_membership_changes")
    base = {"cohort_id": "coh_42", "cohort_name": "Power users", "computed_time": "2023-08-16T17:26:03+00:00"}
    assert changes == [
        {
            **base,
            "in_cohort": True,
            "message_id": "9baaa88f::enter::0",
            "user_id": "user-7",
            "email": "seven@example.com",
            "user_properties": {"email": "seven@example.com"},
        },
        {
            **base,
            "in_cohort": True,
            "message_id": "9baaa88f::enter::0",
            "user_id": "user-8",
            "email": None,
            "user_properties": {},
        },
        {
            **base,
            "in_cohort": False,
            "message_id": "9baaa88f::exit::0",
            "user_id": "9",
            "email": None,
            "user_properties": {},
        },
    ]


def test_stream_maps_take_the_sdk_record_path(streaming_tap) -> None:
    tap = streaming_tap(
        stream_maps={
            "events": {"event_properties": "__NULL__"},
            "users": {"user_properties": "__NULL__"},
            "revenue": {"product_id": "__NULL__"},
        }
    ).start()
    purchase = event(1, event_properties={"$revenue": 5, "$productId": "sku-1"})
    assert tap.post("stream", [purchase, {"user_id": "u-1", "user_properties": {"plan": "pro"}}]).status_code == 200
    tap.wait_until(lambda: len(tap.records("users")) == 1)
    assert tap.stop() == 0
    expected = export_record(purchase)
    del expected["event_properties"]
    assert tap.records("events") == [expected]
    assert "user_properties" not in tap.records("users")[0]
    expected_revenue = export_revenue(as_exported(purchase))
    assert expected_revenue is not None
    del expected_revenue["product_id"]
    assert tap.records("revenue") == [expected_revenue]


# -- state, stopping, resuming, pruning ----------------------------------------------------------------


def test_state_about_every_interval_while_records_flow(streaming_tap) -> None:
    tap = streaming_tap(state_interval_seconds=0.5).start()
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < 3:
        n += 1
        assert tap.post("stream", event(n)).status_code == 200
        time.sleep(0.05)
    tap.wait_until(lambda: tap.states() and tap.states()[-1] == n)
    time.sleep(1)  # nothing flows: no more STATE
    quiet = len(tap.states())
    assert tap.stop() == 0

    stamps, seqs = [], []
    records_before = 0
    for at, message in tap.messages:
        if message["type"] == "RECORD":
            records_before += 1
        elif message["type"] == "STATE":
            seq = message["value"]["bookmarks"]["spool"]["seq"]
            assert seq == records_before  # a STATE covers exactly the items emitted before it (one record each)
            stamps.append(at)
            seqs.append(seq)
    assert seqs == sorted(seqs)
    flowing = stamps[:quiet]
    assert 4 <= len(flowing) <= 9  # ~3 s of traffic at one STATE per 0.5 s
    assert all(later - earlier >= 0.4 for earlier, later in itertools.pairwise(flowing))
    assert len(tap.states()) == quiet or tap.states()[quiet:] == [n] * (len(tap.states()) - quiet)


def test_sigterm_stops_accepting_drains_and_exits_0(streaming_tap) -> None:
    tap = streaming_tap(state_interval_seconds=30).start()  # no STATE before the final one
    for n in range(1, 51):
        assert tap.post("stream", event(n)).status_code == 200
    assert tap.stop(signal.SIGTERM) == 0
    assert [r["uuid"] for r in tap.records("events")] == [event(n)["uuid"] for n in range(1, 51)]
    assert tap.states()[-1] == 50
    assert "Stopping (SIGTERM)" in tap.stderr and "Streaming summary" in tap.stderr
    with pytest.raises(requests.ConnectionError):
        tap.post("stream", event(51))


def test_resume_after_kill_9_loses_nothing_acknowledged_and_skips_what_was_delivered(streaming_tap) -> None:
    tap = streaming_tap(state_interval_seconds=0.2).start()
    for n in range(1, 6):
        assert tap.post("stream", event(n)).status_code == 200
    tap.wait_until(lambda: tap.states() and tap.states()[-1] == 5)
    for n in range(6, 11):  # acknowledged, and the process dies right after
        assert tap.post("stream", event(n)).status_code == 200
    tap.stop(signal.SIGKILL)

    # The target had delivered (and Meltano kept) the STATE through seq 3.
    tap.start(state={"bookmarks": {"spool": {"seq": 3}}})
    tap.wait_until(lambda: len(tap.records("events")) == 7)
    assert tap.spool_seqs() == list(range(4, 11))  # pruned through the input state
    assert tap.post("stream", event(11)).status_code == 200
    tap.wait_until(lambda: len(tap.records("events")) == 8)
    assert tap.stop() == 0
    assert [r["uuid"] for r in tap.records("events")] == [event(n)["uuid"] for n in range(4, 12)]
    assert tap.states()[0] == 3 and tap.states()[-1] == 11


def test_spool_replaced_behind_the_state_numbers_after_it(streaming_tap) -> None:
    tap = streaming_tap().start(state={"bookmarks": {"spool": {"seq": 500}}})
    assert tap.post("stream", event(1)).status_code == 200
    tap.wait_until(lambda: len(tap.records("events")) == 1)
    assert tap.stop() == 0
    assert tap.spool_seqs() == [501]
    assert tap.states()[-1] == 501
    assert "behind the state" in tap.stderr


def test_delivered_state_file_prunes_the_spool(streaming_tap, tmp_path: Path) -> None:
    ack = tmp_path / "delivered-state.json"
    tap = streaming_tap(delivered_state_file=str(ack)).start()
    for n in range(1, 7):
        assert tap.post("stream", event(n)).status_code == 200
    tap.wait_until(lambda: len(tap.records("events")) == 6)
    assert tap.spool_seqs() == [1, 2, 3, 4, 5, 6]  # nothing is delivered yet

    def deliver(seq: int) -> None:  # as target-brevo's state_ack_file does: write aside, then rename
        aside = ack.with_suffix(".tmp")
        aside.write_text(json.dumps({"bookmarks": {"spool": {"seq": seq}}}))
        os.replace(aside, ack)

    deliver(4)
    tap.wait_until(lambda: tap.spool_seqs() == [5, 6], timeout=10)
    deliver(99)  # beyond anything emitted: another spool's numbering, so it prunes nothing
    assert tap.post("stream", event(7)).status_code == 200
    tap.wait_until(lambda: len(tap.records("events")) == 7)
    time.sleep(2.5)  # a delivered-state poll or more
    assert tap.spool_seqs() == [5, 6, 7]
    deliver(7)
    tap.wait_until(lambda: tap.spool_seqs() == [], timeout=10)
    assert tap.stop() == 0
    assert "was delivered, beyond the last emitted" in tap.stderr and "ignored, nothing pruned by it" in tap.stderr


def test_idle_exit_once_drained(streaming_tap) -> None:
    tap = streaming_tap(idle_exit_seconds=0.5).start()
    assert tap.post("stream", event(1)).status_code == 200
    assert tap.proc is not None
    assert tap.proc.wait(15) == 0
    time.sleep(0.1)
    assert len(tap.records("events")) == 1 and tap.states()[-1] == 1
    assert "Stopping (idle for 0.5 s)" in tap.stderr


def discover() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tap_amplitude.streaming", "--discover"], capture_output=True, check=True, text=True
    )
    return json.loads(done.stdout)


def test_only_selected_streams_are_emitted(streaming_tap) -> None:
    catalog = discover()
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] == "cohort_membership_changes"
    tap = streaming_tap().start(catalog=catalog)
    assert tap.post("stream", event(1)).status_code == 200
    assert tap.post("cohorts", cohort_batch("m1", [{"user_id": "u1"}])).status_code == 200
    tap.wait_until(lambda: tap.states() and tap.states()[-1] == 2)
    assert tap.stop() == 0
    assert {m["stream"] for _, m in tap.messages if m["type"] in ("SCHEMA", "RECORD")} == {"cohort_membership_changes"}
    assert len(tap.records("cohort_membership_changes")) == 1


def run_second(config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "second.json"
    path.write_text(json.dumps({"secret": SECRET, **config}))
    return subprocess.run(
        [sys.executable, "-m", "tap_amplitude.streaming", "--config", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_port_taken_or_spool_in_use_fails_with_one_clear_line(streaming_tap, tmp_path: Path) -> None:
    first = streaming_tap().start()
    port = int(first.url.rsplit(":", 1)[1])
    taken = run_second({"port": port, "spool_path": str(tmp_path / "other.sqlite3")}, tmp_path)
    assert taken.returncode == 1
    assert f"could not listen on 127.0.0.1:{port}" in taken.stderr
    locked = run_second({"port": 0, "spool_path": str(first.spool_path)}, tmp_path)
    assert locked.returncode == 1
    assert f"spool {first.spool_path} is in use by another process" in locked.stderr
    for done in (taken, locked):
        assert "Traceback" not in done.stderr
        assert "streaming-test-secret" not in done.stderr + done.stdout


# -- the SDK's standard tap tests -------------------------------------------------------------------------
# They sync the tap in process; with idle_exit_seconds a sync ends by itself once nothing arrives, so they apply
# (without records: nothing posts to it).

STANDARD_CONFIG: dict[str, Any] = {"secret": SECRET, "port": 0, "spool_path": "placeholder", "idle_exit_seconds": 0.2}


@pytest.fixture(scope="module", autouse=True)
def standard_spool(tmp_path_factory: pytest.TempPathFactory) -> None:
    STANDARD_CONFIG["spool_path"] = str(tmp_path_factory.mktemp("standard") / "spool.sqlite3")


TestTapAmplitudeStreaming = get_tap_test_class(
    tap_class=TapAmplitudeStreaming,
    config=STANDARD_CONFIG,
    suite_config=SuiteConfig(ignore_no_records=True),
)
