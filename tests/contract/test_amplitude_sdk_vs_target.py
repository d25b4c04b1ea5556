"""Contract: Amplitude's own Python SDK (amplitude-analytics) and target-amplitude, given the same engagement
events, send equivalent requests (same endpoint path, api_key, options.min_id_length, and per event the same
event_type, user_id, time, insert_id, event_properties and user_properties `$set`; the SDK's `library` aside).

The SDK's events are written here by hand from the documented defaults (target-amplitude/README.md):
opened -> Email Opened, unsubscribed -> Email Unsubscribed with `$set` email_unsubscribed, ...; the target
derives its own from the records.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from amplitude import Amplitude, BaseEvent, Config
from target_amplitude.target import TargetAmplitude

API_KEY = "0123456789abcdef0123456789abcdef"
STREAM = "email_events"
SDK_ONLY_FIELDS = {"library"}  # the library name and version differ by design


class Capture:
    """A local HTTP server answering 200 to every ingestion request and keeping (path, JSON body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        captured = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = orjson.loads(self.rfile.read(int(self.headers["content-length"])))
                captured.append((self.path, body))
                answer = orjson.dumps({"code": 200, "events_ingested": len(body["events"]), "payload_size_bytes": 1,
                                       "server_upload_time": 1})  # fmt: skip
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def events(self) -> dict[str, dict[str, Any]]:
        return {e["insert_id"]: {k: v for k, v in e.items() if k not in SDK_ONLY_FIELDS}
                for _path, body in self.requests for e in body["events"]}  # fmt: skip

    def envelopes(self) -> set[tuple[str, str, str]]:
        return {
            (path, body["api_key"], json.dumps(body.get("options"), sort_keys=True)) for path, body in self.requests
        }


def record(event_id: str, event: str, seconds: int, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id, "event": event, "channel": "marketing", "source": "webhook",
        "email": "ann@example.com", "contact_id": 12, "ext_id": None, "contact_attributes": None,
        "campaign_id": 42, "campaign_name": "November news", "template_id": None, "message_id": None,
        "subject": "News", "link": None, "reason": None, "tags": ["news"], "list_ids": [7],
        "event_time": datetime.fromtimestamp(1_764_493_200 + seconds, UTC).isoformat().replace("+00:00", "Z"),
        "received_at": "2025-11-30T09:05:00Z", **fields,
    }  # fmt: skip


RECORDS = [
    record("a" * 32, "opened", 1, ext_id="ext-user-1"),
    record("b" * 32, "click", 2, link="https://example.com/offer", contact_attributes={"AMPLITUDE_USER_ID": "amp-7"}),
    record("c" * 32, "unsubscribed", 3),
    record("d" * 32, "hard_bounce", 4, channel="transactional", template_id=5, message_id="<m1@smtp>",
           reason="mailbox full", campaign_id=None, campaign_name=None),
    record("e" * 32, "delivered", 5, ext_id="abc"),  # shorter than Amplitude's 5: min_id_length 3 lets it in
]  # fmt: skip
COMMON = {"channel": "marketing", "campaign_id": 42, "campaign_name": "November news", "subject": "News",
          "tags": ["news"], "source": "webhook"}  # fmt: skip


def sdk_events() -> list[BaseEvent]:
    """The same engagement, as an app would send it with the official SDK."""
    ms = 1_764_493_200_000
    return [
        BaseEvent("Email Opened", user_id="ext-user-1", time=ms + 1000, insert_id="brevo-" + "a" * 32,
                  event_properties=COMMON),
        BaseEvent("Email Link Clicked", user_id="amp-7", time=ms + 2000, insert_id="brevo-" + "b" * 32,
                  event_properties={**COMMON, "link": "https://example.com/offer"}),
        BaseEvent("Email Unsubscribed", user_id="ann@example.com", time=ms + 3000, insert_id="brevo-" + "c" * 32,
                  event_properties=COMMON, user_properties={"$set": {"email_unsubscribed": True}}),
        BaseEvent("Email Bounced", user_id="ann@example.com", time=ms + 4000, insert_id="brevo-" + "d" * 32,
                  event_properties={"channel": "transactional", "template_id": 5, "message_id": "<m1@smtp>",
                                    "subject": "News", "reason": "mailbox full", "tags": ["news"], "source": "webhook"},
                  user_properties={"$set": {"email_hard_bounced": True}}),
        BaseEvent("Email Delivered", user_id="abc", time=ms + 5000, insert_id="brevo-" + "e" * 32,
                  event_properties=COMMON),
    ]  # fmt: skip


def send_with_sdk(capture: Capture, path: str, *, use_batch: bool) -> None:
    client = Amplitude(
        API_KEY,
        Config(server_url=capture.url + path, use_batch=use_batch, min_id_length=3, flush_queue_size=100,
               flush_interval_millis=60_000),
    )  # fmt: skip
    for event in sdk_events():
        client.track(event)
    client.flush()
    client.shutdown()


def send_with_target(capture: Capture, tmp_path: Path, *, use_batch: bool) -> dict[str, Any]:
    config = {
        "api_key": API_KEY, "api_url": capture.url, "use_batch": use_batch, "min_id_length": 3,
        "ledger_path": str(tmp_path / "ledger.sqlite3"), "rejects_file": str(tmp_path / "rejects.jsonl"),
    }  # fmt: skip
    lines = [
        {
            "type": "SCHEMA",
            "stream": STREAM,
            "key_properties": ["event_id"],
            "schema": {"type": "object", "properties": {"event_time": {"type": "string", "format": "date-time"}}},
        }
    ]
    lines += [{"type": "RECORD", "stream": STREAM, "record": r} for r in RECORDS]  # fmt: skip
    target = TargetAmplitude(config=config, validate_config=True)
    with contextlib.redirect_stdout(io.StringIO()):
        target.listen(file_input=io.StringIO("".join(json.dumps(m) + "\n" for m in lines)))
    return target.summary


@pytest.mark.parametrize(("use_batch", "path"), [(False, "/2/httpapi"), (True, "/batch")])
def test_sdk_and_target_send_equivalent_requests(tmp_path: Path, use_batch: bool, path: str) -> None:
    by_sdk, by_target = Capture(), Capture()
    for server in (by_sdk, by_target):
        server.thread.start()
    try:
        send_with_sdk(by_sdk, path, use_batch=use_batch)
        summary = send_with_target(by_target, tmp_path, use_batch=use_batch)
    finally:
        for server in (by_sdk, by_target):
            server.server.shutdown()
            server.server.server_close()
    assert summary["sent"] == len(RECORDS) and summary["rejected"] == 0
    assert by_sdk.envelopes() == by_target.envelopes() == {(path, API_KEY, '{"min_id_length": 3}')}
    sdk, target = by_sdk.events(), by_target.events()
    assert set(sdk) == set(target) and len(sdk) == len(RECORDS)
    for insert_id, event in sdk.items():
        assert target[insert_id] == event, insert_id
    assert {e["library"].split("/")[0] for _p, b in by_target.requests for e in b["events"]} == {"target-amplitude"}
    assert {e["library"].split("/")[0] for _p, b in by_sdk.requests for e in b["events"]} == {"amplitude-python"}
