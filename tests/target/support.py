"""Helpers for target-brevo tests: Singer message builders and an in-process run whose every Brevo
request is checked against the spec the sandbox serves."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from brevo_spec import assert_request_valid
from target_brevo.brevo import http as http_module
from target_brevo.target import TargetBrevo


def schema(stream: str, properties: dict[str, Any], keys: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "key_properties": keys or [],
        "schema": {"type": "object", "properties": properties},
    }


def record(stream: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": data}


def state(value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "STATE", "value": value}


S = {"type": ["string", "null"]}
I = {"type": ["integer", "null"]}
N = {"type": ["number", "null"]}
B = {"type": ["boolean", "null"]}
T = {"type": ["string", "null"], "format": "date-time"}
O = {"type": ["object", "null"], "additionalProperties": True}

USERS_SCHEMA = schema(
    "users",
    {"amplitude_id": {"type": "integer"}, "user_id": S, "last_active": T, "user_properties": O},
    ["amplitude_id"],
)
EVENTS_SCHEMA = schema(
    "events",
    {
        "uuid": {"type": "string"},
        "event_type": S,
        "event_time": T,
        "user_id": S,
        "event_properties": O,
        "user_properties": O,
    },
    ["uuid"],
)
REVENUE_SCHEMA = schema(
    "revenue",
    {
        "uuid": {"type": "string"},
        "event_time": T,
        "user_id": S,
        "revenue": N,
        "price": N,
        "quantity": N,
        "product_id": S,
        "revenue_type": S,
        "currency": S,
    },
    ["uuid"],
)
MEMBERS_SCHEMA = schema(
    "cohort_members",
    {
        "cohort_id": {"type": "string"},
        "cohort_name": S,
        "snapshot_id": {"type": "string"},
        "snapshot_size": {"type": "integer"},
        "position": {"type": "integer"},
        "snapshot_end": {"type": "boolean"},
        "amplitude_id": I,
        "user_id": S,
        "properties": O,
    },
    ["cohort_id", "snapshot_id", "position"],
)
COHORTS_SCHEMA = schema("cohorts", {"id": {"type": "string"}, "name": S, "size": I}, ["id"])


def user(n: int, **props: Any) -> dict[str, Any]:
    return record(
        "users",
        {
            "amplitude_id": n,
            "user_id": f"u{n}",
            "last_active": "2026-01-02T03:04:05Z",
            "user_properties": {"email": f"user{n}@example.com", **props},
        },
    )


def event(n: int, event_type: str = "Purchase", user_n: int | None = None, **props: Any) -> dict[str, Any]:
    u = n if user_n is None else user_n
    return record(
        "events",
        {
            "uuid": f"evt-{n}",
            "event_type": event_type,
            "event_time": "2026-01-02T03:04:05Z",
            "user_id": f"u{u}",
            "event_properties": props,
            "user_properties": {"email": f"user{u}@example.com"},
        },
    )


def members(
    cohort_id: str,
    name: str,
    users: list[int],
    *,
    snapshot: str = "snap1",
    complete: bool = True,
    size: int | None = None,
) -> list[dict[str, Any]]:
    size = len(users) if size is None else size
    base = {"cohort_id": cohort_id, "cohort_name": name, "snapshot_id": snapshot, "snapshot_size": size}
    out = [
        record(
            "cohort_members",
            {
                **base,
                "position": i,
                "snapshot_end": False,
                "amplitude_id": u,
                "user_id": f"u{u}",
                "properties": {"email": f"user{u}@example.com"},
            },
        )
        for i, u in enumerate(users, start=1)
    ]
    if complete:
        out.append(
            record(
                "cohort_members",
                {
                    **base,
                    "position": size + 1,
                    "snapshot_end": True,
                    "amplitude_id": None,
                    "user_id": None,
                    "properties": None,
                },
            )
        )
    return out


def to_lines(messages: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(m) + "\n" for m in messages)


@dataclass
class RunResult:
    states: list[dict[str, Any]]
    summary: dict[str, Any]
    stdout: str
    logs: str
    requests: list[tuple[str, str, Any]] = field(default_factory=list)


class _SpecHook:
    """A requests response hook: every request the target sends must match Brevo's spec."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any]] = []
        self.violations: list[str] = []

    def __call__(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        sent = response.request
        if sent.headers.get("content-type", "").startswith("multipart/"):
            self.seen.append((sent.method, sent.url, None))  # a file upload: the sandbox validates it
            return response
        body = orjson.loads(sent.body) if sent.body else None
        self.seen.append((sent.method, sent.url, body))
        try:
            assert_request_valid(sent.method, sent.url, body)
        except AssertionError as exc:
            self.violations.append(str(exc))
        return response


def run_target(
    config: dict[str, Any],
    messages: list[dict[str, Any]],
    *,
    expect_error: type[BaseException] | None = None,
) -> RunResult:
    hook = _SpecHook()
    original = http_module.BrevoHttp.__init__

    def patched(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.session.hooks["response"].append(hook)

    stdout = io.StringIO()
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    logging.getLogger("target_brevo").setLevel(logging.INFO)
    http_module.BrevoHttp.__init__ = patched  # type: ignore[method-assign]
    error: BaseException | None = None
    try:
        with contextlib.redirect_stdout(stdout):
            target = TargetBrevo(config=config, validate_config=True)
            try:
                target.listen(io.StringIO(to_lines(messages)))
            except BaseException as exc:  # noqa: BLE001
                error = exc
                target.finish(ok=False)
    finally:
        http_module.BrevoHttp.__init__ = original  # type: ignore[method-assign]
        root.removeHandler(handler)
    if expect_error is not None:
        assert isinstance(error, expect_error), f"expected {expect_error.__name__}, got {error!r}"
    elif error is not None:
        raise error
    assert not hook.violations, "requests outside Brevo's spec:\n" + "\n".join(hook.violations)
    text = logs.getvalue()
    summary: dict[str, Any] = getattr(target, "summary", {})
    assert "target-brevo run summary: " in text
    states = [json.loads(line) for line in stdout.getvalue().splitlines() if line.strip()]
    return RunResult(states, summary, stdout.getvalue(), text, hook.seen)
