"""Pure parts of tap-amplitude: hour planning, timestamps, reading an export archive, derivations."""

from __future__ import annotations

import gzip
import io
import itertools
import logging
import tempfile
import zipfile
from datetime import UTC, datetime

import msgspec
import pytest
import requests
from tap_amplitude.archive import CorruptExport, ExportArchive
from tap_amplitude.client import AmplitudeClient, AmplitudeError, check_url_scheme
from tap_amplitude.cohorts import member_value, select_cohorts
from tap_amplitude.derive import EVENT_FIELDS, Conformer, UserAggregator
from tap_amplitude.events import EventDecoder, ForwardedEvent, event_record
from tap_amplitude.hours import Window, export_param, floor_hour, newest_exportable_hour, plan_windows, to_rfc3339

from tap.support import STRICT_WARNINGS

pytestmark = STRICT_WARNINGS


def hour(h: int, day: int = 2) -> datetime:
    return datetime(2024, 3, day, h, tzinfo=UTC)


# -- hours ---------------------------------------------------------------------------------------------


def test_plan_windows_covers_every_hour_once():
    windows = plan_windows(hour(0), hour(23, day=3), 10)
    assert [w.hours for w in windows] == [10, 10, 10, 10, 8]
    assert windows[0].first == hour(0) and windows[-1].last == hour(23, day=3)
    for before, after in itertools.pairwise(windows):
        assert after.first == before.end


def test_plan_windows_single_hour_and_empty():
    assert plan_windows(hour(5), hour(5), 24) == [Window(hour(5), hour(5))]
    assert plan_windows(hour(6), hour(5), 24) == []


def test_window_halves_down_to_one_hour():
    left, right = Window(hour(0), hour(4)).halves()
    assert (left.first, left.last, right.first, right.last) == (hour(0), hour(1), hour(2), hour(4))
    a, b = Window(hour(7), hour(8)).halves()
    assert a == Window(hour(7), hour(7)) and b == Window(hour(8), hour(8))


def test_export_param_and_floor():
    assert export_param(hour(5)) == "20240302T05"
    assert floor_hour(datetime(2024, 3, 2, 5, 59, 59, tzinfo=UTC)) == hour(5)


def test_latency_horizon_matches_the_documented_example():
    # Data received 20:00-20:59 is exportable from 23:00 (latency 2 h).
    assert newest_exportable_hour(datetime(2024, 3, 2, 22, 59, tzinfo=UTC), 2) == hour(19)
    assert newest_exportable_hour(datetime(2024, 3, 2, 23, 0, tzinfo=UTC), 2) == hour(20)
    assert newest_exportable_hour(datetime(2024, 3, 2, 23, 0, tzinfo=UTC), 0) == hour(22)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("2021-05-27 11:59:53.710000", "2021-05-27T11:59:53.710000+00:00"),
        ("2021-05-27T11:59:53.710000", "2021-05-27T11:59:53.710000+00:00"),
        ("2021-05-27 11:59:53", "2021-05-27T11:59:53.000000+00:00"),
        ("2021-05-27T11:59:53.710000+00:00", "2021-05-27T11:59:53.710000+00:00"),
        ("2021-05-27T13:59:53.710000+02:00", "2021-05-27T11:59:53.710000+00:00"),
        ("2021-05-27T11:59:53.71Z", "2021-05-27T11:59:53.710000+00:00"),
        (None, None),
    ],
)
def test_timestamps_become_rfc3339_utc(wire, expected):
    assert to_rfc3339(wire) == expected


def test_bad_timestamp_is_an_error():
    with pytest.raises(ValueError, match="not an Amplitude timestamp"):
        to_rfc3339("yesterday")


# -- archive -------------------------------------------------------------------------------------------


def event(n: int, h: int, **extra) -> dict:
    return {
        "uuid": f"00000000-0000-0000-0000-{n:012d}",
        "event_type": extra.pop("event_type", "view"),
        "amplitude_id": 1000 + n % 3,
        "user_id": f"user-{n % 3}",
        "device_id": f"device-{n % 3}",
        "server_upload_time": f"2024-03-02 {h:02d}:10:{n % 60:02d}.000000",
        "event_time": f"2024-03-02 {h:02d}:09:{n % 60:02d}.123000",
        "session_id": 1700000000000 + n % 2,
        **extra,
    }


