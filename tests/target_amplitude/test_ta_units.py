"""Units of target-amplitude: mapping, identity, insert_id, request splitting, and each answer's handling."""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from amplitude_target_support import email_event
from target_amplitude.amplitude.client import AmplitudeError, Answer, check_api_url
from target_amplitude.delivery.ledger import Ledger
from target_amplitude.delivery.requests import Item, take_request
from target_amplitude.delivery.sender import EventDelivery, invalid_indexes
from target_amplitude.mapping.events import Rejected, Skipped
from target_amplitude.report import RejectsFile, RunReport
from target_amplitude.settings import parse_settings


def rules(**config: Any):
    return parse_settings({"api_key": "k" * 32, **config}).rules


# -- mapping -----------------------------------------------------------------------------------


def test_default_mapping_event_type_properties_time_and_insert_id() -> None:
    record = email_event(1, "click", ext_id="user-00042")
    source, event = rules().to_event(record)
    assert source == "click"
    assert event["event_type"] == "Email Link Clicked"
    assert event["user_id"] == "user-00042"
    assert event["insert_id"] == f"brevo-{record['event_id']}"
    assert event["time"] == int(datetime(2026, 11, 30, 9, 0, 1, tzinfo=UTC).timestamp() * 1000)
    assert event["event_properties"] == {
        "channel": "marketing", "campaign_id": 42, "campaign_name": "November news", "subject": "News",
        "link": "https://example.com/a", "tags": ["news"], "source": "webhook",
    }  # fmt: skip
    assert "user_properties" not in event


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("request", "Email Sent"), ("delivered", "Email Delivered"), ("opened", "Email Opened"),
        ("hard_bounce", "Email Bounced"), ("soft_bounce", "Email Bounced"), ("spam", "Email Marked As Spam"),
        ("unsubscribed", "Email Unsubscribed"), ("blocked", "Email Blocked"),
    ],
)  # fmt: skip
def test_each_default_event_type(source: str, expected: str) -> None:
    assert rules().to_event(email_event(1, source))[1]["event_type"] == expected


@pytest.mark.parametrize("source", ["unique_opened", "proxy_open", "deferred", "list_addition", "made_up"])
def test_unmapped_events_are_skipped(source: str) -> None:
    with pytest.raises(Skipped) as info:
        rules().to_event(email_event(1, source))
    assert info.value.source_event == source


def test_set_user_properties_on_unsubscribe_and_hard_bounce_only() -> None:
    assert rules().to_event(email_event(1, "unsubscribed"))[1]["user_properties"] == {
        "$set": {"email_unsubscribed": True}
    }
    assert rules().to_event(email_event(1, "hard_bounce"))[1]["user_properties"] == {
        "$set": {"email_hard_bounced": True}
    }
    assert "user_properties" not in rules().to_event(email_event(1, "soft_bounce"))[1]


def test_custom_mapping_and_fields_for_another_stream() -> None:
    custom = rules(
        event_field="kind",
        event_mapping={"signup": "Signed Up"},
        user_property_updates={"signup": {"plan": "free"}},
        event_properties=["meta.source"],
        insert_id_field="id",
        insert_id_prefix="crm-",
        time_field="at",
        user_id_paths=["account.owner"],
    )
    record = {
        "id": 7,
        "kind": "signup",
        "at": "2026-01-01T00:00:00",
        "account": {"owner": "owner-1"},
        "meta": {"source": "ads"},
    }
    _source, event = custom.to_event(record)
    assert event["event_type"] == "Signed Up" and event["insert_id"] == "crm-7" and event["user_id"] == "owner-1"
    assert event["time"] == 1767225600000  # no zone: UTC
    assert event["event_properties"] == {"meta.source": "ads"}
    assert event["user_properties"] == {"$set": {"plan": "free"}}


def test_insert_id_is_the_same_for_the_same_record_and_differs_between_records() -> None:
    one, again, other = email_event(1), email_event(1), email_event(2)
    assert rules().to_event(one)[1]["insert_id"] == rules().to_event(again)[1]["insert_id"]
    assert rules().to_event(one)[1]["insert_id"] != rules().to_event(other)[1]["insert_id"]


