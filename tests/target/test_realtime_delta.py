"""Delta mode against the Brevo sandbox: cohort entries and exits (a `cohort_membership_changes` stream,
as Amplitude's Cohort Webhooks send them) become list adds and removes, once each and in order."""

from __future__ import annotations

from typing import Any

from .support import MEMBERS_SCHEMA, USERS_SCHEMA, members, record, run_target, schema, user

CHANGES_SCHEMA = schema(
    "cohort_membership_changes",
    {
        "cohort_id": {"type": "string"},
        "cohort_name": {"type": ["string", "null"]},
        "in_cohort": {"type": "boolean"},
        "message_id": {"type": "string"},
        "computed_time": {"type": "string", "format": "date-time"},
        "user_id": {"type": ["string", "null"]},
        "email": {"type": ["string", "null"]},
        "user_properties": {"type": ["object", "null"], "additionalProperties": True},
    },
    ["message_id", "user_id"],
)
COHORT = "c42"


def change(n: int, entered: bool, message: str, minute: int, *, email: bool = True) -> dict[str, Any]:
    return record(
        "cohort_membership_changes",
        {
            "cohort_id": COHORT,
            "cohort_name": "Power users",
            "in_cohort": entered,
            "message_id": message,
            "computed_time": f"2026-01-02T10:{minute:02d}:00Z",
            "user_id": f"u{n}",
            "email": f"user{n}@example.com" if email else None,
            "user_properties": {"plan": "pro"},
        },
    )


def batch(users: list[int], entered: bool, message: str, minute: int) -> list[dict[str, Any]]:
    return [change(n, entered, message, minute) for n in users]


def list_members(brevo, list_id: int) -> list[str]:
    found = brevo.admin("GET", f"brevo/lists/{list_id}/members")["members"]
    return sorted(m.get("email") or m.get("ext_id") for m in found)


def list_named(brevo, name: str) -> int:
    return next(item["id"] for item in brevo.admin("GET", "brevo/lists")["lists"] if item["name"] == name)


def emails(*numbers: int) -> list[str]:
    return sorted(f"user{n}@example.com" for n in numbers)


def calls(result, endpoint: str) -> int:
    return result.summary["api_calls"].get(endpoint, 0)


ADD = "POST /contacts/lists/{listId}/contacts/add"
REMOVE = "POST /contacts/lists/{listId}/contacts/remove"
IMPORT = "POST /contacts/import"


def test_entries_add_and_exits_remove(brevo, config):
    # the first sync: the whole population enters (contacts Brevo does not know are created in the list, one
    # POST /contacts each when few)
    result = run_target(config(), [CHANGES_SCHEMA, *batch([1, 2, 3], True, "m1::enter::0", 0)])
    power = list_named(brevo, "Power users")
    assert list_members(brevo, power) == emails(1, 2, 3)
    assert result.summary["objects"]["list_changes"] == {"received": 3, "adds": 3, "brevo_created": 3}
    assert result.summary["lists"][str(power)]["mode"] == "delta"

    result = run_target(
        config(), [CHANGES_SCHEMA, *batch([2], False, "m2::exit::0", 5), *batch([4], True, "m2::enter::0", 5)]
    )
    assert list_members(brevo, power) == emails(1, 3, 4)
    assert result.summary["objects"]["list_changes"] == {"received": 2, "adds": 1, "removes": 1, "brevo_created": 1}
    assert calls(result, REMOVE) == 1
    assert calls(result, "POST /contacts") == 1  # user4 was unknown to Brevo: created in the list
    assert calls(result, IMPORT) == calls(result, "GET /processes") == 0


def test_a_repeated_message_is_skipped(brevo, config):
    first = batch([1, 2], True, "m1::enter::0", 0)
    run_target(config(), [CHANGES_SCHEMA, *first])
    power = list_named(brevo, "Power users")
    # Amplitude retries the message (in the same run too): nothing is sent again
    result = run_target(config(), [CHANGES_SCHEMA, *first, *first])
    counts = result.summary["objects"]["list_changes"]
    assert counts == {"received": 4, "skipped_duplicate_message": 4}
    assert calls(result, ADD) == calls(result, IMPORT) == 0
    assert list_members(brevo, power) == emails(1, 2)


def test_a_late_change_does_not_undo_a_later_one(brevo, config):
    run_target(config(), [CHANGES_SCHEMA, *batch([1, 2], True, "m1::enter::0", 0)])
    power = list_named(brevo, "Power users")
    run_target(config(), [CHANGES_SCHEMA, *batch([1], False, "m2::exit::0", 10)])
    assert list_members(brevo, power) == emails(2)
    # an enter computed before the exit arrives after it (a retry, or another message): the user stays out
    result = run_target(config(), [CHANGES_SCHEMA, change(1, True, "m1::enter::1", 5)])
    assert list_members(brevo, power) == emails(2)
    assert result.summary["objects"]["list_changes"] == {"received": 1, "skipped_late": 1}
    # within one run too, whatever the order: the latest change wins
    result = run_target(
        config(), [CHANGES_SCHEMA, change(2, False, "m4::exit::0", 30), change(2, True, "m3::enter::0", 20)]
    )
    assert list_members(brevo, power) == []
    assert result.summary["objects"]["list_changes"] == {"received": 2, "skipped_late": 1, "removes": 1}
    # and a newer entry brings the user back
    run_target(config(), [CHANGES_SCHEMA, change(1, True, "m5::enter::0", 40)])
    assert list_members(brevo, power) == emails(1)


