"""Webhook receiver and durable spool: HTTP in, fsync before the 2xx, items read in order by the consumer."""

from webhook_receiver.app import HEALTH_PATH, Endpoint, build_app, shared_secret
from webhook_receiver.bookmark import read_delivered_seq, seq_in, set_seq
from webhook_receiver.committer import GroupCommitter
from webhook_receiver.server import Receiver, ReceiverError
from webhook_receiver.session import SessionSettings, SpoolSession
from webhook_receiver.spool import Spool, SpooledItem, SpoolError, SpoolFull, SpoolStats

__all__ = [
    "HEALTH_PATH",
    "Endpoint",
    "GroupCommitter",
    "Receiver",
    "ReceiverError",
    "SessionSettings",
    "Spool",
    "SpoolError",
    "SpoolFull",
    "SpoolSession",
    "SpoolStats",
    "SpooledItem",
    "build_app",
    "read_delivered_seq",
    "seq_in",
    "set_seq",
    "shared_secret",
]
