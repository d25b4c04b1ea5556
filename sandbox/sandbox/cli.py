"""`sandbox` command line: `sandbox serve` runs every emulator on loopback."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import sys
from pathlib import Path
from typing import Any

import orjson

from sandbox.server import SERVICES, SandboxSettings, serve


def _port(spec: str) -> tuple[str, int]:
    name, _, port = spec.partition("=")
    if name not in SERVICES or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected SERVICE=PORT with SERVICE in {', '.join(SERVICES)}")
    return name, int(port)


def _option(spec: str) -> tuple[str, Any]:
    key, sep, raw = spec.partition("=")
    if not sep or "." not in key:
        raise argparse.ArgumentTypeError("expected EMULATOR.SETTING=VALUE, e.g. amplitude.export_latency_hours=0")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = raw
    return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="start the Amplitude and Brevo emulators on 127.0.0.1")
    s.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    s.add_argument(
        "--port",
        type=_port,
        action="append",
        default=[],
        metavar="SERVICE=PORT",
        help=f"fixed port for a service ({', '.join(SERVICES)}); default: a free port",
    )
    s.add_argument("--ready-file", type=Path, help="write the endpoints and keys here (JSON) once every port accepts connections")
    s.add_argument("--data-dir", type=Path, help="where emulators keep their stores (default: a temporary directory)")
    s.add_argument("--amplitude-api-key", help="Amplitude project API key to accept (default: random)")
    s.add_argument("--amplitude-secret-key", help="Amplitude project secret key to accept (default: random)")
    s.add_argument("--brevo-api-key", help="Brevo api-key to accept (default: random xkeysib-...)")
    s.add_argument(
        "--set",
        type=_option,
        action="append",
        default=[],
        metavar="EMULATOR.SETTING=VALUE",
        help="emulator setting at start (same names as PATCH /_sandbox/<emulator>/config)",
    )
    s.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    if args.command == "serve":
        options: dict[str, dict[str, Any]] = {}
        for key, value in args.set:
            emulator, _, setting = key.partition(".")
            options.setdefault(emulator, {})[setting] = value
        settings = SandboxSettings(
            host=args.host,
            ports=dict(args.port),
            data_dir=args.data_dir,
            amplitude_api_key=args.amplitude_api_key or secrets.token_hex(16),
            amplitude_secret_key=args.amplitude_secret_key or secrets.token_hex(16),
            brevo_api_key=args.brevo_api_key or "xkeysib-" + secrets.token_hex(32) + "-" + secrets.token_hex(8),
            options=options,
        )
        try:
            asyncio.run(serve(settings, args.ready_file))
        except KeyboardInterrupt:
            pass
