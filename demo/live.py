"""The demo's live section, the real-time path: the app sends events now, Amplitude pushes each one to the
streaming tap (Webhooks Streaming), and target-brevo-realtime has it in Brevo within seconds.

Latencies are measured on the real clock from when Amplitude's HTTP V2 API accepted an event (the sandbox's
delivery log) to when Brevo stored what it became (Brevo's emulator). The export run of the next chapter
sees these events again and sends none of them twice: the two targets share one delivery ledger.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox.process import SandboxProcess

from demo.report import table
from demo.service import Service, ServiceError

EXISTING_USER = "user-000001"  # in the simulated app (and in Brevo) since the first chapter
# The seed's HTTP V2 example: revenue in plain event properties, a Purchase (a revenue event type in the demo).
SEED_EXAMPLE = {"user_id": "user_123", "event_type": "Purchase",
                "event_properties": {"revenue": 89.99, "product_id": "SKU-001"}}  # fmt: skip
LANDING_TIMEOUT_SECONDS = 30
POLL_SECONDS = 0.1
AMPLITUDE_PUSH_P95_SECONDS = 60  # Amplitude's documented latency target, ingestion to webhook


@dataclass(frozen=True)
class Sent:
    """One event the app sent: what HTTP V2 got, and the key the delivery log knows it by."""

    event: dict[str, Any]

    @property
    def is_identify(self) -> bool:
        return self.event["event_type"] == "$identify"

    @property
    def key(self) -> str:
        return self.event["user_id"] if self.is_identify else self.event["insert_id"]

    @property
    def properties(self) -> dict[str, Any]:
        return self.event.get("event_properties", {})


def app_requests(chapter: int, now_ms: int) -> list[list[dict[str, Any]]]:
    """What the app sends, one HTTP V2 request per moment: a new user signs up, an existing one shops, and the
    seed's example purchase."""
    newcomer = f"live-{chapter:04d}"
    profile = {"email": f"ada.live{chapter}@example.com", "first_name": "Ada"}
    moments = [
        [{"user_id": newcomer, "event_type": "$identify", "user_properties": {"$set": profile}},
         {"user_id": newcomer, "event_type": "Sign Up", "event_properties": {"method": "email"}}],
        [{"user_id": EXISTING_USER, "event_type": "Add to Cart",
          "event_properties": {"product_id": "SKU-002", "price": 24.5, "quantity": 2}},
         {"user_id": EXISTING_USER, "event_type": "Purchase",
          "event_properties": {"product_id": "SKU-002", "revenue": 49.0, "price": 24.5, "quantity": 2}}],
        [dict(SEED_EXAMPLE)],
    ]  # fmt: skip
    return [[{**event, "insert_id": str(uuid.uuid4()), "time": now_ms} for event in moment] for moment in moments]


class LiveSection:
    def __init__(self, sandbox: SandboxProcess, service: Service) -> None:
        self.sandbox = sandbox
        self.service = service
        self.before = sandbox.admin("GET", "brevo/stats")
        self.sent: list[Sent] = []

    # -- the app and Amplitude -------------------------------------------------------------------
    def connect_amplitude(self) -> None:
        settings = self.service.settings
        self.sandbox.admin("POST", "amplitude/destinations/webhook", json={
            "url": settings.stream_url, "headers": {"Authorization": settings.secret},
            "push_delay_seconds": 0, "send_users": True,
        })  # fmt: skip

    def disconnect_amplitude(self) -> None:
        self.sandbox.admin("DELETE", "amplitude/destinations/webhook")

    def app_sends(self, chapter: int) -> None:
        now_ms = int(self.sandbox_now().timestamp() * 1000)
        for events in app_requests(chapter, now_ms):
            response = self.sandbox.http.post(
                self.sandbox.amplitude["ingest"] + "/2/httpapi",
                json={"api_key": self.sandbox.amplitude["api_key"], "events": events},
                timeout=30,
            )
            if response.status_code != 200:
                raise ServiceError(f"HTTP V2 refused the app's events: {response.status_code} {response.text}")
            self.sent += [Sent(e) for e in events]

    def sandbox_now(self) -> datetime:
        return datetime.fromisoformat(self.sandbox.admin("GET", "clock")["now"])

    # -- what Brevo holds ------------------------------------------------------------------------
    def wait_until_landed(self) -> dict[str, Any]:
        deadline = time.monotonic() + LANDING_TIMEOUT_SECONDS
        while (landed := self.landed()).get("missing"):
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"not in Brevo after {LANDING_TIMEOUT_SECONDS} s: {', '.join(landed['missing'])}\n"
                    + self.service.log_tail()
                )
            time.sleep(POLL_SECONDS)
        return landed

    def landed(self) -> dict[str, Any]:
        """Brevo's event for each sent event, the orders of the purchases and the new contact; `missing` what is not
        there yet."""
        events = self.sandbox.admin("GET", "brevo/events", offset=self.before["events"], limit=1000)["events"]
        orders = self.sandbox.admin("GET", "brevo/orders", offset=self.before["orders"], limit=1000)["orders"]
        found: dict[str, Any] = {"events": {}, "orders": {}, "contact": None, "missing": []}
        for sent in self.sent:
            user = sent.event["user_id"]
            if sent.is_identify:
                found["contact"] = self._contact(sent.event["user_properties"]["$set"]["email"])
                if found["contact"] is None:
                    found["missing"].append(f"the contact of {user}")
                continue
            match = next(
                (e for e in events if _ext_id(e) == user and e.get("event_properties") == sent.properties), None
            )
            if match is None:
                found["missing"].append(f"{sent.event['event_type']} of {user}")
            found["events"][sent.key] = match
            if sent.event["event_type"] == "Purchase":
                product = sent.properties["product_id"]
                order = next((o for o in orders if _ext_id(o["order"]) == user and _product(o) == product), None)
                if order is None:
                    found["missing"].append(f"the order of {user}'s Purchase")
                found["orders"][sent.key] = order
        return found

    def _contact(self, email: str) -> dict[str, Any] | None:
        try:
            return self.sandbox.admin("GET", f"brevo/contacts/{email}")
        except RuntimeError:  # 404 until the contact exists
            return None

    # -- the tables ------------------------------------------------------------------------------
    def print_landed(self, landed: dict[str, Any]) -> None:
        latency = Latency(self.sandbox)
        rows = []
        for sent in self.sent:
            if not sent.is_identify:
                brevo = landed["events"][sent.key]
                rows.append([sent.event["event_type"], sent.event["user_id"], _properties(sent), brevo["event_name"],
                             latency.since(sent, brevo["accepted_at"])])  # fmt: skip
        print(table(rows, ["Amplitude event", "user", "properties", "Brevo event", "latency"]))

        print("\n  Orders (live: `historical: false`, so Brevo's order automations fire):")
        rows = []
        for sent in self.sent:
            if (order := landed["orders"].get(sent.key)) is not None:
                rows.append([order["order"]["id"], sent.event["user_id"], f"{order['order']['amount']:.2f}",
                             _product(order), str(order["historical"]).lower(),
                             latency.since(sent, latency.real(order["received_at"]))])  # fmt: skip
        print(table(rows, ["order id (the event's uuid)", "user", "amount", "product", "historical", "latency"]))

        identify = next(s for s in self.sent if s.is_identify)
        contact = landed["contact"]
        attributes = ", ".join(f"{k} {v}" for k, v in contact["attributes"].items())
        print(
            f"\n  New contact: {contact['email']} (id {contact['id']}; {attributes}), from {identify.event['user_id']}'s "
            f"$identify (Send Users), {latency.since(identify, latency.real(contact['createdAt']))} after HTTP V2 "
            "accepted it"
        )


