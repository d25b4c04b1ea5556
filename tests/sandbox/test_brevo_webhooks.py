"""Brevo emulator: webhooks CRUD (against the spec) and the simulated sends' pushes to a local receiver."""

from __future__ import annotations

import base64
import collections
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from brevo_spec import SpecCheckedSession, assert_request_valid
from sandbox.brevo.webhook_pushes import RETRIES
from sandbox.process import SandboxProcess

TOKEN = "wh-token-for-tests"
PARIS = ZoneInfo("Europe/Paris")
MARKETING_EVENTS = ["delivered", "opened", "click", "unsubscribed", "hardBounce", "softBounce", "spam"]
RATES = {"delivered": 1.0, "opened": 0.5, "click": 0.2, "unsubscribed": 0.1, "hard_bounce": 0.05, "spam": 0.05}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class Receiver:
    """A webhook receiver on a free loopback port: keeps every request, answers as scripted (200 afterwards)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: collections.deque[int] = collections.deque()
        self.changed = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def answer(self, *statuses: int) -> None:
        self.script.extend(statuses)

    def wait_for(self, count: int, timeout: float = 15) -> list[Received]:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"expected {count} pushes, got {len(self.requests)}")
            return list(self.requests)

    def stays_at(self, count: int, seconds: float = 0.5) -> bool:
        time.sleep(seconds)
        return len(self.requests) == count

    def events(self) -> list[dict[str, Any]]:
        """Every event received, batched or not."""
        found = []
        for request in self.requests:
            body = request.json()
            found += body if isinstance(body, list) else [body]
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.changed:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                    status = receiver.script.popleft() if receiver.script else 200
                    receiver.changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

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
def api(sandbox: SandboxProcess) -> SpecCheckedSession:
    return SpecCheckedSession(sandbox.brevo)


def create(api: SpecCheckedSession, **body: Any) -> int:
    assert_request_valid("POST", "/v3/webhooks", body)
    response = api.post("/webhooks", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def campaign(sb: SandboxProcess, **body: Any) -> dict[str, Any]:
    response = sb.http.post(f"{sb.admin_url}/brevo/simulate/campaign", json=body, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()


def transactional(sb: SandboxProcess, **body: Any) -> dict[str, Any]:
    response = sb.http.post(f"{sb.admin_url}/brevo/simulate/transactional", json=body, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(sb: SandboxProcess) -> dict[str, Any]:
    return sb.admin("GET", "brevo/webhook-deliveries", limit=100_000)


def counters_when(sb: SandboxProcess, condition: Any, timeout: float = 10) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while not condition(counters := deliveries(sb)["counters"]):
        assert time.monotonic() < deadline, f"delivery counters never got there: {counters}"
        time.sleep(0.05)
    return counters


def advance_clock(sb: SandboxProcess, seconds: float) -> None:
    offset = sb.admin("GET", "clock")["offset_seconds"]
    sb.admin("PUT", "clock", json={"offset_seconds": offset + seconds})


def with_list(sb: SandboxProcess, contacts: int) -> int:
    return sb.seed("brevo", lists=["Cohort"], contacts=contacts, contact_list_ids=[1])["lists"]["Cohort"]


def without_id(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "id"}


# ---------------------------------------------------------------- CRUD


def test_crud_answers_as_the_spec_says(api: SpecCheckedSession) -> None:
    first = create(api, url="https://hooks.example.com/t", events=["delivered", "opened"], description="tx")
    second = create(
        api,
        url="https://hooks.example.com/m",
        events=["opened", "click"],
        type="marketing",
        batched=True,
        auth={"type": "bearer", "token": TOKEN},
        headers=[{"key": "X-Source", "value": "brevo"}],
    )
    third = create(api, url="https://hooks.example.com/t2", events=["click"])

    listed = api.get("/webhooks").json()["webhooks"]
    assert [w["id"] for w in listed] == [third, first], "transactional by default, newest first"
    assert [w["id"] for w in api.get("/webhooks", params={"sort": "asc"}).json()["webhooks"]] == [first, third]
    [marketing] = api.get("/webhooks", params={"type": "marketing"}).json()["webhooks"]
    assert marketing["id"] == second and marketing["batched"] is True and marketing["type"] == "marketing"
    assert marketing["auth"] == {"type": "bearer", "token": TOKEN}, "the API shows the account owner what it set"
    assert marketing["headers"] == [{"key": "X-Source", "value": "brevo"}]
    assert api.get("/webhooks", params={"type": "inbound"}).json() == {"webhooks": []}

    one = api.get(f"/webhooks/{first}").json()
    assert one["url"] == "https://hooks.example.com/t" and one["events"] == ["delivered", "opened"]
    assert one["description"] == "tx" and one["channel"] == "email" and one["batched"] is False
    assert one["createdAt"].endswith("Z") and one["modifiedAt"] == one["createdAt"]

    changed = {"events": ["hardBounce"], "description": "bounces", "batched": True}
    assert_request_valid("PUT", f"/v3/webhooks/{first}", changed)
    assert api.put(f"/webhooks/{first}", json=changed).status_code == 204
    one = api.get(f"/webhooks/{first}").json()
    assert (one["events"], one["description"], one["batched"]) == (["hardBounce"], "bounces", True)
    assert one["url"] == "https://hooks.example.com/t", "what PUT leaves out stays"

    assert api.delete(f"/webhooks/{first}").status_code == 204
    gone = api.get(f"/webhooks/{first}")
    assert gone.status_code == 404 and gone.json() == {"code": "document_not_found", "message": "Webhook not found"}
    assert api.put(f"/webhooks/{first}", json=changed).status_code == 404
    assert api.delete(f"/webhooks/{first}").status_code == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"events": ["opened"]}, "missing_parameter"),
        ({"url": "https://h.example.com/"}, "missing_parameter"),
        ({"url": "https://h.example.com/", "events": ["bogus"]}, "invalid_parameter"),
        ({"url": "https://h.example.com/", "events": ["listAddition"]}, "invalid_parameter"),  # marketing only
        ({"url": "https://h.example.com/", "events": ["opened"], "type": "sms"}, "invalid_parameter"),
        (
            {"url": "https://h.example.com/", "events": ["opened"], "auth": {"type": "basic", "token": "x"}},
            "invalid_parameter",
        ),
        (
            {"url": "https://h.example.com/", "events": ["opened"], "headers": [{"key": "Host", "value": "x"}]},
            "invalid_parameter",
        ),
        ({"url": "http://h.example.com/", "events": ["opened"]}, "invalid_parameter"),  # clear text off the machine
        ({"url": "ftp://h.example.com/", "events": ["opened"]}, "invalid_parameter"),
        (
            {"url": "https://h.example.com/", "events": ["inboundEmailProcessed"], "type": "inbound"},
            "missing_parameter",
        ),
    ],
)
def test_create_refuses_bad_bodies(api: SpecCheckedSession, body: dict[str, Any], code: str) -> None:
    response = api.post("/webhooks", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    assert api.get("/webhooks").json() == {"webhooks": []}


def test_at_most_40_webhooks_per_account(api: SpecCheckedSession) -> None:
    for n in range(40):
        create(api, url=f"https://h.example.com/{n}", events=["opened"], type="marketing" if n % 2 else "transactional")
    refused = api.post("/webhooks", json={"url": "https://h.example.com/41", "events": ["opened"]})
    assert refused.status_code == 400 and "40" in refused.json()["message"]
    api.delete("/webhooks/1")
    create(api, url="https://h.example.com/41", events=["opened"])


def test_secrets_stay_out_of_the_admin_listing_and_the_delivery_log(
    sandbox: SandboxProcess, api: SpecCheckedSession, receiver: Receiver
) -> None:
    with_list(sandbox, 3)
    basic = receiver.url.replace("http://", "http://hook-user:pa%40ss-word@")
    create(api, url=basic, events=["delivered"], type="marketing")
    create(
        api,
        url=receiver.url,
        events=["delivered"],
        type="marketing",
        auth={"type": "bearer", "token": TOKEN},
        headers=[{"key": "X-Shared-Secret", "value": "header-secret"}],
    )
    campaign(sandbox, list_id=1, seed=1)
    receiver.wait_for(6)
    counters_when(sandbox, lambda c: c["pending"] == 0)
    shown = orjson.dumps([sandbox.admin("GET", "brevo/webhooks"), deliveries(sandbox)]).decode()
    for secret in (TOKEN, "header-secret", "pa%40ss-word", "pa@ss-word"):
        assert secret not in shown
    assert {d["url"] for d in deliveries(sandbox)["deliveries"]} == {receiver.url}
    assert '"<redacted>"' in shown

    basic_auth = {
        r.headers["Authorization"] for r in receiver.requests if r.headers["Authorization"].startswith("Basic")
    }
    assert basic_auth == {"Basic " + base64.b64encode(b"hook-user:pa@ss-word").decode()}
    bearer = [r for r in receiver.requests if r.headers["Authorization"] == f"Bearer {TOKEN}"]
    assert len(bearer) == 3 and all(r.headers["X-Shared-Secret"] == "header-secret" for r in bearer)
    assert all(r.path == "/hook" for r in receiver.requests), "credentials never reach the request line"


# ---------------------------------------------------------------- marketing campaigns


def test_campaign_pushes_every_subscribed_event_as_brevo_shapes_it(
    sandbox: SandboxProcess, api: SpecCheckedSession, receiver: Receiver
) -> None:
    list_id = with_list(sandbox, 40)
    everything = create(
        api, url=receiver.url, events=MARKETING_EVENTS, type="marketing", auth={"type": "bearer", "token": TOKEN}
    )
    create(api, url=receiver.url + "?only=clicks", events=["click"], type="marketing")
    create(api, url=receiver.url + "?tx", events=["delivered", "opened", "click"])  # transactional: gets nothing
    sent = campaign(sandbox, list_id=list_id, name="Winter sale", tag="winter", rates=RATES, seed=7)

    truth = sent["events"]
    clicks = [e for e in truth if e["event"] == "click"]
    assert sent["recipients"] == 40 and clicks
    assert sent["webhooks"] == [
        {"id": everything, "events": len(truth), "requests": len(truth)},
        {"id": everything + 1, "events": len(clicks), "requests": len(clicks)},
    ]
    received = receiver.wait_for(len(truth) + len(clicks))
    assert receiver.stays_at(len(truth) + len(clicks))
    to_everything = [r.json() for r in received if r.path == "/hook"]
    assert sorted(map(orjson.dumps, map(without_id, to_everything))) == sorted(map(orjson.dumps, truth))
    assert {e["id"] for e in to_everything} == {everything}
    to_clickers = [without_id(r.json()) for r in received if r.path == "/hook?only=clicks"]
    assert sorted(map(orjson.dumps, to_clickers)) == sorted(map(orjson.dumps, clicks))
    assert all(r.headers["Content-Type"] == "application/json" for r in received)
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in received if r.path == "/hook")

    fields = {
        "camp_id",
        "email",
        "campaign name",
        "date_sent",
        "date_event",
        "event",
        "tag",
        "ts_sent",
        "ts_event",
        "ts",
    }
    for event in truth:
        assert fields <= set(event)
        assert event["camp_id"] == sent["campaign_id"] and event["campaign name"] == "Winter sale"
        assert event["tag"] == "winter" and event["ts"] == event["ts_event"] >= event["ts_sent"]
        assert event["event"] in {"delivered", "opened", "click", "unsubscribe", "hard_bounce", "soft_bounce", "spam"}
    for event in clicks:
        assert event["URL"].startswith("https://")
    for event in (e for e in truth if e["event"] == "unsubscribe"):
        assert event["list_id"] == [list_id] and event["sending_ip"]
    for event in (e for e in truth if e["event"] in ("hard_bounce", "spam")):
        assert event["reason"]


def test_campaign_outcomes_are_consistent_and_repeatable(sandbox: SandboxProcess) -> None:
    list_id = with_list(sandbox, 300)
    rates = {
        "delivered": 1.0,
        "opened": 0.5,
        "click": 0.2,
        "unsubscribed": 0.05,
        "hard_bounce": 0.05,
        "soft_bounce": 0.05,
    }
    first = campaign(sandbox, list_id=list_id, rates=rates, seed=7, spread_seconds=600)
    by_email = collections.defaultdict(list)
    for event in first["events"]:
        by_email[event["email"]].append(event)
    for email, events in by_email.items():
        names = [e["event"] for e in events]
        times = {e["event"]: e["ts_event"] for e in events}
        if {"hard_bounce", "soft_bounce"} & set(names):
            assert len(names) == 1, f"{email}: a bounced recipient gets nothing else"
        if "click" in names:
            assert times["opened"] <= times["click"], "clicks imply an earlier open"
        if "opened" in names:
            assert "delivered" in names and times["delivered"] <= times["opened"]
        assert all(e["ts_event"] >= e["ts_sent"] for e in events)
    delivered = sum(1 for e in first["events"] if e["event"] == "delivered")
    opened = sum(1 for e in first["events"] if e["event"] == "opened")
    assert 240 <= delivered <= 300 and 0.35 < opened / delivered < 0.65

    unsubscribed = {e["email"] for e in first["events"] if e["event"] == "unsubscribe"}
    assert unsubscribed
    for email in unsubscribed:
        assert sandbox.admin("GET", f"brevo/contacts/{email}")["emailBlacklisted"] is True

    again = campaign(sandbox, list_id=list_id, rates=rates, seed=7, spread_seconds=600)
    assert again["campaign_id"] == first["campaign_id"] + 1
    assert again["recipients"] == 300 - len(unsubscribed), "blacklisted contacts get no campaign"
    kept = {(e["email"], e["event"]) for e in first["events"] if e["email"] not in unsubscribed}
    assert {(e["email"], e["event"]) for e in again["events"]} == kept, "same seed, same fate per recipient"


def test_batched_webhooks_get_arrays_of_at_most_500(
    sandbox: SandboxProcess, api: SpecCheckedSession, receiver: Receiver
) -> None:
    list_id = with_list(sandbox, 1200)
    hook = create(api, url=receiver.url, events=["delivered"], type="marketing", batched=True)
    sent = campaign(sandbox, list_id=list_id, seed=3)
    [planned] = sent["webhooks"]
    assert planned["events"] == 1200 and planned["requests"] == len(receiver.wait_for(planned["requests"]))
    sizes = [len(r.json()) for r in receiver.requests]
    assert all(isinstance(r.json(), list) for r in receiver.requests)
    assert sum(sizes) == 1200 and max(sizes) == 500 and all(size <= 500 for size in sizes)
    assert {e["id"] for e in receiver.events()} == {hook}
    log = deliveries(sandbox)["deliveries"]
    assert sorted(e["events"] for e in log) == sorted(sizes) and all(e["batched"] for e in log)


# ---------------------------------------------------------------- transactional emails


def test_transactional_email_pushes_brevo_payloads(
    sandbox: SandboxProcess, api: SpecCheckedSession, receiver: Receiver
) -> None:
    with_list(sandbox, 2)
    hook = create(
        api, url=receiver.url, events=["request", "delivered", "opened", "uniqueOpened", "click", "hardBounce"]
    )
    create(api, url=receiver.url + "?marketing", events=["opened"], type="marketing")  # gets nothing
    sent = transactional(
        sandbox,
        emails=["seed1@example.com", "Someone@Example.com"],
        template_id=12,
        subject="Your order",
        tags=["order", "eu"],
        custom="order-42",
        rates={"opened": 1.0, "click": 1.0},
        seed=5,
    )
    assert [m["email"] for m in sent["messages"]] == ["seed1@example.com", "someone@example.com"]
    assert all(m["messageId"].endswith("@smtp-relay.mailin.fr>") for m in sent["messages"])
    truth = sent["events"]
    assert sorted(e["event"] for e in truth) == sorted(["request", "delivered", "opened", "unique_opened", "click"] * 2)
    receiver.wait_for(len(truth))
    assert receiver.stays_at(len(truth))
    assert sorted(map(orjson.dumps, map(without_id, receiver.events()))) == sorted(map(orjson.dumps, truth))
    assert {e["id"] for e in receiver.events()} == {hook}

    contact_ids = {e["email"]: e["contact_id"] for e in truth}
    assert contact_ids["someone@example.com"] == 0 and contact_ids["seed1@example.com"] > 0
    for event in truth:
        assert event["ts_epoch"] // 1000 == event["ts"] == event["ts_event"]
        assert event["template_id"] == 12 and event["tags"] == ["order", "eu"] and event["subject"] == "Your order"
        assert event["X-Mailin-custom"] == "order-42" and event["sending_ip"] and event["mirror_link"]
        assert event["message-id"] in {m["messageId"] for m in sent["messages"]}

    for event in truth:
        paris = datetime.fromtimestamp(event["ts_epoch"] / 1000, PARIS)
        assert event["date"] == paris.strftime("%Y-%m-%d %H:%M:%S")
    clicks = [e for e in truth if e["event"] == "click"]
    assert all(e["link"].startswith("https://") and e["user_agent"] and e["device_used"] for e in clicks)


def test_transactional_bounces_carry_a_reason(sandbox: SandboxProcess) -> None:
    sent = transactional(sandbox, emails=[f"u{i}@example.com" for i in range(50)], rates={"hard_bounce": 1.0}, seed=1)
    names = collections.Counter(e["event"] for e in sent["events"])
    assert names == {"request": 50, "hard_bounce": 50}
    assert all(e["reason"] for e in sent["events"] if e["event"] == "hard_bounce")


# ---------------------------------------------------------------- retries, faults, timing


def test_retries_follow_brevos_schedule_on_the_sandbox_clock(
    sandbox: SandboxProcess, api: SpecCheckedSession, receiver: Receiver
) -> None:
    assert RETRIES.delays_seconds == (600, 3600, 7200, 28800)
    create(api, url=receiver.url, events=["request"])
    receiver.answer(500, 503, 429, 502)
    transactional(sandbox, emails=["a@example.com"], seed=1)
    receiver.wait_for(1)
    for attempt, delay in enumerate(RETRIES.delays_seconds, start=2):
        counters_when(sandbox, lambda c, failed=attempt - 1: c["retried"] == failed)
        last = deliveries(sandbox)["deliveries"][-1]
        assert last["next_attempt_at"] - last["sent_at_sandbox"] == pytest.approx(delay, abs=1)
        assert receiver.stays_at(attempt - 1, 0.2), "nothing before the sandbox clock gets there"
        advance_clock(sandbox, delay - 30)
        assert receiver.stays_at(attempt - 1, 0.2)
        advance_clock(sandbox, 31)
        receiver.wait_for(attempt)
    counters = counters_when(sandbox, lambda c: c["pending"] == 0)
    assert counters["delivered"] == 1 and counters["retried"] == 4 and counters["failed"] == 0
    assert [e["status"] for e in deliveries(sandbox)["deliveries"]] == [500, 503, 429, 502, 200]
    assert len({r.body for r in receiver.requests}) == 1, "every attempt sends the same body"


def test_gives_up_after_four_retries(sandbox: SandboxProcess, api: SpecCheckedSession, receiver: Receiver) -> None:
    create(api, url=receiver.url, events=["request"])
    receiver.answer(*[500] * 5)
    transactional(sandbox, emails=["a@example.com"], seed=1)
    for attempt, delay in enumerate(RETRIES.delays_seconds, start=1):
        receiver.wait_for(attempt)
        counters_when(sandbox, lambda c, n=attempt: c["retried"] == n)
        advance_clock(sandbox, delay + 1)
    receiver.wait_for(5)
    counters = counters_when(sandbox, lambda c: c["pending"] == 0)
    assert counters["failed"] == 1 and counters["delivered"] == 0
    assert deliveries(sandbox)["deliveries"][-1]["gave_up"] is True
    advance_clock(sandbox, 86400)
    assert receiver.stays_at(5)


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_a_4xx_other_than_429_stops_the_retries(
    sandbox: SandboxProcess, api: SpecCheckedSession, receiver: Receiver, status: int
) -> None:
    create(api, url=receiver.url, events=["request"])
    receiver.answer(status)
    transactional(sandbox, emails=["a@example.com"], seed=1)
    receiver.wait_for(1)
    counters = counters_when(sandbox, lambda c: c["pending"] == 0)
    assert counters["failed"] == 1 and counters["retried"] == 0
    [entry] = deliveries(sandbox)["deliveries"]
    assert entry["status"] == status and entry["gave_up"] is True and entry["next_attempt_at"] is None
    advance_clock(sandbox, 86400)
    assert receiver.stays_at(1)


def test_an_unreachable_receiver_is_retried(sandbox: SandboxProcess, api: SpecCheckedSession) -> None:
    create(api, url="http://127.0.0.1:9/closed", events=["request"])
    transactional(sandbox, emails=["a@example.com"], seed=1)
    counters_when(sandbox, lambda c: c["retried"] == 1)
    [entry] = deliveries(sandbox)["deliveries"]
    assert entry["status"] is None and entry["error"] == "ConnectionRefusedError" and entry["gave_up"] is False


def test_a_duplicate_fault_delivers_every_push_twice(
    sandbox: SandboxProcess, api: SpecCheckedSession, receiver: Receiver
) -> None:
    create(api, url=receiver.url, events=["request", "delivered"])
    sandbox.fault(service="brevo_webhooks", action="duplicate", count=1_000_000)
    sent = transactional(sandbox, emails=["a@example.com", "b@example.com"], seed=1)
    receiver.wait_for(2 * len(sent["events"]))
    counters = counters_when(sandbox, lambda c: c["pending"] == 0)
    assert counters["duplicates"] == len(sent["events"]) and counters["delivered"] == len(sent["events"])
    bodies = collections.Counter(orjson.dumps(without_id(r.json())) for r in receiver.requests)
    assert bodies == {orjson.dumps(e): 2 for e in sent["events"]}


def test_fault_rules_apply_to_brevo_pushes(
    sandbox: SandboxProcess, api: SpecCheckedSession, receiver: Receiver
) -> None:
    create(api, url=receiver.url, events=["request"])
    sandbox.fault(service="brevo_webhooks", action="duplicate", path="/hook")
    sandbox.fault(service="amplitude_webhooks", action="status", status=500, path="/hook")  # not Brevo's
    transactional(sandbox, emails=["a@example.com"], seed=1)
    received = receiver.wait_for(2)
    assert received[0].body == received[1].body
    assert counters_when(sandbox, lambda c: c["pending"] == 0)["duplicates"] == 1


def test_realtime_pushes_wait_for_each_event_on_the_sandbox_clock(
    sandbox: SandboxProcess, api: SpecCheckedSession, receiver: Receiver
) -> None:
    create(api, url=receiver.url, events=["opened"])
    sent = transactional(
        sandbox, emails=["a@example.com"], rates={"opened": 1.0}, seed=2, realtime=True, spread_seconds=3600
    )
    [opened] = [e for e in sent["events"] if e["event"] == "opened"]
    now = sandbox.admin("GET", "clock")
    assert receiver.stays_at(0)
    wait = opened["ts_epoch"] / 1000 - datetime.fromisoformat(now["now"]).timestamp()
    assert wait > 30
    advance_clock(sandbox, wait + 1)
    [received] = receiver.wait_for(1)
    assert without_id(received.json()) == opened


def test_simulation_bodies_are_checked(sandbox: SandboxProcess) -> None:
    url = f"{sandbox.admin_url}/brevo/simulate/"
    with_list(sandbox, 1)
    for path, body, status in [
        ("campaign", {"list_id": 99}, 404),
        ("campaign", {}, 400),
        ("campaign", {"list_id": 1, "rates": {"opened": 2}}, 400),
        ("campaign", {"list_id": 1, "rates": {"opened": 0.1, "click": 0.2}}, 400),
        ("campaign", {"list_id": 1, "rates": {"blocked": 0.1}}, 400),
        ("campaign", {"list_id": 1, "colour": "red"}, 400),
        ("campaign", {"list_id": 1, "realtime": "yes"}, 400),
        ("campaign", {"list_id": 1, "seed": 1.5}, 400),
        ("campaign", {"list_id": 1, "spread_seconds": 0}, 400),
        ("transactional", {}, 400),
        ("transactional", {"emails": ["nope"]}, 400),
        ("transactional", {"emails": ["a@b.io"], "list_id": 1}, 400),
    ]:
        response = sandbox.http.post(url + path, json=body, timeout=10)
        assert response.status_code == status, (path, body, response.text)
    assert campaign(sandbox, list_id=1)["campaign_id"] == 1, "a refused simulation leaves nothing behind"


def test_reset_forgets_webhooks_and_pending_pushes(sandbox: SandboxProcess, api: SpecCheckedSession) -> None:
    create(api, url="http://127.0.0.1:9/closed", events=["request"])
    transactional(sandbox, emails=["a@example.com"], seed=1)
    counters_when(sandbox, lambda c: c["retried"] == 1)
    sandbox.reset()
    assert api.get("/webhooks").json() == {"webhooks": []}
    assert deliveries(sandbox) == {
        "counters": {
            "pending": 0,
            "submitted": 0,
            "delivered": 0,
            "failed": 0,
            "retried": 0,
            "requests": 0,
            "duplicates": 0,
        },
        "deliveries": [],
    }
