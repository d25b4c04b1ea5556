"""What the receiver keeps from a Brevo webhook body: one spool item per event, whole or nothing.

A body is one event object or an array of them (batched webhooks; the batched shape is not documented, so an
object holding an array under `events`/`items`/`data` is accepted too). A single event must be an object with an
`event` string and a time (`ts_epoch`, `ts_event`, `ts` or `date`), else 400 with the reason. The items of a
batch are all kept and checked at emit time instead (an unreadable one skipped and counted): a 400 would stop
Brevo's retries, and lose the batch's other events with it. Event names are checked at emit time too: a name this
tap does not know is kept and later skipped (and counted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tap_brevo.events import webhook_time

_WRAPPERS = ("events", "items", "data")


class Refused(ValueError):
    """A body the receiver refuses (400); the message is the reason."""


def _items(payload: Any) -> list[Any]:
    if isinstance(payload, dict):
        for key in _WRAPPERS:
            if isinstance(payload.get(key), list) and "event" not in payload:
                payload = payload[key]
                break
        else:
            return [payload]
    if isinstance(payload, list):
        if not payload:
            raise Refused("an empty array: expected an event object, or an array of them")
        return payload
    raise Refused("expected an event object, or an array of them")


def check_item(item: Any) -> None:
    if not isinstance(item, dict):
        raise Refused("expected an event object")
    event = item.get("event")
    if not isinstance(event, str) or not event.strip():
        raise Refused("event must be a non-empty string")
    if webhook_time(item) is None:
        raise Refused("no time: expected ts_epoch, ts_event, ts or date")


def classifier(kind: str) -> Callable[[Any], list[tuple[str, Any]]]:
    """The receiver's classifier for one endpoint: every item spooled under `kind` (the endpoint's channel)."""

    def classify(payload: Any) -> list[tuple[str, Any]]:
        items = _items(payload)
        if len(items) == 1:
            check_item(items[0])
        return [(kind, item) for item in items]

    return classify