def make_zip(hours: dict[int, list[list[dict]]], corrupt_hour: int | None = None) -> io.BufferedRandom:
    spool = tempfile.TemporaryFile()  # noqa: SIM115  (returned to the test)
    with zipfile.ZipFile(spool, "w") as archive:
        for h, partitions in hours.items():
            for n, events in enumerate(partitions):
                body = gzip.compress(b"".join(msgspec.json.encode(e) + b"\n" for e in events))
                if h == corrupt_hour:
                    body = body[:12] + bytes(b ^ 0xFF for b in body[12:40]) + body[40:]
                archive.writestr(f"374182/374182_2024-03-02_{h}#{n}.json.gz", body)
    spool.seek(0)
    return spool


def test_archive_reads_hours_in_time_order_and_partitions_in_order():
    spool = make_zip({10: [[event(1, 10)]], 2: [[event(2, 2)], [event(3, 2)]], 0: [[event(4, 0)]]})
    with ExportArchive(spool, Window(hour(0), hour(23))) as archive:
        archive.verify()
        hours = archive.hours()
        assert [h for h, _ in hours] == [hour(0), hour(2), hour(10)]
        assert [name.rsplit("_", 1)[1] for name in hours[1][1]] == ["2#0.json.gz", "2#1.json.gz"]
        decode = EventDecoder().decode
        uuids = [e.uuid[-1] for h, names in hours for name in names for e in archive.events(h, name, decode)]
        assert uuids == ["4", "2", "3", "1"]


def test_corrupt_gzip_member_fails_loudly_naming_the_hour():
    spool = make_zip({3: [[event(n, 3) for n in range(200)]]}, corrupt_hour=3)
    with ExportArchive(spool, Window(hour(0), hour(5))) as archive:
        archive.verify()  # the zip itself is sound: the damage is inside the gzip member
        ((h, names),) = archive.hours()
        with pytest.raises(
            CorruptExport, match=r"hour 2024-03-02T03:00Z is corrupt: member 374182/374182_2024-03-02_3#0"
        ):
            list(archive.events(h, names[0], EventDecoder().decode))


def test_member_that_is_not_utf8_fails_loudly_naming_the_hour():
    good = ndjson([event(n, 3, event_properties={"city": "Zürich"}) for n in range(3)])
    bad = good + b'{"uuid":"x","event_properties":{"name":"caf\xe9"}}\n'  # Latin-1, inside a forwarded object
    assert len(read_member(gzip.compress(good))) == 3
    with pytest.raises(CorruptExport, match=r"hour 2024-03-02T03:00Z is corrupt: .* is not UTF-8 text after line 0"):
        read_member(gzip.compress(bad), decoder=EventDecoder(forward_objects=True))


def zip_of_members(members: dict[str, bytes]) -> io.BufferedRandom:
    spool = tempfile.TemporaryFile()  # noqa: SIM115  (returned to the test)
    with zipfile.ZipFile(spool, "w") as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    spool.seek(0)
    return spool


def read_member(
    body: bytes, name: str = "374182/374182_2024-03-02_3#0.json.gz", decoder: EventDecoder | None = None
) -> list:
    with ExportArchive(zip_of_members({name: body}), Window(hour(0), hour(5))) as archive:
        return list(archive.events(hour(3), name, (decoder or EventDecoder()).decode))


def ndjson(events: list[dict]) -> bytes:
    return b"".join(msgspec.json.encode(e) + b"\n" for e in events)


def test_archive_reads_concatenated_gzip_members_padding_blank_lines_and_long_members():
    many = [event(n, 3, event_properties={"blob": "x" * 3000}) for n in range(3000)]  # > one inflate piece
    body = gzip.compress(ndjson(many[:1000]) + b"\n  \n") + gzip.compress(ndjson(many[1000:])) + b"\0" * 16
    assert [e.uuid for e in read_member(body)] == [e["uuid"] for e in many]
    assert [e.uuid for e in read_member(ndjson(many[:3]), name="374182/374182_2024-03-02_3#0.json")] == [
        e["uuid"] for e in many[:3]
    ]  # a member that is not gzipped
    assert read_member(b"") == []


