"""Amplitude's streaming destinations in the sandbox: Webhooks Streaming and Cohort Webhooks pushes to a local receiver."""

from __future__ import annotations

import collections
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
import requests
from sandbox.amplitude.pushes import RETRY_DELAYS_SECONDS
from sandbox.process import SandboxProcess
from test_amplitude_support import all_events, api_get, api_post, export_recent, ingest, sandbox_now

SECRET = "Bearer s3cret-token-for-tests"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return orjson.loads(self.body)


class Receiver:
    """A webhook receiver on a free loopback port: keeps every request, then answers as scripted."""

    def __init__(self, idle_timeout: float | None = None) -> None:
        self.idle_timeout = idle_timeout  # closes a keep-alive connection idle this long, as proxies do
        self.requests: list[Received] = []
        self.script: collections.deque[tuple[int, float]] = collections.deque()  # (status, seconds before answering)
        self.changed = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.server.block_on_close = False  # a deliberately slow answer must not hold up the test's end
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def answer(self, *plan: int | tuple[int, float]) -> None:
        """Answer the next requests with these statuses (or (status, delay) pairs); 200 afterwards."""
        self.script.extend(p if isinstance(p, tuple) else (p, 0.0) for p in plan)

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"expected {count} pushes, got {len(self.requests)}")
            return list(self.requests)

    def stays_at(self, count: int, seconds: float = 0.5) -> bool:
        time.sleep(seconds)
        return len(self.requests) == count

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = receiver.idle_timeout

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.changed:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body, time.time()))
                    status, delay = receiver.script.popleft() if receiver.script else (200, 0.0)
                    receiver.changed.notify_all()
                time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting (a timeout): nothing to answer

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def amp(sandbox: SandboxProcess) -> SandboxProcess:
    sandbox.configure("amplitude", export_latency_hours=-1, cohort_request_seconds=0)
    return sandbox


def _webhook(sb: SandboxProcess, receiver: Receiver, **settings: Any) -> dict[str, Any]:
    body = {"url": receiver.url, "headers": {"Authorization": SECRET}, "push_delay_seconds": 0, **settings}
    return sb.admin("POST", "amplitude/destinations/webhook", json=body)


def _cohort_webhook(sb: SandboxProcess, receiver: Receiver, cohort_ids: list[str], **settings: Any) -> dict[str, Any]:
    body = {"url": receiver.url, "headers": {"Authorization": SECRET}, "cohort_ids": cohort_ids, **settings}
    return sb.admin("POST", "amplitude/destinations/cohort-webhook", json=body)


def _deliveries(sb: SandboxProcess, **params: Any) -> dict[str, Any]:
    return sb.admin("GET", "amplitude/deliveries", limit=100_000, **params)


def _advance_clock(sb: SandboxProcess, seconds: float) -> None:
    offset = sb.admin("GET", "clock")["offset_seconds"]
    sb.admin("PUT", "clock", json={"offset_seconds": offset + seconds})


def _counters_when(sb: SandboxProcess, condition: Callable[[dict[str, int]], bool], timeout: float = 10) -> dict:
    """The delivery counters once `condition` holds for them."""
    deadline = time.monotonic() + timeout
    while not condition(counters := _deliveries(sb)["counters"]):
        assert time.monotonic() < deadline, f"delivery counters never got there: {counters}"
        time.sleep(0.05)
    return counters


def _event(user: str, event_type: str = "Page View", **fields: Any) -> dict[str, Any]:
    return {"user_id": user, "event_type": event_type, "insert_id": str(uuid.uuid4()), **fields}


# -- Webhooks Streaming --------------------------------------------------------------------------


