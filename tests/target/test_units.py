"""Pure parts of target-brevo: mapping, coercion, batching, settings, ledger, rejects, client checks."""

from __future__ import annotations

import datetime as dt
import os
import stat
import time
from decimal import Decimal

import orjson
import pytest
from singer_sdk.exceptions import ConfigValidationError
from target_brevo.brevo.api import BrevoApi, _failed_indexes
from target_brevo.brevo.errors import BrevoError, duplicate_identifiers
from target_brevo.brevo.http import check_api_url, rate_bucket
from target_brevo.delivery.batch import KeyedBatch, send_splitting
from target_brevo.delivery.ledger import Ledger
from target_brevo.mapping.contacts import identifies, row_values, without_values
from target_brevo.mapping.jsonsafe import json_safe
from target_brevo.mapping.values import (
    InvalidValue,
    attribute_type_from_schema,
    coerce_attribute,
    get_path,
    normalise_email,
    normalise_name,
    normalise_phone,
    normalise_properties,
    to_datetime_iso,
)
from target_brevo.report import RejectsFile, RunReport
from target_brevo.settings import parse_settings


def test_json_safe_converts_sdk_types():
    value = {
        "a": Decimal(2),
        "b": Decimal("2.5"),
        "c": dt.datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=dt.UTC),
        "d": dt.date(2026, 1, 2),
        "e": [Decimal("1.0")],
        "f": None,
        "g": True,
    }
    assert json_safe(value) == {
        "a": 2,
        "b": 2.5,
        "c": "2026-01-02T03:04:05.123Z",
        "d": "2026-01-02",
        "e": [1],
        "f": None,
        "g": True,
    }
    orjson.dumps(json_safe(value))


def test_get_path_prefers_exact_key_then_dotted_path():
    record = {"a.b": 1, "a": {"b": 2, "c": {"d": 3}}}
    assert get_path(record, "a.b") == 1
    assert get_path(record, "a.c.d") == 3
    assert get_path(record, "a.x") is None


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": ["number", "null"]}, "float"),
        ({"type": "integer"}, "float"),
        ({"type": ["boolean", "null"]}, "boolean"),
        ({"type": "string", "format": "date-time"}, "date"),
        ({"type": ["string", "null"], "format": "date"}, "date"),
        ({"type": "string"}, "text"),
        ({}, "text"),
        ({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}, "date"),
    ],
)
def test_attribute_type_from_schema(schema, expected):
    assert attribute_type_from_schema(schema) == expected


def test_coercion_by_attribute_type():
    assert coerce_attribute("SIGNUP", dt.datetime(2026, 3, 4, 23, 0, tzinfo=dt.UTC), "date", None) == "2026-03-04"
    assert coerce_attribute("SIGNUP", "2026-03-04T10:00:00+02:00", "date", None) == "2026-03-04"
    assert coerce_attribute("SIGNUP", 1767225600000, "date", None) == "2026-01-01"  # epoch ms
    assert coerce_attribute("LTV", Decimal("12.50"), "float", None) == 12.5
    assert coerce_attribute("LTV", "7", "float", None) == 7
    assert coerce_attribute("VIP", "yes", "boolean", None) is True
    assert coerce_attribute("VIP", 0, "boolean", None) is False
    assert coerce_attribute("PLAN", 3, "text", None) == "3"
    assert coerce_attribute("TAGS", ["a", 1], "multiple-choice", None) == ["a", "1"]
    assert coerce_attribute("EXT_ID", Decimal(42), "text", None) == "42"
    with pytest.raises(InvalidValue):
        coerce_attribute("LTV", "lots", "float", None)
    with pytest.raises(InvalidValue):
        coerce_attribute("VIP", "maybe", "boolean", None)
    with pytest.raises(InvalidValue):
        coerce_attribute("SIGNUP", "not a date", "date", None)


def test_phones_become_e164():
    assert normalise_phone("06 12 34 56 78", "FR") == "+33612345678"
    assert normalise_phone("+1 (415) 555-2671", None) == "+14155552671"
    assert normalise_phone("0033612345678", None) == "+33612345678"
    assert normalise_phone("33612345678", None) == "+33612345678"  # Brevo's own form: country code, no plus
    assert coerce_attribute("SMS", "06 12 34 56 78", "text", "FR") == "+33612345678"
    with pytest.raises(InvalidValue):
        normalise_phone("12", "FR")
    with pytest.raises(InvalidValue):
        normalise_phone("0612345678", None)  # national form without a region


