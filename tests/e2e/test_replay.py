"""The README's replay procedure: after fixing an `event_mapping` typo, run the time range again under its own
state id; the events the typo skipped arrive, nothing already delivered is sent twice, and the schedule's
bookmark is left alone."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from e2e.support import SEED_START, Pipeline

USERS, EVENTS = 60, 700
MAPPING_WITH_TYPO = {"Purchse": "order_completed", "Sign Up": "customer_created"}
MAPPING_FIXED = {"Purchase": "order_completed", "Sign Up": "customer_created"}
STATE_ID = "dev:tap-amplitude-to-target-brevo"


def event_names(p: Pipeline) -> Counter:
    return Counter(e["event_name"] for e in p.all_pages("events", "events"))


def bookmark(p: Pipeline, state_id: str) -> str:
    return p.run("--environment=dev", "state", "get", state_id).stdout


def test_a_replay_after_a_mapping_fix_delivers_what_was_skipped_and_nothing_twice(pipeline: Pipeline) -> None:
    pipeline.seed_app(users=USERS, events=EVENTS, days=1.0, start=SEED_START.isoformat())
    env = {
        "MELTANO_ENVIRONMENT": "dev",  # the user's own mappings only (the base config has none)
        "TARGET_BREVO_SEND_OLD_EVENTS": "true",  # the seeded day is older than the live window
    }
    pipeline.run(
        "run", "tap-amplitude", "target-brevo", TARGET_BREVO_EVENT_MAPPING=json.dumps(MAPPING_WITH_TYPO), **env
    )
    first = event_names(pipeline)
    assert first["customer_created"] == USERS and first["order_completed"] == 0
    skipped = json.loads((pipeline.workdir / "summary.json").read_text())["event_types"]["Purchase"]
    assert skipped["skipped_unmapped"] == skipped["seen"] > 0
    scheduled = bookmark(pipeline, STATE_ID)

    end = SEED_START + timedelta(days=2)
    pipeline.run(
        "run", "--state-id-suffix=replay-1", "tap-amplitude", "target-brevo",
        TARGET_BREVO_EVENT_MAPPING=json.dumps(MAPPING_FIXED), TAP_AMPLITUDE_START_DATE=SEED_START.isoformat(),
        TAP_AMPLITUDE_END_DATE=end.isoformat(), **env,
    )  # fmt: skip
    after = event_names(pipeline)
    summary = json.loads((pipeline.workdir / "summary.json").read_text())
    assert after["order_completed"] == summary["event_types"]["Purchase"]["sent"] == skipped["seen"]
    assert after["customer_created"] == USERS, "the ledger kept the delivered sign-ups out of the replay"
    assert summary["event_types"]["Sign Up"].get("sent", 0) == 0
    assert bookmark(pipeline, STATE_ID) == scheduled, "the schedule's bookmark is untouched"
    states = pipeline.run("--environment=dev", "state", "list").stdout.split()
    assert f"{STATE_ID}:replay-1" in states, "the replay has a bookmark of its own (it can resume)"