def test_truncated_gzip_member_and_non_object_lines_fail_naming_the_hour():
    body = gzip.compress(ndjson([event(n, 3) for n in range(50)]))
    with pytest.raises(CorruptExport, match=r"hour 2024-03-02T03:00Z is corrupt: .* does not decompress .*EOFError"):
        read_member(body[:-20])
    with pytest.raises(CorruptExport, match=r"line 2 is not a JSON object"):
        read_member(gzip.compress(ndjson([event(1, 3)]) + b"[1, 2]\n"))
    with pytest.raises(CorruptExport, match=r"line 1 is not a JSON object"):
        read_member(gzip.compress(b'{"uuid": "cut off\n'))


# -- derivations ---------------------------------------------------------------------------------------


def test_conformer_types_every_field_cheaply():
    conformer = Conformer()
    record = conformer.event(
        event(
            7,
            4,
            event_id="12",
            location_lat=48,
            paying="true",
            app=374182.0,
            user_properties={"plan": "pro"},
            unknown_field=1,
        )
    )
    assert record["event_id"] == 12 and record["app"] == 374182
    assert record["location_lat"] == 48.0 and record["paying"] is True
    assert record["server_upload_time"] == "2024-03-02T04:10:07.000000+00:00"
    assert record["user_properties"] == {"plan": "pro"}
    assert "unknown_field" not in record and record["city"] is None
    assert conformer.fixed == {"event_id": 1, "paying": 1, "app": 1}


def decoded(raw: dict):
    return EventDecoder().decode(msgspec.json.encode(raw))


def test_decoder_fast_path_builds_the_same_record_as_the_conformer():
    raw = event(
        5,
        4,
        event_properties={"page": "/", "n": [1, {"a": None}]},
        user_properties={"plan": "pro"},
        location_lat=48,
        paying=True,
        amplitude_attribution_ids=["a"],
        unknown_field=1,
        **{"$insert_id": "i-5"},
    )
    decoder = EventDecoder()
    fast = decoder.decode(msgspec.json.encode(raw))
    assert decoder.conformed == 0
    assert event_record(fast) == Conformer().event(raw)
    assert list(event_record(fast)) == list(EVENT_FIELDS)  # every field, in schema order, null when absent
    assert fast.location_lat == 48.0 and type(fast.location_lat) is float and fast.insert_id == "i-5"
    assert fast.event_time == "2024-03-02T04:09:05.123000+00:00"


def as_json(event) -> dict:
    """The record a decoded event becomes once written (what a target reads)."""
    return msgspec.json.decode(msgspec.json.encode(event))


def test_forwarded_objects_write_the_same_record_as_decoded_ones():
    raw = event(
        5,
        4,
        event_properties={"note": 'naïve "q" \u2028', "n": [1, 2.5, None, {"a": True}], "big": 12345678901234567890},
        user_properties={"plan": "pro", "score": 1e-7},
        group_properties={},
        data={"path": "/batch"},
        plan={"branch": "main"},
        unknown_field={"x": 1},
    )
    line = msgspec.json.encode(raw).replace(b'"plan":"pro"', b'"plan" :  "pro"')  # exported spacing is kept
    decoder = EventDecoder(forward_objects=True)
    forwarded = decoder.decode(line)
    assert type(forwarded) is ForwardedEvent and decoder.conformed == 0
    assert as_json(forwarded) == event_record(EventDecoder().decode(line))
    assert bytes(forwarded.user_properties) == b'{"plan" :  "pro","score":1e-7}'
    assert as_json(decoder.decode(msgspec.json.encode(event(6, 4))))["event_properties"] is None  # absent: null


def test_forwarded_objects_that_are_not_objects_take_the_conformer():
    decoder = EventDecoder(forward_objects=True)
    for number, odd in enumerate([{"event_properties": [1]}, {"data": 5}, {"user_properties": "x"}, {"plan": "x"}]):
        raw = event(number, 4, **odd)
        assert as_json(decoder.decode(msgspec.json.encode(raw))) == Conformer().event(raw)
        assert decoder.conformed == number + 1
    assert decoder.conformer.dropped == {"event_properties": 1, "data": 1, "user_properties": 1, "plan": 1}
    null = decoder.decode(msgspec.json.encode(event(9, 4, event_properties=None)))
    assert type(null) is ForwardedEvent and as_json(null)["event_properties"] is None


