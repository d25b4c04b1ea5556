"""The receiver: the app under uvicorn in a background thread of the consuming process.

`start()` returns once the socket is listening (port 0 picks a free port: see `port`). `stop()` stops accepting,
lets in-flight requests finish (their items reach the spool or are refused), then stops the committer; the
consumer can then drain the spool knowing nothing more will arrive.
"""

from __future__ import annotations

import threading
import time

import uvicorn

from webhook_receiver.app import Endpoint, build_app
from webhook_receiver.committer import GroupCommitter
from webhook_receiver.spool import Spool

START_TIMEOUT_SECONDS = 10.0
GRACEFUL_SHUTDOWN_SECONDS = 10  # in-flight requests get this long to finish on stop()


class ReceiverError(Exception):
    """The receiver could not start (address in use, bad host, ...)."""


class Receiver:
    """Serves `endpoints` on host:port, keeping what they accept in `spool`."""

    def __init__(self, endpoints: list[Endpoint], spool: Spool, *, host: str, port: int, max_body_bytes: int) -> None:
        self.spool = spool
        self.host = host
        self._committer = GroupCommitter(spool)
        try:
            app, self.counts = build_app(endpoints, self._committer, max_body_bytes=max_body_bytes)
            config = uvicorn.Config(
                app,
                host=host,
                port=port,
                log_config=None,  # leave the process's logging alone (and stdout clean: it may carry Singer messages)
                log_level="warning",
                access_log=False,
                lifespan="off",
                server_header=False,
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            )
            self._server = uvicorn.Server(config)
        except BaseException:
            self._committer.close()  # its thread would outlive a receiver that never started
            raise
        self._thread = threading.Thread(target=self._serve, name="webhook-receiver", daemon=True)
        self.port = port

    def _serve(self) -> None:
        try:
            self._server.run()
        except SystemExit:
            pass  # uvicorn exits this way when it cannot start, after logging why; start() reports it

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                self._committer.close()
                raise ReceiverError(f"could not listen on {self.host}:{self.port} (see the log above)")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    def request_stop(self) -> None:
        """Stop accepting connections soon; safe from a signal handler (it only sets a flag)."""
        self._server.should_exit = True

    def stop(self) -> None:
        """Stop accepting, wait for in-flight requests, then stop committing."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(GRACEFUL_SHUTDOWN_SECONDS + 5)
        self._committer.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()