def test_emails_validated_without_dns():
    assert normalise_email(" Ann.Lee@Example.COM ") == "ann.lee@example.com"
    for bad in ("bad@@x", "no-at-sign", "", None, "a@b"):
        with pytest.raises(InvalidValue):
            normalise_email(bad)


def test_names_and_property_keys_normalised():
    assert normalise_name("Add to Cart") == "Add_to_Cart"
    assert normalise_name("  $revenue!! ") == "revenue"
    assert normalise_name("x" * 300) == "x" * 255
    assert normalise_properties(
        {"item name": 1, "$price": Decimal("9.99"), "nested": {"a b": [dt.date(2026, 1, 1)]}}
    ) == {"item_name": 1, "price": 9.99, "nested": {"a_b": ["2026-01-01"]}}
    assert to_datetime_iso("2026-01-02T03:04:05Z") == "2026-01-02T03:04:05.000Z"
    assert to_datetime_iso(dt.datetime(2026, 1, 2, 3, 4, 5), millis=False) == "2026-01-02T03:04:05Z"


def test_send_splitting_isolates_refused_items():
    sent: list[list[int]] = []
    refused: list[tuple[int, str]] = []

    def send(items: list[int]) -> int:
        if 3 in items or 6 in items:
            raise BrevoError("POST /x: 400 bad", status=400, code="invalid_parameter", reason="bad")
        sent.append(items)
        return len(items)

    accepted = send_splitting(list(range(8)), send, lambda item, why: refused.append((item, why)), what="thing")
    assert accepted == 6 and sorted(i for part in sent for i in part) == [0, 1, 2, 4, 5, 7]
    assert refused == [
        (3, "Brevo refused the thing (400 invalid_parameter): bad"),
        (6, "Brevo refused the thing (400 invalid_parameter): bad"),
    ]


def test_send_splitting_refuses_named_items_and_resends_the_rest():
    calls: list[list[str]] = []

    def send(items: list[str]) -> int:
        calls.append(items)
        if "b" in items:
            raise BrevoError("400", status=400, item_errors={1: "invalid identifiers"})
        return len(items)

    refused: list[tuple[str, str]] = []
    assert send_splitting(["a", "b", "c"], send, lambda item, why: refused.append((item, why)), what="event") == 2
    assert calls == [["a", "b", "c"], ["a", "c"]]
    assert refused == [("b", "Brevo rejected the event: invalid identifiers")]


def test_send_splitting_does_not_split_on_auth_or_server_errors():
    def send(items: list[int]) -> int:
        raise BrevoError("401", status=401)

    with pytest.raises(BrevoError):
        send_splitting([1, 2], send, lambda item, why: None, what="x")


def base_config(**extra):
    return {"api_key": "xkeysib-unit", "api_url": "http://127.0.0.1:9/v3", **extra}


def test_settings_defaults_route_tap_amplitude_streams():
    settings = parse_settings(base_config(stream_types={"customers": "contacts", "events": "skip"}))
    assert settings.stream_types == {
        "users": "contacts",
        "events": "skip",
        "revenue": "orders",
        "cohort_members": "list_members",
        "cohort_membership_changes": "list_changes",
        "cohorts": "lists",
        "deletions": "deletions",
        "groups": "companies",
        "customers": "contacts",
    }
    assert settings.identity.ext_id_fields == ("user_id",)
    assert settings.identity.email_fields[0] == "email"


def test_settings_email_identity_follows_property_mapping():
    settings = parse_settings(base_config(property_mapping={"props.mail": "email", "first_name": "FIRSTNAME"}))
    assert settings.identity.email_fields[0] == "props.mail"
    assert settings.contacts.attributes == {"first_name": "FIRSTNAME"}  # identity targets are not attributes


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"event_mapping": {"Purchase": "order completed!"}}, "not a valid Brevo event name"),
        ({"stream_types": {"x": "warehouse"}}, "stream_types.x"),
        ({"lists": {"power": {"sync_mode": "sync"}}}, "lists.power"),
        ({"cohort_sync_mode": "merge"}, "cohort_sync_mode"),
        ({"api_url": "http://api.example.com/v3"}, "https"),
        ({"default_region": "ZZ"}, "default_region"),
        ({"events_batch_max_events": 500}, "events_batch_max_events"),
        ({"attribute_types": {"LTV": "money"}}, "attribute_types.LTV"),
        ({"mirror_max_removal_fraction": 2}, "mirror_max_removal_fraction"),
        ({"contact_calls_max": -1}, "contact_calls_max must be 0 or more"),
        ({"order_calls_max": -1}, "order_calls_max must be 0 or more"),
    ],
)
def test_settings_errors_are_config_errors(extra, message):
    with pytest.raises(ConfigValidationError) as caught:
        parse_settings(base_config(**extra))
    assert any(message in error for error in caught.value.errors)