def test_typed_values_from_the_sdk_are_sent_as_json() -> None:
    record = email_event(1, campaign_id=Decimal(42), event_time=datetime(2026, 1, 1, tzinfo=UTC))
    _source, event = rules(event_properties=["campaign_id", "score"]).to_event({**record, "score": Decimal("1.5")})
    assert event["event_properties"] == {"campaign_id": 42, "score": 1.5}
    assert event["time"] == 1767225600000
    orjson.dumps(event)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"event": None}, "no event name at event"),
        ({"event_id": ""}, "no event_id to derive the insert_id from"),
        ({"event_time": "yesterday"}, "event_time is not an ISO 8601 date-time"),
        ({"event_time": None}, "no event_time"),
    ],
)
def test_records_that_cannot_be_events_are_rejected_with_the_reason(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        rules().to_event(email_event(1, **changes))


# -- identity ----------------------------------------------------------------------------------


def test_user_id_first_usable_path_then_email() -> None:
    attrs = {"AMPLITUDE_USER_ID": "amp-user-9"}
    assert rules().to_event(email_event(1, ext_id="ext-12345", contact_attributes=attrs))[1]["user_id"] == "ext-12345"
    assert rules().to_event(email_event(1, ext_id="  ", contact_attributes=attrs))[1]["user_id"] == "amp-user-9"
    assert rules().to_event(email_event(1, email="Ann@Example.com"))[1]["user_id"] == "ann@example.com"


def test_email_rules_sha256_and_none() -> None:
    digest = hashlib.sha256(b"ann@example.com").hexdigest()
    assert rules(email_rule="sha256").to_event(email_event(1, email="Ann@Example.com"))[1]["user_id"] == digest
    with pytest.raises(Rejected, match="email_rule is none"):
        rules(email_rule="none").to_event(email_event(1, email="ann@example.com"))
    assert rules(email_rule="none").to_event(email_event(1, ext_id="ext-12345"))[1]["user_id"] == "ext-12345"


def test_placeholder_and_short_ids_are_not_used() -> None:
    assert rules().to_event(email_event(1, ext_id="null"))[1]["user_id"] == "person1@example.com"
    with pytest.raises(Rejected, match="ext_id is a placeholder id"):
        rules(email_rule="none").to_event(email_event(1, ext_id="null"))
    with pytest.raises(Rejected, match="shorter than min_id_length 5"):
        rules(email_rule="none").to_event(email_event(1, ext_id="abc"))
    assert rules(min_id_length=3).to_event(email_event(1, ext_id="abc"))[1]["user_id"] == "abc"


def test_no_identity_at_all() -> None:
    with pytest.raises(Rejected, match="no user id at ext_id, contact_attributes.AMPLITUDE_USER_ID and no email"):
        rules().to_event(email_event(1, email=None) | {"email": None})


# -- settings ----------------------------------------------------------------------------------


def test_hosts_by_data_center_and_the_loopback_rule() -> None:
    assert parse_settings({"api_key": "k"}).base_url == "https://api2.amplitude.com"
    eu = parse_settings({"api_key": "k", "data_center": "EU", "use_batch": True})
    assert (eu.base_url, eu.path, eu.max_bytes) == ("https://api.eu.amplitude.com", "/batch", 20_000_000)
    assert parse_settings({"api_key": "k"}).path == "/2/httpapi"
    assert check_api_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    with pytest.raises(ValueError, match="https"):
        check_api_url("http://amplitude.example.com")
    with pytest.raises(ValueError, match="max_events_per_request"):
        parse_settings({"api_key": "k", "max_events_per_request": 2000})
    with pytest.raises(ValueError, match="max_request_bytes"):
        parse_settings({"api_key": "k", "max_request_bytes": 1_048_576})


# -- splitting ---------------------------------------------------------------------------------


def item(n: int, user: str = "user-00001", size: int = 0) -> Item:
    event = {"user_id": user, "event_type": "E", "insert_id": f"i-{n}", "event_properties": {"pad": "x" * size}}
    return Item(event, orjson.dumps(event), "s", n, {"n": n})


def test_requests_respect_the_event_count_and_the_byte_limit() -> None:
    queue = deque(item(n) for n in range(25))
    assert [len(take_request(queue, 10, 10**6, 30)) for _ in range(3)] == [10, 10, 5]
    big = deque(item(n, size=300) for n in range(10))
    one = len(big[0].encoded)
    taken = take_request(big, 100, 30 + 3 * one + 2 + 1, 30)  # room for 3 events and their commas, strictly under
    assert len(taken) == 3 and len(big) == 7
    huge = deque([item(0, size=5000), item(1)])
    assert len(take_request(huge, 100, 1000, 30)) == 1  # alone: Amplitude's 413 decides


def test_invalid_indexes_of_a_400() -> None:
    body = {
        "code": 400,
        "error": "Invalid field values on some events",
        "events_with_invalid_fields": {"time": [3], "user_id": [1]},
        "events_with_missing_fields": {"event_type": [3]},
        "events_with_invalid_id_lengths": {"user_id": [4]},
        "silenced_events": [5],
    }
    assert invalid_indexes(body) == {
        1: "invalid field user_id",
        3: "invalid field time, missing field event_type",
        4: "user_id shorter than min_id_length",
        5: "silenced device",
    }


# -- answers -----------------------------------------------------------------------------------


class ScriptedClient:
    """Answers from a script (then 200), recording the insert_ids of each request."""

    path = "/2/httpapi"
    envelope_bytes = 40

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers
        self.sent: list[list[str]] = []

    def send(self, encoded: list[bytes]) -> Answer:
        self.sent.append([orjson.loads(e)["insert_id"] for e in encoded])
        return self.answers.pop(0) if self.answers else Answer(200, {"code": 200})

    def redact(self, text: str) -> str:
        return text


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def deliver(tmp_path: Path):
    made: list[Any] = []

    def make(answers: list[Answer], items: list[Item], **options: Any) -> tuple[EventDelivery, ScriptedClient]:
        client = ScriptedClient(answers)
        clock = FakeClock()
        ledger = Ledger(tmp_path / "ledger.sqlite3")
        report = RunReport(RejectsFile(str(tmp_path / "rejects.jsonl"), redact=lambda t: t))
        settings = {"max_events": 10, "max_bytes": 10**6, "throttle_wait_seconds": 30.0, "max_throttle_rounds": 3}
        delivery = EventDelivery(
            client, ledger, report, monotonic=clock.monotonic, sleep=clock.sleep, **{**settings, **options}
        )  # type: ignore[arg-type]
        delivery.clock = clock  # type: ignore[attr-defined]
        for one in items:
            delivery.put(one)
        made.append(ledger)
        return delivery, client

    yield make
    for ledger in made:
        ledger.close()


def test_413_halves_the_request_and_later_ones(deliver) -> None:
    delivery, client = deliver([Answer(413, {"code": 413, "error": "Payload too large"})], [item(n) for n in range(10)])
    delivery.flush()
    assert [len(r) for r in client.sent] == [10, 5, 5]
    assert delivery.report.counts["sent"] == 10 and delivery.report.counts["shrunk_on_413"] == 1


def test_413_on_one_event_rejects_it(deliver) -> None:
    delivery, client = deliver([Answer(413, {"code": 413, "error": "Payload too large"})], [item(0)])
    delivery.flush()
    assert client.sent == [["i-0"]] and delivery.report.reject_reasons == Counter(
        {"payload too large (413) even alone": 1}
    )


def test_400_rejects_the_named_events_and_resends_the_others(deliver) -> None:
    body = {"code": 400, "error": "Invalid field values on some events", "events_with_invalid_fields": {"time": [1, 3]}}
    delivery, client = deliver([Answer(400, body)], [item(n) for n in range(5)])
    delivery.flush()
    assert client.sent == [["i-0", "i-1", "i-2", "i-3", "i-4"], ["i-0", "i-2", "i-4"]]
    assert delivery.report.counts["rejected"] == 2 and delivery.report.counts["sent"] == 3
    assert delivery.ledger.delivered(f"i-{n}" for n in range(5)) == {"i-0", "i-2", "i-4"}


def test_400_naming_no_event_stops_the_run(deliver) -> None:
    delivery, _client = deliver([Answer(400, {"code": 400, "error": "Invalid event JSON"})], [item(0)])
    with pytest.raises(AmplitudeError, match="Invalid event JSON"):
        delivery.flush()
    assert delivery.ledger.delivered(["i-0"]) == set()


def test_429_holds_the_throttled_events_30_seconds_and_sends_the_rest_at_once(deliver) -> None:
    body = {"code": 429, "error": "Too many requests for some devices and users", "eps_threshold": 30,
            "throttled_users": {"user-00001": 31}, "throttled_devices": {}, "throttled_events": [0, 2]}  # fmt: skip
    delivery, client = deliver([Answer(429, body)], [item(n) for n in range(4)])
    delivery.flush()
    assert client.sent == [["i-0", "i-1", "i-2", "i-3"], ["i-1", "i-3"], ["i-0", "i-2"]]
    assert delivery.clock.slept == [30.0]
    assert delivery.report.counts["throttled"] == 2 and delivery.report.counts["sent"] == 4


def test_a_request_throttled_whole_is_sent_again_in_halves(deliver) -> None:
    """One user with more events in a request than its limit allows: the same request would be throttled forever."""
    whole = {"code": 429, "error": "Too many requests for some devices and users", "eps_threshold": 30,
             "throttled_users": {"user-00001": 40}, "throttled_events": [0, 1, 2, 3]}  # fmt: skip
    delivery, client = deliver([Answer(429, whole)], [item(n) for n in range(4)])
    delivery.flush()
    assert client.sent == [["i-0", "i-1", "i-2", "i-3"], ["i-0", "i-1"], ["i-2", "i-3"]]
    assert delivery.max_events == 2 and delivery.report.counts["sent"] == 4


def test_429_drops_users_over_the_daily_quota_to_the_rejects(deliver) -> None:
    body = {"code": 429, "error": "Too many requests for some devices and users", "eps_threshold": 1000,
            "throttled_users": {}, "throttled_devices": {}, "throttled_events": [0, 1],
            "exceeded_daily_quota_users": {"spammer-01": 500200}, "exceeded_daily_quota_devices": {}}  # fmt: skip
    delivery, client = deliver([Answer(429, body)], [item(0, "spammer-01"), item(1, "user-00001"), item(2)])
    delivery.flush()
    assert client.sent == [["i-0", "i-1", "i-2"], ["i-2"], ["i-1"]]
    assert delivery.report.counts["rejected"] == 1 and delivery.report.counts["sent"] == 2
    assert "daily quota" in next(iter(delivery.report.reject_reasons))


def test_events_throttled_too_often_stop_the_run_without_ledger_entries(deliver) -> None:
    body = {"code": 429, "error": "Too many requests", "throttled_events": [0]}
    delivery, _client = deliver([Answer(429, body)] * 5, [item(0)], max_throttle_rounds=2)
    with pytest.raises(AmplitudeError, match="still throttled"):
        delivery.flush()
    assert delivery.ledger.delivered(["i-0"]) == set()


def test_the_ledger_and_repeats_within_a_batch_skip_events(deliver) -> None:
    delivery, client = deliver([], [item(0), item(1), item(1)])
    delivery.ledger.record(["i-0"])
    delivery.flush()
    assert client.sent == [["i-1"]] and delivery.report.counts["duplicates_skipped"] == 2


def test_a_delivery_under_way_is_visible_so_no_state_is_emitted_meanwhile(deliver) -> None:
    delivery, client = deliver([], [item(0)])
    seen: list[bool] = []
    send = client.send
    client.send = lambda encoded: (seen.append(delivery.flushing), send(encoded))[1]  # type: ignore[method-assign]
    delivery.flush()
    assert seen == [True] and delivery.flushing is False


def test_a_flush_re_entered_during_a_delivery_does_nothing(deliver) -> None:
    """A signal handler's drain inside a delivery must neither resend nor clear `flushing` (a STATE would follow)."""
    delivery, client = deliver([], [item(n) for n in range(3)])
    seen: list[bool] = []
    send = client.send

    def send_and_be_interrupted(encoded: list[bytes]) -> Answer:
        delivery.put(item(9))  # read before the signal, held for the next flush
        delivery.flush()  # what the SDK's SIGTERM handler does, in the middle of this request
        seen.append(delivery.flushing)
        return send(encoded)

    client.send = send_and_be_interrupted  # type: ignore[method-assign]
    delivery.flush()
    assert seen == [True], "the interrupted delivery is still under way"
    assert client.sent == [["i-0", "i-1", "i-2"]] and delivery.pending == 1 and not delivery.flushing