def test_many_entries_go_through_one_import_with_the_list(brevo, config):
    run_target(config(), [USERS_SCHEMA, *(user(n) for n in range(1, 4))])  # some are known, most are not
    result = run_target(config(list_import_threshold=5), [CHANGES_SCHEMA, *batch(list(range(1, 9)), True, "m1", 0)])
    power = list_named(brevo, "Power users")
    assert list_members(brevo, power) == emails(*range(1, 9))
    assert calls(result, IMPORT) == 1 and calls(result, ADD) == 0
    assert result.summary["lists"][str(power)]["added_by_import"] == 8
    assert result.summary["objects"]["list_changes"]["import_requests"] == 1
    contact = brevo.admin("GET", "brevo/contacts/user7@example.com")
    assert contact["attributes"]["EXT_ID"] == "u7" and power in contact["listIds"]


def test_few_entries_of_known_contacts_go_by_list_calls(brevo, config):
    run_target(config(), [USERS_SCHEMA, user(1), user(2)])
    result = run_target(config(), [CHANGES_SCHEMA, *batch([1, 2], True, "m1", 0)])
    assert calls(result, ADD) == 1 and calls(result, IMPORT) == 0
    assert list_members(brevo, list_named(brevo, "Power users")) == emails(1, 2)


def test_changes_follow_the_configured_list_and_identify_by_ext_id_without_email(brevo, config):
    run_target(config(), [CHANGES_SCHEMA, change(9, True, "m0", 0)])  # creates the list by the cohort's name
    power = list_named(brevo, "Power users")
    cfg = config(create_missing_lists=False, lists={COHORT: {"list_id": power, "sync_mode": "delta"}})
    result = run_target(cfg, [CHANGES_SCHEMA, change(8, True, "m1", 1, email=False)])
    assert list_members(brevo, power) == ["u8", "user9@example.com"]  # u8 is known by its ext_id only
    assert result.summary["objects"]["list_changes"]["adds"] == 1
    result = run_target(cfg, [CHANGES_SCHEMA, change(8, False, "m2", 2, email=False)])
    assert list_members(brevo, power) == ["user9@example.com"]


def test_a_cohort_without_a_list_is_skipped(brevo, config):
    result = run_target(config(create_missing_lists=False), [CHANGES_SCHEMA, change(1, True, "m1", 0)])
    assert result.summary["objects"]["list_changes"] == {"skipped_unmapped_cohort": 1}
    assert brevo.admin("GET", "brevo/stats")["lists"] == 0
    assert "has no Brevo list" in result.logs


def test_a_change_without_direction_or_time_is_rejected(brevo, config, tmp_path):
    no_time = change(1, True, "m1", 0)
    no_time["record"]["computed_time"] = None
    no_direction = change(2, True, "m1", 0)
    del no_direction["record"]["in_cohort"]
    loose = schema("cohort_membership_changes", {}, ["message_id", "user_id"])  # no schema check: the mapping decides
    result = run_target(config(), [loose, no_time, no_direction, change(3, True, "m1", 0)])
    assert result.summary["objects"]["list_changes"]["rejected"] == 2
    assert result.summary["rejects"]["by_reason"] == {
        "no computed time in 'computed_time'": 1,
        "no membership direction in 'in_cohort'": 1,
    }
    assert list_members(brevo, list_named(brevo, "Power users")) == emails(3)


def test_amplitudes_epoch_seconds_are_a_computed_time(brevo, config):
    raw = change(1, True, "m1", 0)
    raw["record"]["computed_time"] = "1767348000"  # 2026-01-02T10:00:00Z, as Cohort Webhooks send it
    loose = schema("cohort_membership_changes", {}, ["message_id", "user_id"])
    run_target(config(), [loose, raw])
    later_exit = change(1, False, "m2", 1)  # 10:01, after the entry
    run_target(config(), [CHANGES_SCHEMA, later_exit])
    assert list_members(brevo, list_named(brevo, "Power users")) == []


def test_snapshots_leave_a_delta_list_alone(brevo, config):
    run_target(config(), [CHANGES_SCHEMA, *batch([1, 2], True, "m1", 0)])
    power = list_named(brevo, "Power users")
    # the hourly export's snapshot is older than the changes: mirroring it would undo them
    cfg = config(lists={COHORT: {"list_id": power, "sync_mode": "delta"}}, mirror_allow_large_removals=True)
    result = run_target(cfg, [MEMBERS_SCHEMA, *members(COHORT, "Power users", [3])])
    assert list_members(brevo, power) == emails(1, 2)
    assert result.summary["objects"]["list_members"]["skipped_delta_list"] == 1


def test_a_dry_run_plans_the_changes_and_records_nothing(brevo, config):
    run_target(config(), [CHANGES_SCHEMA, *batch([1, 2], True, "m1", 0)])
    power = list_named(brevo, "Power users")
    changes = [CHANGES_SCHEMA, *batch([2], False, "m2", 5), *batch([3], True, "m2", 5)]
    result = run_target(config(dry_run=True), changes)
    assert list_members(brevo, power) == emails(1, 2)
    assert result.summary["lists"][str(power)] == {"mode": "delta", "would_add": 1, "would_remove": 1}
    # the real run applies them: the dry run did not record them as applied
    run_target(config(), changes)
    assert list_members(brevo, power) == emails(1, 3)
