"""Runs every emulator's services on loopback, one port each, in one process and one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.admin import admin_routes
from sandbox.emulator import Emulator
from sandbox.faults import ADMIN_PREFIX, FaultRegistry, RequestLog, SandboxMiddleware

log = logging.getLogger("sandbox")

# Which real base URL each service stands in for (see the README's endpoint table).
SERVICES = {
    "amplitude_api": "https://amplitude.com",
    "amplitude_api_eu": "https://analytics.eu.amplitude.com",
    "amplitude_ingest": "https://api2.amplitude.com",
    "amplitude_ingest_eu": "https://api.eu.amplitude.com",
    "brevo": "https://api.brevo.com/v3",
}


@dataclass
class SandboxSettings:
    """How `sandbox serve` was started: address, ports, data directory, keys, emulator settings."""

    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)
    data_dir: Path | None = None
    amplitude_api_key: str = ""
    amplitude_secret_key: str = ""
    # The EU project's own keys, as a real EU project has; empty = the same keys as the US project.
    amplitude_eu_api_key: str = ""
    amplitude_eu_secret_key: str = ""
    brevo_api_key: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    # The fault rules of every port, and of what the emulators send themselves (Amplitude's webhook pushes).
    faults: FaultRegistry = field(default_factory=FaultRegistry)


class _Dispatch:
    """Sends `/_sandbox/...` to the admin app and everything else to the emulated service."""

    def __init__(self, service: ASGIApp, admin: ASGIApp) -> None:
        self.service = service
        self.admin = admin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")):
            await self.admin(scope, receive, send)
        else:
            await self.service(scope, receive, send)


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to us (several servers share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_emulators(settings: SandboxSettings) -> list[Emulator]:
    # Imported here, not at the top: `sandbox seed` and `--help` go through this module too.
    from sandbox.amplitude.app import AmplitudeEmulator
    from sandbox.brevo.app import BrevoEmulator

    return [AmplitudeEmulator(settings), BrevoEmulator(settings)]


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio then sets TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


def ready_document(settings: SandboxSettings, urls: dict[str, str]) -> dict[str, Any]:
    return {
        "amplitude": {
            "api": urls["amplitude_api"],
            "api_eu": urls["amplitude_api_eu"],
            "ingest": urls["amplitude_ingest"],
            "ingest_eu": urls["amplitude_ingest_eu"],
            "api_key": settings.amplitude_api_key,
            "secret_key": settings.amplitude_secret_key,
            "api_key_eu": settings.amplitude_eu_api_key or settings.amplitude_api_key,
            "secret_key_eu": settings.amplitude_eu_secret_key or settings.amplitude_secret_key,
        },
        "brevo": {"api": urls["brevo"] + "/v3", "api_key": settings.brevo_api_key},
        "pid": os.getpid(),
    }


async def serve(settings: SandboxSettings, ready_file: Path | None = None) -> None:
    own_tmp = None
    if settings.data_dir is None:
        own_tmp = tempfile.TemporaryDirectory(prefix="sandbox-")
        settings.data_dir = Path(own_tmp.name)
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    faults, request_log = settings.faults, RequestLog()
    emulators = build_emulators(settings)
    admin = Starlette(routes=admin_routes(emulators, faults, request_log))

    servers: list[tuple[_QuietServer, socket.socket]] = []
    urls: dict[str, str] = {}
    for emulator in emulators:
        for name, app in emulator.services().items():
            sock = _bind(settings.host, settings.ports.get(name, 0))
            port = sock.getsockname()[1]
            urls[name] = f"http://{settings.host}:{port}"
            wrapped = SandboxMiddleware(_Dispatch(app, admin), name, faults, request_log)
            config = uvicorn.Config(
                wrapped,
                log_level="warning",
                lifespan="off",
                timeout_keep_alive=30,
                access_log=False,
                date_header=False,  # the sandbox clock sets Date (see clock.py)
                server_header=False,
            )
            servers.append((_QuietServer(config), sock))

    missing = set(SERVICES) - set(urls)
    if missing:
        raise RuntimeError(f"emulators did not provide services: {sorted(missing)}")

    loop = asyncio.get_running_loop()

    def stop(*_: Any) -> None:
        for server, _sock in servers:
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)

    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in servers]
    while not all(server.started for server, _ in servers):
        if any(t.done() for t in tasks):
            for t in tasks:
                if t.done() and t.exception():
                    raise t.exception()  # type: ignore[misc]
            stop()
            break
        await asyncio.sleep(0.02)

    if ready_file is not None:
        doc = ready_document(settings, urls)
        tmp = ready_file.with_suffix(ready_file.suffix + ".tmp")
        tmp.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        os.chmod(tmp, 0o600)
        tmp.replace(ready_file)  # atomic: readers never see a half-written file
    for name, real_base in SERVICES.items():
        log.info("%-20s %s  (stands in for %s)", name, urls[name], real_base)
    log.info("sandbox ready; Ctrl-C to stop")

    try:
        await asyncio.gather(*tasks)
    finally:
        for emulator in emulators:
            close = getattr(emulator, "close", None)
            if close:
                close()
        if ready_file is not None:
            with contextlib.suppress(FileNotFoundError):
                ready_file.unlink()
        if own_tmp is not None:
            own_tmp.cleanup()
        log.info("sandbox stopped")