def test_lists_setting_forms():
    settings = parse_settings(
        base_config(
            lists={"active_users": 10, "power": {"list_id": 11, "sync_mode": "append"}, "churn": "Churning users"},
            cohort_sync_mode="mirror",
            mirror_max_removal_fraction=0.1,
        )
    )
    assert settings.lists["active_users"].list_id == 10
    assert settings.lists["active_users"].sync_mode == "mirror"
    assert settings.lists["active_users"].removal_cap.max_fraction == 0.1
    assert settings.lists["power"].sync_mode == "append"
    assert settings.lists["churn"].list_name == "Churning users"


def test_api_url_rules():
    assert check_api_url("http://127.0.0.1:8000/v3/") == "http://127.0.0.1:8000/v3"
    assert check_api_url("http://localhost/v3") == "http://localhost/v3"
    assert check_api_url("https://api.brevo.com/v3") == "https://api.brevo.com/v3"
    with pytest.raises(ValueError, match="https"):
        check_api_url("http://10.0.0.1/v3")
    assert rate_bucket("/contacts/import", "POST") == "contacts"
    assert rate_bucket("/events/batch", "POST") == "events"
    assert rate_bucket("/orders/status/batch", "POST") == "other"
    assert rate_bucket("/processes/{processId}", "GET") == "other"
    assert rate_bucket("/contacts", "POST") == "contacts"
    assert rate_bucket("/orders/status", "POST") == "orders"


def test_an_import_row_becomes_a_create_contact_body():
    row = {"email": "a@x.io", "attributes": {"EXT_ID": "u1", "PLAN": "pro", "SMS": "+33612345678"}}
    assert BrevoApi.contact_body(row, [7]) == {
        "email": "a@x.io",
        "ext_id": "u1",
        "attributes": {"PLAN": "pro", "SMS": "+33612345678"},
        "listIds": [7],
    }
    assert BrevoApi.contact_body({"attributes": {"EXT_ID": "u2"}}, [7]) == {"ext_id": "u2", "listIds": [7]}


def test_values_brevo_refuses_are_left_out_while_an_identifier_remains():
    row = {"email": "a@x.io", "attributes": {"EXT_ID": "u1", "SMS": "+33612345678", "PLAN": "pro"}}
    assert row_values(row) == {"EMAIL", "EXT_ID", "SMS", "PLAN"}
    rest = without_values(row, ["EXT_ID", "SMS"])
    assert rest == {"email": "a@x.io", "attributes": {"PLAN": "pro"}} and identifies(rest)
    assert not identifies(without_values(rest, ["EMAIL"]))
    assert row["attributes"]["EXT_ID"] == "u1"  # the row itself is left as it was


def test_duplicate_identifiers_of_a_contact_error():
    body = {"code": "duplicate_parameter", "message": "...", "metadata": {"duplicate_identifiers": ["ext_id", "SMS"]}}
    assert duplicate_identifiers(body) == ("EXT_ID", "SMS")
    assert duplicate_identifiers({"code": "invalid_parameter", "message": "Invalid phone number"}) == ()
    assert duplicate_identifiers("not json") == ()


def test_ledger_records_deliveries_across_reopen(tmp_path):
    path = tmp_path / "sub" / "ledger.sqlite3"
    ledger = Ledger(path)
    ledger.mark_inflight("event", ["a", "b", "c"])
    ledger.mark_delivered("event", ["a", "b"])
    ledger.forget("event", ["c"])
    ledger.close()
    ledger = Ledger(path)
    assert [k for k in "abcd" if ledger.is_delivered("event", k)] == ["a", "b"]
    ledger.forget("event", ["a"])  # never forgets a delivered key
    assert ledger.is_delivered("event", "a")
    assert not ledger.is_delivered("order", "a")
    ledger.close()