def test_each_event_is_pushed_alone_in_its_export_form_with_the_documented_headers(
    amp: SandboxProcess, receiver: Receiver
) -> None:
    _webhook(amp, receiver, headers={"Authorization": SECRET, "X-Team": "growth"})
    first, second = _event("user-1001", "Purchase", event_properties={"sku": "A1"}), _event("user-1002")
    assert ingest(amp, [first, second]).status_code == 200
    assert ingest(amp, [_event("user-1003", "Signup")], path="/batch").status_code == 200
    assert ingest(amp, [{**first}]).status_code == 200  # a repeated insert_id is dropped: not pushed either
    pushes = receiver.wait_for(3)
    assert receiver.stays_at(3)

    exported = {e["uuid"]: e for e in all_events(export_recent(amp).content)}
    assert len(exported) == 3
    for push in pushes:
        assert push.path == "/hook"
        assert push.headers["Content-Type"] == "application/json"
        assert push.headers["User-Agent"] == "Amplitude/Webhook/1.0"
        assert push.headers["Authorization"] == SECRET and push.headers["X-Team"] == "growth"
        event = push.json()
        assert isinstance(event, dict)  # one event per request, not an array
        assert event == exported[event["uuid"]]  # the same fields, times and uuid as the export serves
    by_insert_id = {p.json()["$insert_id"]: p.json() for p in pushes}
    assert by_insert_id[first["insert_id"]]["event_type"] == "Purchase"
    assert by_insert_id[first["insert_id"]]["event_properties"] == {"sku": "A1"}
    assert by_insert_id[first["insert_id"]]["event_time"].count(":") == 2  # "YYYY-MM-DD HH:MM:SS.ffffff"

    shown = requests.get(amp.admin_url + "/amplitude/destinations/webhook", timeout=10)
    assert shown.json()["headers"] == {"Authorization": "<redacted>", "X-Team": "<redacted>"}
    assert "s3cret" not in shown.text

    log = _deliveries(amp, kind="event")
    assert log["counters"]["delivered"] == 3 and log["counters"]["pending"] == 0
    entry = log["deliveries"][0]
    assert entry["status"] == 200 and entry["attempt"] == 1 and entry["url"] == receiver.url
    assert entry["accepted_at"] <= entry["sent_at"] <= entry["answered_at"]
    assert "s3cret" not in orjson.dumps(log).decode()


def test_event_type_filter_and_users_in_the_identify_format(amp: SandboxProcess, receiver: Receiver) -> None:
    _webhook(amp, receiver, event_types=["Purchase"], send_users=True)
    identify = {
        "user_id": "user-2001",
        "event_type": "$identify",
        "platform": "iOS",
        "os_name": "ios",
        "user_properties": {"$set": {"email": "ada@example.com", "age": 36, "vip": True, "tags": ["a", "b"]}},
    }
    assert ingest(amp, [_event("user-2001", "Page View"), _event("user-2001", "Purchase"), identify]).status_code == 200
    form = {
        "api_key": amp.amplitude["api_key"],
        "identification": orjson.dumps({"device_id": "device-2002", "user_properties": {"plan": "pro"}}).decode(),
    }
    assert requests.post(amp.amplitude["ingest"] + "/identify", data=form, timeout=10).text == "success"

    pushes = receiver.wait_for(3)
    assert receiver.stays_at(3)
    events = [p.json() for p in pushes if "event_type" in p.json()]
    users = {p.json().get("user_id", p.json()["device_id"]): p.json() for p in pushes if "event_type" not in p.json()}
    assert [e["event_type"] for e in events] == ["Purchase"]
    assert users["user-2001"]["user_properties"] == {
        "email": "ada@example.com",
        "age": "36",
        "vip": "true",
        "tags": '["a","b"]',
    }
    assert users["user-2001"]["platform"] == "iOS" and users["user-2001"]["os_name"] == "ios"
    assert users["device-2002"] == {"device_id": "device-2002", "user_properties": {"plan": "pro"}}  # no user_id
    assert {e["kind"] for e in _deliveries(amp)["deliveries"]} == {"event", "user"}


def test_destinations_are_per_data_center(amp: SandboxProcess, receiver: Receiver) -> None:
    _webhook(amp, receiver, region="eu")
    assert ingest(amp, [_event("user-3001")]).status_code == 200
    assert ingest(amp, [_event("user-3002")], region="eu").status_code == 200
    [push] = receiver.wait_for(1)
    assert receiver.stays_at(1)
    assert push.json()["user_id"] == "user-3002"
    assert requests.get(amp.admin_url + "/amplitude/destinations/webhook", timeout=10).status_code == 404
    assert amp.admin("GET", "amplitude/destinations/webhook", region="eu")["region"] == "eu"


def test_push_delay_runs_on_the_sandbox_clock(amp: SandboxProcess, receiver: Receiver) -> None:
    _webhook(amp, receiver, push_delay_seconds=120)
    assert ingest(amp, [_event("user-4001")]).status_code == 200
    assert receiver.stays_at(0, 0.4)
    assert _deliveries(amp)["counters"]["pending"] == 1
    _advance_clock(amp, 121)
    receiver.wait_for(1)


