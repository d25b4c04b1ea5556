"""Contract: Amplitude's own Python SDK (amplitude-analytics) sends to the sandbox's HTTP V2 endpoint,
and what it sent comes back out of the Export API with the right fields."""

from __future__ import annotations

import gzip
import io
import threading
import zipfile
from datetime import UTC, datetime, timedelta

import orjson
import requests
from amplitude import Amplitude, BaseEvent, Config, EventOptions, Identify, Revenue
from sandbox.process import SandboxProcess


def _export(sb: SandboxProcess) -> list[dict]:
    now = datetime.fromisoformat(sb.admin("GET", "clock")["now"]).astimezone(UTC)
    window = {
        "start": (now - timedelta(hours=1)).strftime("%Y%m%dT%H"),
        "end": (now + timedelta(hours=1)).strftime("%Y%m%dT%H"),
    }
    response = requests.get(
        sb.amplitude["api"] + "/api/2/export",
        params=window,
        auth=(sb.amplitude["api_key"], sb.amplitude["secret_key"]),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    return [
        orjson.loads(line) for name in archive.namelist() for line in gzip.decompress(archive.read(name)).splitlines()
    ]


def test_sdk_events_identify_and_revenue_round_trip(sandbox: SandboxProcess) -> None:
    sandbox.configure("amplitude", export_latency_hours=-1)
    delivered: list[tuple[str, int]] = []
    lock = threading.Lock()

    def callback(event: BaseEvent, code: int, message: str | None = None) -> None:
        with lock:
            delivered.append((event.event_type, code))

    client = Amplitude(
        sandbox.amplitude["api_key"],
        Config(
            server_url=sandbox.amplitude["ingest"] + "/2/httpapi",
            flush_queue_size=50,
            flush_interval_millis=200,
            callback=callback,
        ),
    )
    options = EventOptions(
        user_id="sdk-user-1",
        device_id="sdk-device-1",
        session_id=1_700_000_000_000,
        platform="Python",
        country="France",
    )
    client.track(BaseEvent(event_type="Song Played", event_properties={"title": "Blue", "seconds": 215}, user_id="sdk-user-1",
                           device_id="sdk-device-1", time=1_700_000_001_000, insert_id="sdk-insert-1", language="en-US"))  # fmt: skip
    client.track(BaseEvent(event_type="Checkout", user_id="sdk-user-1", device_id="sdk-device-1", price=9.99, quantity=2,
                           product_id="sku-9", revenue_type="purchase", currency="USD"))  # fmt: skip
    identify = (
        Identify().set("plan", "pro").set_once("first_seen", "2024-01-01").add("logins", 2).append("tags", "beta")
    )
    client.identify(identify, options)
    client.revenue(Revenue(price=4.5, quantity=3, product_id="sku-1", revenue_type="income"), options)
    client.flush()
    client.shutdown()
    assert sorted(delivered) == sorted(
        [("Song Played", 200), ("Checkout", 200), ("$identify", 200), ("revenue_amount", 200)]
    )

    events = {e["event_type"]: e for e in _export(sandbox)}
    assert set(events) == {"Song Played", "Checkout", "$identify", "revenue_amount"}
    played = events["Song Played"]
    assert played["user_id"] == "sdk-user-1" and played["device_id"] == "sdk-device-1"
    assert played["event_properties"] == {"title": "Blue", "seconds": 215}
    assert played["$insert_id"] == "sdk-insert-1" and played["client_event_time"] == "2023-11-14 22:13:21.000000"
    assert played["language"] == "English" and played["library"].startswith("amplitude-python")
    assert len({e["amplitude_id"] for e in events.values()}) == 1  # one user, one device: one Amplitude ID

    assert events["Checkout"]["event_properties"] == {
        "$price": 9.99, "$quantity": 2, "$revenue": 19.98, "$productId": "sku-9", "$revenueType": "purchase", "$currency": "USD",
    }  # fmt: skip
    identified = events["$identify"]
    assert identified["user_properties"] == {"plan": "pro", "first_seen": "2024-01-01", "logins": 2, "tags": ["beta"]}
    assert (
        identified["session_id"] == 1_700_000_000_000
        and identified["country"] == "France"
        and identified["platform"] == "Python"
    )
    revenue = events["revenue_amount"]["event_properties"]
    assert (revenue["$price"], revenue["$quantity"], revenue["$productId"], revenue["$revenueType"]) == (
        4.5,
        3,
        "sku-1",
        "income",
    )
    assert events["revenue_amount"]["paying"] is True
