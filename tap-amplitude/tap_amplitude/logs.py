"""What a person reads in the log: the tap's progress lines, warnings and summary. The SDK's per-stream
chatter ("Beginning sync of ...", one per exported window for the child streams) and its METRIC lines
are shown only at debug level (`TAP_AMPLITUDE_LOGLEVEL=DEBUG`, or `LOGLEVEL=DEBUG`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

SDK_CHATTER = (
    "Beginning sync of ",
    "Beginning full_table sync of ",
    "Beginning incremental sync of ",
    "Added '",
    "Skipping deselected stream ",
    "Skipping parse of env var settings",
)


class _DebugOnly(logging.Filter):
    """Lets the SDK's chatter through only when the logger is at debug level."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not isinstance(record.msg, str):
            return True
        return not record.msg.startswith(SDK_CHATTER) or self.logger.isEnabledFor(logging.DEBUG)


def quiet_sdk(loggers: Iterable[logging.Logger], metrics_logger: logging.Logger) -> None:
    """Keep the SDK's chatter and METRIC lines out of an info-level log."""
    for logger in loggers:
        logger.addFilter(_DebugOnly(logger))
    if not metrics_logger.isEnabledFor(logging.DEBUG):
        metrics_logger.setLevel(logging.WARNING)