def test_5xx_gets_quick_tries_within_one_attempt(amp: SandboxProcess, receiver: Receiver) -> None:
    _webhook(amp, receiver)
    receiver.answer(500, 429)
    assert ingest(amp, [_event("user-5001")]).status_code == 200
    pushes = receiver.wait_for(3)
    assert len({p.body for p in pushes}) == 1
    assert pushes[1].at - pushes[0].at >= 0.04 and pushes[2].at - pushes[1].at >= 0.09  # 100 ms, doubling, jitter
    counters = _counters_when(amp, lambda c: c["pending"] == 0)
    assert counters["delivered"] == 1 and counters["retried"] == 0
    tries = [(e["attempt"], e["try"], e["status"]) for e in _deliveries(amp)["deliveries"]]
    assert tries == [(1, 1, 500), (1, 2, 429), (1, 3, 200)]


def test_the_retry_schedule_runs_on_the_sandbox_clock_then_gives_up(amp: SandboxProcess, receiver: Receiver) -> None:
    assert sum(RETRY_DELAYS_SECONDS) == 4 * 3600 and len(RETRY_DELAYS_SECONDS) == 9
    _webhook(amp, receiver)
    receiver.answer(503, 503, 503, *[400] * 9)  # 3 quick tries, then one try per attempt (a 4xx is not retried fast)
    assert ingest(amp, [_event("user-6001")]).status_code == 200
    receiver.wait_for(3)
    for attempt, delay in enumerate(RETRY_DELAYS_SECONDS, start=2):
        _counters_when(amp, lambda c, failed=attempt - 1: c["retried"] == failed)
        last = _deliveries(amp)["deliveries"][-1]
        assert last["next_attempt_at"] == pytest.approx(last["sent_at_sandbox"] + delay, abs=1)
        assert receiver.stays_at(attempt + 1, 0.1)  # due later on the sandbox clock: nothing yet
        _advance_clock(amp, delay)
        receiver.wait_for(attempt + 2)
    _advance_clock(amp, 24 * 3600)
    assert receiver.stays_at(12)
    counters = _counters_when(amp, lambda c: c["pending"] == 0)
    assert counters["failed"] == 1 and counters["retried"] == 9 and counters["pending"] == 0
    entries = _deliveries(amp)["deliveries"]
    assert [e["attempt"] for e in entries] == [1, 1, 1, *range(2, 11)]
    assert entries[-1]["gave_up"] and entries[-1]["status"] == 400


def test_a_slow_receiver_times_out_and_gets_the_event_again(amp: SandboxProcess, receiver: Receiver) -> None:
    _webhook(amp, receiver, timeout_seconds=0.3)
    receiver.answer((200, 1.0))  # answers too late: the receiver has the event, Amplitude counts a failure
    assert ingest(amp, [_event("user-7001")]).status_code == 200
    receiver.wait_for(1)
    _counters_when(amp, lambda c: c["retried"] == 1)
    [entry] = _deliveries(amp)["deliveries"]
    assert entry["status"] is None and entry["error"] == "timeout after 0.3 s" and entry["next_attempt_at"]
    _advance_clock(amp, RETRY_DELAYS_SECONDS[0])
    first, second = receiver.wait_for(2)
    assert first.body == second.body  # a duplicate: same uuid, same $insert_id
    assert _counters_when(amp, lambda c: c["pending"] == 0)["delivered"] == 1