def test_rejects_file_is_private_jsonl_without_secret(tmp_path):
    path = tmp_path / "rejects.jsonl"
    report = RunReport(
        RejectsFile(path, redact=lambda text: text.replace("xkeysib-secret", "***"), keep_runs=5), dry_run=False
    )
    report.reject("events", "events", "e1", "bad thing", {"note": "xkeysib-secret", "when": dt.date(2026, 1, 1)})
    report.reject("contacts", "users", 7, "invalid email: x", None)
    report.rejects.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    lines = [orjson.loads(line) for line in path.read_text().splitlines()]
    assert lines[0].pop("run_id") == report.rejects.run_id and lines[0].pop("rejected_at")
    assert lines[0] == {
        "stream": "events",
        "object": "events",
        "key": "e1",
        "reason": "bad thing",
        "record": {"note": "***", "when": "2026-01-01"},
    }
    assert "xkeysib-secret" not in path.read_text()
    summary = report.summary()
    assert summary["rejects"]["total"] == 2
    assert summary["objects"]["contacts"]["rejected"] == 1


def test_failed_indexes_from_207_body():
    body = {
        "status": "partial_success",
        "total_events": 4,
        "successful_events": 2,
        "failed_events": 2,
        "errors": [{"eventIndex": [0, 3], "message": "invalid identifiers"}],
    }
    assert _failed_indexes(body) == {0: "invalid identifiers", 3: "invalid identifiers"}
    assert _failed_indexes({"code": "out_of_range", "message": "x"}) == {}
    assert _failed_indexes(None) == {}


def test_keyed_batch_bounds_rows_and_bytes_and_replaces_by_key():
    batch: KeyedBatch[str] = KeyedBatch(max_rows=3, max_bytes=100, envelope_bytes=10)  # 12 bytes when empty
    assert batch.never_fits(89)
    assert batch.has_room("a", 40)
    batch.put("a", "first", 40)
    batch.put("a", "second", 30)  # the last version wins and its size replaces the old one
    assert len(batch) == 1 and batch.bytes == 42 and batch.items["a"] == "second"
    batch.put("b", "b", 50)
    assert not batch.has_room("c", 20)  # 92 + 20 > 100
    assert batch.has_room("b", 58)  # replacing b: 42 + 58 <= 100
    batch.put("c", "c", 5)
    batch.put("d", "d", 1) if batch.has_room("d", 1) else None
    assert batch.full and len(batch) == 3  # three rows: full, d did not fit
    assert batch.take() == ["second", "b", "c"]
    assert len(batch) == 0 and batch.bytes == 12 and not batch.full


def test_encoded_rows_are_exact_size():
    import sys
    import tracemalloc

    from target_brevo.mapping.jsonsafe import encoded

    tracemalloc.start()
    try:
        kept = [encoded({"email": f"u{i}@example.com", "attributes": {"EXT_ID": str(i)}}) for i in range(1000)]
        used, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert orjson.loads(kept[5]) == {"email": "u5@example.com", "attributes": {"EXT_ID": "5"}}
    assert used < 1000 * (sys.getsizeof(kept[0]) + 200)  # not orjson's 4 KB buffer per row


def test_rate_window_end_is_the_earliest_bound_seen():
    from target_brevo.brevo.http import BrevoHttp, RetryPolicy

    slept: list[float] = []
    policy = RetryPolicy(max_retries=0, backoff_base=0.1, backoff_max=1.0, timeout=1.0)
    client = BrevoHttp("xkeysib-unit", "http://127.0.0.1:9/v3", policy, sleep=slept.append)
    headers = {"x-sib-ratelimit-remaining": "1", "x-sib-ratelimit-reset": "1"}
    client._observe("events", headers)  # first call of the window: it ends within 1 s from now
    first_bound = client._windows["events"].reset_at
    client._observe("events", {**headers, "x-sib-ratelimit-remaining": "0"})  # later call, same window
    assert client._windows["events"].reset_at == first_bound  # the later, looser bound does not win
    client._pace("events")
    assert len(slept) == 1 and 0 < slept[0] <= 1.0
    client._observe("events", {**headers, "x-sib-ratelimit-remaining": "9"})  # a new window: remaining went up
    assert client._windows["events"].reset_at > first_bound
    client.close()


