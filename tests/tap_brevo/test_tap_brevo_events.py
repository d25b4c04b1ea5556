"""tap-brevo's normalisation: every payload spelling of Brevo's webhooks and the statistics report -> the contract's
`email_events` record; the receiver's classifier (single, batched, refused bodies)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from brevo_support import marketing, transactional
from tap_brevo.events import (
    CANONICAL,
    STATISTICS_NAMES,
    UnknownEvent,
    canonical_webhook_event,
    from_statistics,
    from_webhook,
)
from tap_brevo.payloads import Refused, classifier
from tap_brevo.schemas import EMAIL_EVENTS

RECEIVED = datetime(2024, 3, 2, 10, 0, 6, tzinfo=UTC)


def expected_id(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@pytest.mark.parametrize(
    ("spelled", "canonical"),
    [
        *((name, name) for name in CANONICAL),
        ("hard_bounced", "hard_bounce"),
        ("soft_bounced", "soft_bounce"),
        ("unsubscribe", "unsubscribed"),
        ("invalid", "invalid_email"),
        ("Delivered", "delivered"),
    ],
)
def test_webhook_event_names(spelled: str, canonical: str) -> None:
    assert canonical_webhook_event(spelled) == canonical
    assert from_webhook(transactional(1, spelled), "transactional", RECEIVED)["event"] == canonical


def test_unknown_names_are_refused_by_name() -> None:
    with pytest.raises(UnknownEvent, match="inbound_email"):
        from_webhook(transactional(1, "inbound_email"), "transactional", RECEIVED)
    with pytest.raises(UnknownEvent, match="bounces"):
        from_statistics({"event": "bounces", "date": "2024-03-02T10:00:05Z", "messageId": "<m@x>"}, RECEIVED)


def test_transactional_record() -> None:
    body = transactional(3, "click", link="https://shop.example/p/1", user_agent="Mozilla/5.0", device_used="DESKTOP")
    record = from_webhook(body, "transactional", RECEIVED)
    assert record == {
        "event_id": expected_id(
            "tx|<20240302.3@smtp-relay.mailin.fr>|user3@example.com|click|1709373605|https://shop.example/p/1"
        ),
        "event": "click",
        "channel": "transactional",
        "source": "webhook",
        "email": "user3@example.com",
        "contact_id": None,  # 0 in the payload
        "ext_id": None,
        "contact_attributes": None,
        "campaign_id": None,
        "campaign_name": None,
        "template_id": 7,
        "message_id": "<20240302.3@smtp-relay.mailin.fr>",
        "subject": "Your order",
        "link": "https://shop.example/p/1",
        "reason": None,
        "tags": ["orders"],
        "list_ids": [],
        "sending_ip": "185.41.28.109",
        "user_agent": "Mozilla/5.0",
        "device_used": "DESKTOP",
        "event_time": "2024-03-02T10:00:05.253+00:00",  # ts_epoch (ms), not the Paris `date`
        "received_at": "2024-03-02T10:00:06.000+00:00",
    }
    assert list(record) == list(EMAIL_EVENTS["properties"])


def test_other_transactional_spellings() -> None:
    body = transactional(1, "hard_bounce", reason="550 no such user", contact_id=17)
    del body["message-id"], body["tags"]
    body["messageId"] = "<m-1@relay>"
    record = from_webhook(body, "transactional", RECEIVED)
    assert (record["message_id"], record["contact_id"], record["reason"]) == ("<m-1@relay>", 17, "550 no such user")
    assert record["tags"] == ["orders"]  # a single `tag` when there is no `tags` list
    del body["tag"]
    assert from_webhook(body, "transactional", RECEIVED)["tags"] == []


def test_marketing_record_and_spellings() -> None:
    click = marketing(1, "click", URL="https://shop.example/sale", tag="spring")
    record = from_webhook(click, "marketing", RECEIVED)
    assert record["event_id"] == expected_id("mk|42|reader1@example.com|click|1709373606|https://shop.example/sale")
    assert (record["channel"], record["campaign_id"], record["campaign_name"]) == ("marketing", 42, "Spring sale")
    assert (record["link"], record["tags"], record["message_id"]) == ("https://shop.example/sale", ["spring"], None)
    assert record["event_time"] == "2024-03-02T10:00:06.000+00:00"

    renamed = marketing(2, "unsubscribe", list_id=[3, "4"], sending_ip="1.2.3.4")
    renamed["campaign_name"] = renamed.pop("campaign name")
    record = from_webhook(renamed, "marketing", RECEIVED)
    assert (record["event"], record["campaign_name"], record["list_ids"]) == ("unsubscribed", "Spring sale", [3, 4])
    assert record["tags"] == []  # an empty `tag`
    assert from_webhook(marketing(3, "hard_bounced", list_id=8), "marketing", RECEIVED)["list_ids"] == [8]


def test_contact_events() -> None:
    body = {"id": 5, "email": "New@Example.com", "event": "list_addition", "key": "k1", "list_id": [11],
            "date": "2024-07-01 12:00:00", "ts": 1719828000}  # fmt: skip
    record = from_webhook(body, "marketing", RECEIVED)
    assert record["event_id"] == expected_id("ct|new@example.com|list_addition|1719828000")
    assert (record["channel"], record["event"], record["list_ids"]) == ("marketing", "list_addition", [11])
    updated = {"id": 5, "email": "a@b.io", "event": "contact_updated", "content": [{"FNAME": "A"}], "ts": 1719828001}
    assert from_webhook(updated, "marketing", RECEIVED)["event"] == "contact_updated"


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ({"ts_epoch": 1709373605999, "ts_event": 1, "ts": 2}, "2024-03-02T10:00:05.999+00:00"),
        ({"ts_epoch": "1709373605999"}, "2024-03-02T10:00:05.999+00:00"),
        ({"ts_event": 1709373605, "ts": 2}, "2024-03-02T10:00:05.000+00:00"),
        ({"ts": 1709373605}, "2024-03-02T10:00:05.000+00:00"),
        ({"date": "2024-03-02 11:00:05"}, "2024-03-02T10:00:05.000+00:00"),  # CET: UTC+1 in March
        ({"date": "2024-07-02 12:00:05"}, "2024-07-02T10:00:05.000+00:00"),  # CEST: UTC+2 in July
        ({"date": "2024-07-02T12:00:05+02:00"}, "2024-07-02T10:00:05.000+00:00"),
    ],
)
def test_event_time_is_utc_from_the_epoch_fields_first(times: dict[str, Any], expected: str) -> None:
    body = {"event": "opened", "email": "a@b.io", "message-id": "<m@x>", **times}
    assert from_webhook(body, "transactional", RECEIVED)["event_time"] == expected


def test_the_webhook_and_the_report_give_one_event_id() -> None:
    hook = from_webhook(transactional(1, "opened"), "transactional", RECEIVED)
    for date in ("2024-03-02T10:00:05Z", "2024-03-02T11:00:05.000+01:00", "2024-03-02T10:00:05.251Z"):
        row = {"date": date, "email": "user1@example.com", "event": "opened", "messageId": hook["message_id"],
               "subject": "Your order", "tag": "orders", "templateId": 7, "from": "shop@example.com"}  # fmt: skip
        pulled = from_statistics(row, RECEIVED)
        assert pulled["event_id"] == hook["event_id"]
        assert (pulled["source"], pulled["channel"], pulled["email"], pulled["tags"]) == (
            "statistics", "transactional", "user1@example.com", ["orders"],
        )  # fmt: skip
    webhook_names = {"request": "requests", "click": "clicks", "hard_bounce": "hardBounces",
                     "soft_bounce": "softBounces", "invalid_email": "invalid", "proxy_open": "loadedByProxy"}  # fmt: skip
    for canonical, report_name in webhook_names.items():
        assert STATISTICS_NAMES[report_name] == canonical
        hook = from_webhook(transactional(2, canonical), "transactional", RECEIVED)
        row = {"date": "2024-03-02T10:00:05Z", "event": report_name, "messageId": hook["message_id"],
               "email": "user2@example.com"}  # fmt: skip
        assert from_statistics(row, RECEIVED)["event_id"] == hook["event_id"]
    # one message to several recipients, and a scanner clicking every link: distinct events
    one, other = (
        from_webhook(transactional(1, "delivered", email=e), "transactional", RECEIVED) for e in ("a@x.io", "b@x.io")
    )
    assert one["event_id"] != other["event_id"]
    first, second = (
        from_webhook(transactional(1, "click", link=u), "transactional", RECEIVED) for u in ("https://a", "https://b")
    )
    assert first["event_id"] != second["event_id"]


# -- the receiver's classifier ----------------------------------------------------------------------------------


def test_classifier_single_batched_and_wrapped() -> None:
    classify = classifier("marketing")
    assert classify(marketing(1)) == [("marketing", marketing(1))]
    batch = [marketing(n) for n in range(3)]
    assert classify(batch) == [("marketing", item) for item in batch]
    assert classify({"events": batch}) == [("marketing", item) for item in batch]
    assert classify([transactional(1, "unknown_future_event")])  # kept: skipped (and counted) at emit time
    # a batch's items are all kept (a 400 would lose the others: Brevo does not retry it); bad ones skipped later
    assert classify([marketing(1), 5]) == [("marketing", marketing(1)), ("marketing", 5)]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "an empty array: expected an event object, or an array of them"),
        ("text", "expected an event object, or an array of them"),
        ({"email": "a@b.io", "ts": 1}, "event must be a non-empty string"),
        ({"event": "opened", "email": "a@b.io"}, "no time: expected ts_epoch, ts_event, ts or date"),
    ],
)
def test_classifier_refuses_with_a_reason(body: Any, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        classifier("transactional")(body)
    assert str(refused.value) == reason