def test_duplicate_rate_forces_duplicate_deliveries(amp: SandboxProcess, receiver: Receiver) -> None:
    _webhook(amp, receiver, duplicate_rate=1)
    assert ingest(amp, [_event("user-8001"), _event("user-8002")]).status_code == 200
    pushes = receiver.wait_for(4)
    assert receiver.stays_at(4)
    assert sorted(collections.Counter(p.body for p in pushes).values()) == [2, 2]
    assert _counters_when(amp, lambda c: c["pending"] == 0)["duplicates"] == 2


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"headers": {f"X-Custom-{i}": "v" for i in range(6)}}, "at most 5 custom headers"),
        ({"headers": {"User-Agent": "mine"}}, "cannot be customized"),
        ({"headers": {"X-Secret": "a\r\nb"}}, "single-line"),
        ({"url": "ftp://example.com/hook"}, "http or https"),
        ({"event_types": "Purchase"}, "event_types must be a list"),
        ({"push_delay_seconds": -1}, "push_delay_seconds"),
        ({"region": "ap"}, "region must be one of"),
        ({"colour": "blue"}, "unknown fields: colour"),
    ],
)
def test_invalid_webhook_settings_are_refused(
    amp: SandboxProcess, receiver: Receiver, settings: dict[str, Any], reason: str
) -> None:
    body = {"url": receiver.url, **settings}
    response = requests.post(amp.admin_url + "/amplitude/destinations/webhook", json=body, timeout=10)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert "a\r\nb" not in response.text
    assert requests.get(amp.admin_url + "/amplitude/destinations/webhook", timeout=10).status_code == 404


def test_five_custom_headers_are_allowed_and_sent(amp: SandboxProcess, receiver: Receiver) -> None:
    _webhook(amp, receiver, headers={f"X-Custom-{i}": str(i) for i in range(5)})
    assert ingest(amp, [_event("user-9001")]).status_code == 200
    [push] = receiver.wait_for(1)
    assert all(push.headers[f"X-Custom-{i}"] == str(i) for i in range(5))


def test_deleted_or_reset_destinations_push_nothing(amp: SandboxProcess, receiver: Receiver) -> None:
    _webhook(amp, receiver, push_delay_seconds=60)
    assert ingest(amp, [_event("user-9101")]).status_code == 200
    amp.reset()  # forgets the destination and the pending push
    _advance_clock(amp, 120)
    assert receiver.stays_at(0, 0.3)
    _webhook(amp, receiver)
    assert requests.delete(amp.admin_url + "/amplitude/destinations/webhook", timeout=10).status_code == 204
    assert ingest(amp, [_event("user-9102")]).status_code == 200
    assert receiver.stays_at(0, 0.3)


def test_pushes_survive_a_receiver_closing_idle_connections(amp: SandboxProcess) -> None:
    receiver = Receiver(idle_timeout=0.1)
    try:
        _webhook(amp, receiver)
        for n in range(3):
            assert ingest(amp, [_event(f"user-9201{n}")]).status_code == 200
            receiver.wait_for(n + 1)
            time.sleep(0.3)  # the receiver has closed the connection the pusher keeps
        assert [(e["attempt"], e["status"]) for e in _deliveries(amp)["deliveries"]] == [(1, 200)] * 3
    finally:
        receiver.close()


def test_an_unreachable_receiver_fails_the_attempt_and_is_retried(amp: SandboxProcess, receiver: Receiver) -> None:
    url = receiver.url
    receiver.close()  # nothing listens there any more
    amp.admin("POST", "amplitude/destinations/webhook", json={"url": url, "push_delay_seconds": 0})
    assert ingest(amp, [_event("user-9301")]).status_code == 200
    _counters_when(amp, lambda c: c["retried"] == 1)
    [entry] = _deliveries(amp)["deliveries"]
    assert entry["status"] is None and entry["error"] == "ConnectionRefusedError"


def test_events_the_in_process_seeder_ingests_are_pushed_too(amp: SandboxProcess, receiver: Receiver) -> None:
    _webhook(amp, receiver, send_users=True)
    summary = amp.seed("amplitude", seed=3, users=10, events=60, days=1)
    assert summary["events"] == 60
    pushes = [p.json() for p in receiver.wait_for(60)]
    assert sum("event_type" in p for p in pushes) == 50  # every event but the 10 $identify ones
    assert sum("event_type" not in p for p in pushes) == 10  # those arrive as users
    assert receiver.stays_at(60, 0.3)


# -- Cohort Webhooks -----------------------------------------------------------------------------


def _users(sb: SandboxProcess, count: int) -> None:
    identifies = [
        {
            "user_id": f"user-{i:04d}",
            "event_type": "$identify",
            "user_properties": {"$set": {"email": f"u{i}@example.com", "plan": "pro", "seats": i}},
        }
        for i in range(count)
    ]
    identifies.append({"device_id": "anonymous-device-1", "event_type": "$identify"})
    assert ingest(sb, identifies).status_code == 200


