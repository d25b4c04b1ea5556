"""`make demo`'s live section: what it reads from meltano.yml, what the app sends, and its port check."""

from __future__ import annotations

import socket
from pathlib import Path

from demo.live import EXISTING_USER, SEED_EXAMPLE, app_requests
from demo.project import plugin_config
from demo.service import ServiceSettings, port_is_free

REPO = Path(__file__).resolve().parents[2]


def test_the_live_section_reads_the_demo_environment_and_the_receiver_prunes_what_the_target_delivered() -> None:
    settings = ServiceSettings.from_project(REPO, "demo")
    assert settings.port == 27806 and settings.secret.startswith("Bearer ")
    assert settings.stream_url == "http://127.0.0.1:27806/amplitude/stream"
    # the demo's spool and state live in .demo/, which `make demo-reset` removes
    assert settings.spool_path.parent == settings.delivered_state_file.parent == REPO / ".demo"
    target = plugin_config("loaders", "target-brevo-realtime", "demo")
    # the "spool drained" check compares the receiver's last seq with the STATE the target acknowledged there
    assert REPO / target["state_ack_file"] == settings.delivered_state_file
    assert settings.summary_file == REPO / target["summary_file"]


def test_the_app_sends_a_signup_a_purchase_of_a_known_user_and_the_seed_example_each_once() -> None:
    moments = app_requests(chapter=3, now_ms=1_800_000_000_000)
    events = [event for moment in moments for event in moment]
    assert len({e["insert_id"] for e in events}) == len(events), "HTTP V2 would drop a repeated insert_id"
    assert {e["time"] for e in events} == {1_800_000_000_000}
    assert [(e["user_id"], e["event_type"]) for e in events] == [
        ("live-0003", "$identify"),
        ("live-0003", "Sign Up"),
        (EXISTING_USER, "Add to Cart"),
        (EXISTING_USER, "Purchase"),
        ("user_123", "Purchase"),
    ]
    assert events[0]["user_properties"]["$set"]["email"] == "ada.live3@example.com"
    assert {k: events[-1][k] for k in SEED_EXAMPLE} == SEED_EXAMPLE
    assert app_requests(chapter=4, now_ms=0)[0][0]["user_id"] == "live-0004", "each chapter brings a new user"


def test_a_port_with_a_listener_is_taken() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not port_is_free(port)
    assert port_is_free(port)