def test_a_window_with_one_call_does_not_shorten_the_next():
    from target_brevo.brevo.http import BrevoHttp, RetryPolicy

    policy = RetryPolicy(max_retries=0, backoff_base=0.1, backoff_max=1.0, timeout=1.0)
    client = BrevoHttp("xkeysib-unit", "http://127.0.0.1:9/v3", policy, sleep=lambda s: None)
    headers = {"x-sib-ratelimit-remaining": "9", "x-sib-ratelimit-reset": "1"}
    client._observe("events", headers)  # the only call of a window that was about to end
    first_bound = client._windows["events"].reset_at
    time.sleep(0.01)
    client._observe("events", headers)  # same count: the first call of the next window
    assert client._windows["events"].reset_at > first_bound
    client.close()


def test_report_counts_attribute_rejects_apart_from_rejected_records(tmp_path):
    path = tmp_path / "rejects.jsonl"
    report = RunReport(RejectsFile(path, keep_runs=5), dry_run=False)
    report.reject(
        "contacts",
        "users",
        7,
        "invalid phone number for SMS: '12' is not a valid E.164 number; contact sent without SMS",
        {"phone": "12"},
        outcome="attribute_rejected:SMS",
        attribute="SMS",
    )
    report.reject("contacts", "users", 8, "invalid email: bad")
    summary = report.summary()
    assert summary["objects"]["contacts"] == {"attribute_rejected:SMS": 1, "rejected": 1}
    assert summary["rejects"]["total"] == 2
    assert summary["rejects"]["by_reason"] == {"invalid phone number for SMS": 1, "invalid email": 1}
    report.rejects.close()
    lines = [orjson.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["outcome"] == "attribute_rejected:SMS" and lines[0]["attribute"] == "SMS"
    assert "outcome" not in lines[1]


def test_import_wait_is_learned_from_completed_imports():
    from target_brevo.brevo.api import ImportProcess
    from target_brevo.delivery.imports import ContactImports
    from target_brevo.settings import ImportWaits

    waits = ImportWaits(initial_seconds=1.0, max_seconds=30.0, timeout_seconds=60.0)
    queue = ContactImports(None, None, max_rows=10, max_bytes=1000, waits=waits)  # type: ignore[arg-type]
    assert queue.expected_seconds(5_000) == 1.0
    assert queue.expected_seconds(30_000) == 3.0  # before anything is learned: 1 s per 10,000 rows

    def process(created: str, completed: str) -> ImportProcess:
        return ImportProcess.parse({"id": 1, "created_at": created, "completed_at": completed})

    queue._learn(1_000, process("2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.500Z"))
    # Brevo works in turn: the second import started when the first one finished
    queue._learn(21_000, process("2026-01-01T00:00:00.100Z", "2026-01-01T00:00:02.500Z"))
    assert queue._base_seconds == 0.5
    assert queue.expected_seconds(42_000) == pytest.approx(0.5 + 42_000 * (1.5 / 21_000))


def test_rejects_file_per_run_with_the_latest_linked(tmp_path):
    """Each run writes its own file (run id and time on every line); the configured path links to the latest,
    created empty at the start, so a clean run reads clean; only the newest `keep_runs` files stay."""
    link = tmp_path / "out" / "rejects.jsonl"
    first = RejectsFile(link, run_id="20261130T090000Z-aaaaaa", keep_runs=2)
    first.write({"stream": "users", "key": 1, "reason": "invalid email: x"})
    first.close()
    [line] = [orjson.loads(text) for text in link.read_text().splitlines()]
    assert line["run_id"] == "20261130T090000Z-aaaaaa" and line["rejected_at"].endswith("Z")
    assert line["reason"] == "invalid email: x"
    clean = RejectsFile(link, run_id="20261130T100000Z-bbbbbb", keep_runs=2)
    assert link.is_symlink() and link.read_text() == ""
    assert clean.path == tmp_path / "out" / "rejects" / "20261130T100000Z-bbbbbb.jsonl"
    assert stat.S_IMODE(os.stat(link).st_mode) == 0o600
    clean.close()
    RejectsFile(link, run_id="20261130T110000Z-cccccc", keep_runs=2).close()
    assert sorted(p.name for p in (tmp_path / "out" / "rejects").iterdir()) == [
        "20261130T100000Z-bbbbbb.jsonl",
        "20261130T110000Z-cccccc.jsonl",
    ]