def _cohort(sb: SandboxProcess, user_ids: list[str]) -> str:
    body = {
        "name": "Power users",
        "app_id": sb.admin("GET", "amplitude/config")["project_id"],
        "id_type": "BY_USER_ID",
        "ids": user_ids,
        "owner": "me@example.com",
        "published": True,
    }
    return api_post(sb, "/api/3/cohorts/upload", body).json()["cohortId"]


def _membership(sb: SandboxProcess, cohort_id: str, operation: str, user_ids: list[str]) -> None:
    body = {"cohort_id": cohort_id, "memberships": [{"ids": user_ids, "id_type": "BY_NAME", "operation": operation}]}
    assert api_post(sb, "/api/3/cohorts/membership", body).status_code == 200


def _compute(sb: SandboxProcess) -> dict[str, Any]:
    return sb.admin("POST", "amplitude/destinations/cohort-webhook/compute", json={"region": "us"})


def test_cohort_first_sync_sends_everyone_in_batches_then_only_changes(amp: SandboxProcess, receiver: Receiver) -> None:
    _users(amp, 6)
    cohort_id = _cohort(amp, [f"user-{i:04d}" for i in range(5)])
    config = _cohort_webhook(amp, receiver, [cohort_id], batch_size=2, user_properties=["email", "seats"])
    assert config["cadence"] == "realtime" and config["timeout_seconds"] == 2

    first = receiver.wait_for(3)  # the first computation runs at once: 5 members in batches of 2
    assert receiver.stays_at(3, 0.3)
    now = sandbox_now(amp).timestamp()
    messages = sorted((p.json() for p in first), key=lambda m: m["message_id"])
    computation = messages[0]["message_id"].split("::")[0]
    assert uuid.UUID(computation)
    assert [m["message_id"] for m in messages] == [f"{computation}::enter::{n}" for n in range(3)]
    assert [len(m["users"]) for m in messages] == [2, 2, 1]
    for message in messages:
        assert message["cohort_name"] == "Power users" and message["cohort_id"] == cohort_id
        assert message["in_cohort"] is True
        assert isinstance(message["computed_time"], str) and abs(int(message["computed_time"]) - now) < 5
    users = [u for m in messages for u in m["users"]]
    assert users[0] == {"user_id": "user-0000", "user_properties": {"email": "u0@example.com", "seats": "0"}}
    assert {u["user_id"] for u in users} == {f"user-{i:04d}" for i in range(5)}
    for push in first:
        assert push.headers["User-Agent"] == "Amplitude/Webhook/1.0" and push.headers["Authorization"] == SECRET

    _membership(amp, cohort_id, "ADD", ["user-0005"])
    _membership(amp, cohort_id, "REMOVE", ["user-0001"])
    result = _compute(amp)
    assert result["cohorts"] == {cohort_id: {"entered": 1, "exited": 1, "messages": 2}}
    changes = {p.json()["in_cohort"]: p.json() for p in receiver.wait_for(5)[3:]}
    assert changes[True]["users"] == [
        {"user_id": "user-0005", "user_properties": {"email": "u5@example.com", "seats": "5"}}
    ]
    assert changes[False]["users"][0]["user_id"] == "user-0001"
    exit_id = changes[False]["message_id"]
    assert exit_id.endswith("::exit::0") and exit_id.split("::")[0] == changes[True]["message_id"].split("::")[0]
    assert exit_id.split("::")[0] != computation

    assert _compute(amp)["cohorts"][cohort_id] == {"entered": 0, "exited": 0, "messages": 0}
    assert receiver.stays_at(5, 0.3)
    assert {e["kind"] for e in _deliveries(amp)["deliveries"]} == {"cohort"}


def test_cohort_computations_follow_the_cadence_on_the_sandbox_clock(amp: SandboxProcess, receiver: Receiver) -> None:
    _users(amp, 3)
    cohort_id = _cohort(amp, ["user-0000", "user-0001"])
    _cohort_webhook(amp, receiver, [cohort_id])  # realtime: every 60 s
    receiver.wait_for(1)
    _membership(amp, cohort_id, "ADD", ["user-0002"])
    assert receiver.stays_at(1, 0.3)
    _advance_clock(amp, 61)
    [_first, change] = receiver.wait_for(2)
    assert change.json()["users"][0]["user_id"] == "user-0002"

    _cohort_webhook(amp, receiver, [cohort_id], cadence="one-time")  # a new sync: everyone again, then no more
    third = receiver.wait_for(3)[2].json()
    assert len(third["users"]) == 3 and third["in_cohort"] is True
    _membership(amp, cohort_id, "REMOVE", ["user-0000"])
    _advance_clock(amp, 2 * 86400)
    assert receiver.stays_at(3, 0.4)
    assert amp.admin("GET", "amplitude/destinations/cohort-webhook")["next_computation_at"] is None


