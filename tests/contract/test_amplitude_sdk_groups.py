"""Contract: the group calls of Amplitude's own Python SDK (amplitude-analytics), `set_group` and
`group_identify`, succeed against the sandbox, and the Export API then shows the groups and their
properties on later events (the export shape is described in sandbox/amplitude/groups.py)."""

from __future__ import annotations

import threading
import time

from amplitude import Amplitude, BaseEvent, Config, EventOptions, Identify
from sandbox.process import SandboxProcess
from test_amplitude_sdk import _export


def test_sdk_set_group_and_group_identify_reach_the_export(sandbox: SandboxProcess) -> None:
    sandbox.configure("amplitude", export_latency_hours=-1)
    delivered: list[tuple[str, int]] = []
    lock = threading.Lock()

    def callback(event: BaseEvent, code: int, message: str | None = None) -> None:
        with lock:
            delivered.append((event.event_type, code))

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if len(delivered) >= count:
                    return
            time.sleep(0.05)
        raise AssertionError(f"the SDK delivered {delivered}, expected {count} events")

    client = Amplitude(
        sandbox.amplitude["api_key"],
        Config(
            server_url=sandbox.amplitude["ingest"] + "/2/httpapi",
            flush_queue_size=50,
            flush_interval_millis=200,
            callback=callback,
        ),
    )
    user = EventOptions(user_id="sdk-user-1", device_id="sdk-device-1")
    client.set_group("company", "acct-sdk-1", user)
    profile = (
        Identify()
        .set("name", "Globex")
        .set("plan", "team")
        .set_once("founded", 1999)
        .add("seats", 3)
        .append("tags", "b2b")
        .prepend("regions", "eu")
    )
    client.group_identify("company", "acct-sdk-1", profile, user)
    client.flush()
    wait_for(2)  # group property updates affect only events ingested after them
    client.track(BaseEvent(event_type="Report Viewed", user_id="sdk-user-1", device_id="sdk-device-1"))
    client.track(BaseEvent(event_type="Report Shared", user_id="sdk-user-1", device_id="sdk-device-1",
                           groups={"company": ["acct-sdk-1", "acct-sdk-2"], "team": "analytics"}))  # fmt: skip
    client.flush()
    client.shutdown()
    assert sorted(delivered) == sorted(
        [("$identify", 200), ("$groupidentify", 200), ("Report Viewed", 200), ("Report Shared", 200)]
    )

    events = {e["event_type"]: e for e in _export(sandbox)}
    company = {"name": "Globex", "plan": "team", "founded": 1999, "seats": 3, "tags": ["b2b"], "regions": ["eu"]}
    set_group = events["$identify"]
    assert set_group["groups"] == {"company": ["acct-sdk-1"]}
    assert set_group["user_properties"] == {"company": "acct-sdk-1"}  # what set_group sends besides the group
    assert events["$groupidentify"]["group_properties"] == {"company": {"acct-sdk-1": company}}
    viewed = events["Report Viewed"]  # no groups of its own: the user's group from set_group
    assert viewed["groups"] == {"company": ["acct-sdk-1"]}
    assert viewed["group_properties"] == {"company": {"acct-sdk-1": company}}
    shared = events["Report Shared"]  # event-level groups, for this event only
    assert shared["groups"] == {"company": ["acct-sdk-1", "acct-sdk-2"], "team": ["analytics"]}
    assert shared["group_properties"] == {
        "company": {"acct-sdk-1": company, "acct-sdk-2": {}},
        "team": {"analytics": {}},
    }