class Latency:
    """From when HTTP V2 accepted an item (the sandbox's delivery log, real clock) to a time Brevo stored it."""

    def __init__(self, sandbox: SandboxProcess) -> None:
        log = sandbox.admin("GET", "amplitude/deliveries", limit=10_000)["deliveries"]
        self.accepted_at = {entry["key"]: entry["accepted_at"] for entry in log}
        self.clock_offset = sandbox.admin("GET", "clock")["offset_seconds"]

    def real(self, sandbox_time: str) -> float:
        """A time Brevo's emulator gives on the sandbox clock (ISO 8601), on the real one (epoch seconds)."""
        return datetime.fromisoformat(sandbox_time).timestamp() - self.clock_offset

    def since(self, sent: Sent, stored_at: float) -> str:
        return f"{stored_at - self.accepted_at[sent.key]:.1f} s"


def _ext_id(item: dict[str, Any]) -> str | None:
    return (item.get("identifiers") or {}).get("ext_id")


def _product(order: dict[str, Any]) -> str | None:
    products = order["order"].get("products") or [{}]
    return products[0].get("productId")


def _properties(sent: Sent) -> str:
    return ", ".join(f"{k} {v}" for k, v in sent.properties.items())


def run(sandbox: SandboxProcess, service: Service, chapter: int) -> datetime:
    """The live section, with the service already started; returns the sandbox clock at its end."""
    settings = service.settings
    first_seq = service.wait_until_drained()["last_seq"]
    live = LiveSection(sandbox, service)
    live.connect_amplitude()
    print(
        f"    Amplitude's Webhooks Streaming destination -> {settings.stream_url} (Send Users on). Push delay 0 s "
        f"here; the real Amplitude adds its own, about {AMPLITUDE_PUSH_P95_SECONDS} s at p95, before it pushes."
    )
    live.app_sends(chapter)
    print(f"    the app sent {len(live.sent)} events through HTTP V2; waiting until Brevo holds them ...", flush=True)
    landed = live.wait_until_landed()
    print("\n  In Brevo (latency: HTTP V2 accepted -> Brevo stored):")
    live.print_landed(landed)
    live.disconnect_amplitude()  # nothing more is pushed to a receiver that is about to stop

    drained = service.wait_until_drained()
    stop_seconds = service.stop()
    delivered_seq = _delivered_seq(settings.delivered_state_file)
    summary = json.loads(settings.summary_file.read_text())
    if delivered_seq < drained["last_seq"] or not summary.get("completed"):
        raise ServiceError(
            f"the service stopped before delivering everything (spool seq {drained['last_seq']}, delivered "
            f"{delivered_seq})\n{service.log_tail()}"
        )
    calls = summary.get("api_calls", {})
    print(
        f"\n  Stopped with SIGTERM in {stop_seconds:.1f} s. The spool was drained: {drained['last_seq'] - first_seq} "
        f"items received (seq {first_seq + 1}-{drained['last_seq']}), 0 pending, and target-brevo-realtime's last "
        f"STATE covers seq {delivered_seq} ({settings.delivered_state_file.relative_to(service.repo)}). It made "
        f"{sum(calls.values())} Brevo calls: " + ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
    )
    return live.sandbox_now()


def _delivered_seq(state_file: Path) -> int:
    return int(json.loads(state_file.read_text())["bookmarks"]["spool"]["seq"])