def test_cohort_pushes_time_out_after_two_seconds_and_are_retried(amp: SandboxProcess, receiver: Receiver) -> None:
    _users(amp, 2)
    cohort_id = _cohort(amp, ["user-0000"])
    receiver.answer((200, 2.4))
    _cohort_webhook(amp, receiver, [cohort_id])
    receiver.wait_for(1)
    _counters_when(amp, lambda c: c["retried"] == 1)
    [entry] = _deliveries(amp)["deliveries"]
    assert entry["error"] == "timeout after 2 s" and 1.9 < entry["answered_at"] - entry["sent_at"] < 2.4
    _advance_clock(amp, RETRY_DELAYS_SECONDS[0])
    first, second = receiver.wait_for(2)
    assert first.json()["message_id"] == second.json()["message_id"]  # the receiver de-duplicates by message_id


def test_invalid_cohort_webhook_settings_are_refused(amp: SandboxProcess, receiver: Receiver) -> None:
    url = amp.admin_url + "/amplitude/destinations/cohort-webhook"
    for body, reason in [
        ({"url": receiver.url}, "cohort_ids is required"),
        ({"url": receiver.url, "cohort_ids": []}, "must not be empty"),
        ({"url": receiver.url, "cohort_ids": ["c1"], "cadence": "weekly"}, "cadence must be one of"),
        ({"url": receiver.url, "cohort_ids": ["c1"], "batch_size": 0}, "batch_size"),
        ({"url": receiver.url, "cohort_ids": ["c1"], "user_properties": [f"p{i}" for i in range(51)]}, "at most 50"),
        ({"url": receiver.url, "cohort_ids": ["c1"], "headers": {f"X-{i}": "v" for i in range(6)}}, "at most 5"),
    ]:
        response = requests.post(url, json=body, timeout=10)
        assert response.status_code == 400 and reason in response.json()["error"]
    assert requests.post(url + "/compute", json={}, timeout=10).status_code == 404


def test_missing_cohort_is_reported_and_skipped(amp: SandboxProcess, receiver: Receiver) -> None:
    _cohort_webhook(amp, receiver, ["nosuchcohort"], cadence="daily")
    assert _compute(amp)["cohorts"] == {"nosuchcohort": {"error": "cohort not found"}}
    assert receiver.stays_at(0, 0.3)
    assert api_get(amp, "/api/3/cohorts").json()["cohorts"] == []


# -- fault rules on pushes (service `amplitude_webhooks`, path = the receiver URL's path) ----------------


def test_fault_rules_apply_to_pushes(amp: SandboxProcess, receiver: Receiver) -> None:
    _webhook(amp, receiver)
    rule = {"service": "amplitude_webhooks", "method": "POST", "path": "/hook"}
    amp.fault(action="status", status=503, count=1, **rule)  # the receiver seems to answer 503 once
    amp.fault(action="duplicate", count=1, **rule)  # the next request goes out twice
    assert ingest(amp, [_event("user-9001")]).status_code == 200
    pushes = receiver.wait_for(2)
    assert receiver.stays_at(2)
    assert pushes[0].body == pushes[1].body  # the quick retry after the 503, sent twice
    log = _deliveries(amp)["deliveries"]
    assert [(e["fault"], e["status"], e["duplicate"]) for e in log] == [
        ("status", 503, False),
        ("duplicate", 200, False),
        (None, 200, True),
    ]


def test_a_truncated_push_reaches_the_receiver_cut(amp: SandboxProcess, receiver: Receiver) -> None:
    _webhook(amp, receiver)
    amp.fault(action="truncate", truncate_bytes=10, count=1, service="amplitude_webhooks", path="*")
    assert ingest(amp, [_event("user-9002")]).status_code == 200
    [push] = receiver.wait_for(1)
    assert len(push.body) == 10