@pytest.mark.parametrize("forward_objects", [False, True])
@pytest.mark.parametrize(
    "odd",
    [
        {"event_id": "12"},
        {"app": 374182.0},
        {"paying": "true"},
        {"city": 7},
        {"user_properties": "not an object"},
        {"event_time": "2024-03-02 04:09:05"},
        {"server_upload_time": "yesterday"},
        {"location_lat": True},
    ],
)
def test_decoder_sends_lines_that_do_not_fit_through_the_conformer(odd, forward_objects):
    raw = event(5, 4, **odd)
    decoder = EventDecoder(forward_objects=forward_objects)
    record = as_json(decoder.decode(msgspec.json.encode(raw)))
    assert decoder.conformed == 1
    assert record == Conformer().event(raw)
    field = next(iter(odd))
    assert decoder.conformer.fixed.get(field, 0) + decoder.conformer.dropped.get(field, 0) == (
        0 if field == "event_time" else 1
    )  # a second-precision timestamp is valid, only slower


def test_users_keep_the_latest_properties_and_count_sessions():
    users = UserAggregator(hour(0), hour(2))
    late = event(3, 1, user_properties={"plan": "pro"}, country="France", platform="iOS")
    early = event(0, 0, user_properties={"plan": "free"}, country="Spain", city="Madrid")
    for raw in (late, early, event(6, 0, session_id=-1)):  # out of order on purpose
        users.add(decoded(raw))
    (user,) = [u for u in users.records() if u["amplitude_id"] == 1000]
    assert user["user_properties"] == {"plan": "pro"} and user["country"] == "France"
    assert user["city"] == "Madrid"  # older, but the newer event had none
    assert user["event_count"] == 3 and user["session_count"] == 2
    assert user["last_active"] == "2024-03-02T01:09:03.123000+00:00"
    assert user["first_active"] == "2024-03-02T00:09:00.123000+00:00"
    assert (user["window_start"], user["window_end"]) == ("2024-03-02T00:00:00+00:00", "2024-03-02T02:00:00+00:00")


# -- client and cohorts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["https://amplitude.com", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:2"]
)
def test_allowed_urls(url):
    check_url_scheme(url, "api_url")


@pytest.mark.parametrize("url", ["http://amplitude.com", "ftp://x", "http://10.0.0.1", "amplitude.com"])
def test_plain_http_only_for_loopback(url):
    with pytest.raises(AmplitudeError, match="https"):
        check_url_scheme(url, "api_url")


def _response(status: int, details: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = msgspec.json.encode(
        {"error": {"http_code": status, "type": "unspecified", "metadata": {"details": details}}}
    )
    return response


def test_credential_errors_name_the_cause_without_secrets():
    client = AmplitudeClient(
        {"api_key": "KEY-123456", "secret_key": "SECRET-98765", "data_center": "US"}, logging.getLogger("test")
    )
    key = str(client.credentials_error(_response(403, "Invalid API Key")))
    assert "api_key" in key and "data_center=EU" in key
    secret = str(client.credentials_error(_response(403, "Invalid API/Secret Key combination")))
    assert "secret_key" in secret
    echoed = str(client.credentials_error(_response(401, "bad key KEY-123456 / SECRET-98765")))
    assert "KEY-123456" not in echoed and "SECRET-98765" not in echoed


def test_cohort_selection_by_id_or_name():
    cohorts = [{"id": "a1", "name": "Buyers"}, {"id": "b2", "name": "Old", "archived": True}, {"id": "c3", "name": "X"}]
    assert [c["id"] for c in select_cohorts(cohorts, None)] == ["a1", "c3"]
    assert [c["id"] for c in select_cohorts(cohorts, ["Old", "a1"])] == ["b2", "a1"]
    with pytest.raises(AmplitudeError, match="no cohort has the id or name 'nope'"):
        select_cohorts(cohorts, ["nope"])


def test_member_values_decode_json_cells():
    assert member_value('["a","b"]') == ["a", "b"]
    assert member_value("plain") == "plain"
    assert member_value("[not json") == "[not json"


# -- output ------------------------------------------------------------------------------------------------


def test_direct_record_lines_match_the_sdk_writer_and_keep_message_order(monkeypatch):
    from datetime import timedelta

    from singer_sdk.contrib.msgspec import MsgSpecWriter
    from singer_sdk.singerlib import RecordMessage, StateMessage
    from tap_amplitude.output import SingerOutput

    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr("sys.stdout", stdout)
    output = SingerOutput()
    record = decoded(event(1, 2, user_properties={"plan": "pro"}))
    output.write_record("events", record)
    output.write_record("revenue", {"uuid": "u", "revenue": 1.5}, version=7)
    output.write_message(StateMessage(value={"bookmarks": {}}))
    output.write_record("events", record)
    output.flush()
    stdout.seek(0)
    lines = [msgspec.json.decode(line) for line in stdout.read().splitlines()]
    assert [(m["type"], m.get("stream")) for m in lines] == [
        ("RECORD", "events"),
        ("RECORD", "revenue"),
        ("STATE", None),
        ("RECORD", "events"),
    ]
    assert lines[1]["version"] == 7 and lines[1]["record"] == {"uuid": "u", "revenue": 1.5}
    extracted = datetime.fromisoformat(lines[0]["time_extracted"])
    assert abs(datetime.now(UTC) - extracted) < timedelta(minutes=1)

    sdk_stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr("sys.stdout", sdk_stdout)
    MsgSpecWriter().write_message(RecordMessage(stream="events", record=event_record(record), time_extracted=extracted))
    sdk_stdout.seek(0)
    assert lines[0] == msgspec.json.decode(sdk_stdout.read())


# -- read-ahead ----------------------------------------------------------------------------------------------


def test_read_ahead_keeps_order_runs_one_item_ahead_and_raises_in_order():
    import threading

    from tap_amplitude.readahead import read_ahead

    alive: set[int] = set()
    most_alive = 0
    lock = threading.Lock()

    def produce():
        nonlocal most_alive
        for n in range(6):
            with lock:
                alive.add(n)
                most_alive = max(most_alive, len(alive))
            yield n
        raise RuntimeError("window 6 failed")

    seen = []
    with pytest.raises(RuntimeError, match="window 6 failed"):
        for n in read_ahead(produce(), discard=alive.discard):
            seen.append(n)
            with lock:
                alive.discard(n)  # the consumer is done with it
    assert seen == [0, 1, 2, 3, 4, 5]
    assert most_alive <= 2  # the consumer's item and the next one


def test_read_ahead_discards_what_the_consumer_never_took():
    import time

    from tap_amplitude.readahead import read_ahead

    discarded = []
    reader = read_ahead(iter(range(10)), discard=discarded.append)
    assert next(reader) == 0
    time.sleep(0.1)  # the producer hands over 1 and waits
    reader.close()  # the consumer stops early (an error while reading item 0)
    deadline = time.monotonic() + 5
    while not discarded and time.monotonic() < deadline:
        time.sleep(0.01)
    assert discarded == [1]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"data_center": "EU"}, "https://analytics.eu.amplitude.com"),
        ({"data_center": "US"}, "https://amplitude.com"),
        (
            {"data_center": "EU", "api_urls": {"US": "http://127.0.0.1:1", "EU": "http://127.0.0.1:2"}},
            "http://127.0.0.1:2",
        ),
        ({"data_center": "US", "api_urls": {"EU": "http://127.0.0.1:2"}}, "https://amplitude.com"),
        (
            {"data_center": "EU", "api_url": "http://127.0.0.1:9", "api_urls": {"EU": "http://127.0.0.1:2"}},
            "http://127.0.0.1:9",
        ),
    ],
)
def test_data_center_decides_the_host_unless_api_url_pins_it(config, expected, caplog):
    client = AmplitudeClient({"api_key": "k", "secret_key": "s", **config}, logging.getLogger("test"))
    assert client.base_url == expected
    assert "api_url" not in caplog.text


def test_an_api_url_of_the_other_data_center_is_named_in_a_warning(caplog):
    config = {"api_key": "k", "secret_key": "s", "data_center": "EU", "api_url": "https://amplitude.com"}
    with caplog.at_level(logging.WARNING):
        client = AmplitudeClient(config, logging.getLogger("test"))
    assert client.base_url == "https://amplitude.com"
    assert "api_url https://amplitude.com is the US data center's host but data_center is EU" in caplog.text
