"""`sandbox` command line: `sandbox serve` runs every emulator on loopback."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import sys
import threading
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
    s.add_argument(
        "--ready-file", type=Path, help="write the endpoints and keys here (JSON) once every port accepts connections"
    )
    s.add_argument("--data-dir", type=Path, help="where emulators keep their stores (default: a temporary directory)")
    s.add_argument("--amplitude-api-key", help="Amplitude project API key to accept (default: random)")
    s.add_argument("--amplitude-secret-key", help="Amplitude project secret key to accept (default: random)")
    s.add_argument("--amplitude-eu-api-key", help="the EU project's API key (default: the same as the US project's)")
    s.add_argument("--amplitude-eu-secret-key", help="the EU project's secret key (default: the US project's)")
    s.add_argument("--brevo-api-key", help="Brevo api-key to accept (default: random xkeysib-...)")
    s.add_argument(
        "--set",
        type=_option,
        action="append",
        default=[],
        metavar="EMULATOR.SETTING=VALUE",
        help="emulator setting at start (same names as PATCH /_sandbox/<emulator>/config)",
    )
    s.add_argument(
        "--app",
        type=Path,
        help="once serving, seed the simulated app described in this YAML file (sizes, region, your event type, "
        "user property and cohort names; see sandbox/my-app.example.yaml) and move the clock past the export "
        "latency; needs --ready-file",
    )
    s.add_argument("-v", "--verbose", action="store_true")

    d = sub.add_parser(
        "seed",
        help="seed the Amplitude emulator with a simulated app's data",
        description="Without --bulk: a simulated app sends events through the ingestion API over HTTP, moving the "
        "sandbox clock along the time span. With --bulk: the stored form is written directly (millions of events), "
        "through the running sandbox (--ready-file) or straight into a --data-dir before `sandbox serve`.",
    )
    d.add_argument("--ready-file", type=Path, help="the running sandbox's ready file")
    d.add_argument("--data-dir", type=Path, help="with --bulk and no --ready-file: write into this data directory")
    d.add_argument("--seed", type=int, default=42, help="random seed (default 42): same seed and sizes, same data")
    d.add_argument("--users", type=int, default=1000, help="number of users (default 1000)")
    d.add_argument("--events", type=int, default=20000, help="number of events (default 20000)")
    d.add_argument("--days", type=float, default=14, help="time span in days (default 14)")
    d.add_argument("--start", help="first moment of the span, ISO 8601 (default: sandbox now minus --days)")
    d.add_argument("--region", choices=["us", "eu"], default="us", help="data center (default us)")
    d.add_argument("--bulk", action="store_true", help="write the stored form directly instead of calling the API")
    d.add_argument("--app", type=Path, help="an app description (YAML): its sizes and names win over the flags")
    return parser


def read_app(path: Path) -> dict[str, Any]:
    """Seed parameters from an app description: `users`, `events`, `days`, `region`, `seed` and `names`."""
    import yaml

    from sandbox.amplitude.seed_plan import SeedParams

    raw = yaml.safe_load(path.read_text()) or {}
    allowed = {"seed", "users", "events", "days", "region", "names"}
    if not isinstance(raw, dict) or set(raw) - allowed:
        raise SystemExit(f"{path}: expected a mapping with {', '.join(sorted(allowed))}")
    try:
        SeedParams.parse(raw)
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"{path}: {exc}") from exc
    return raw


def _seed_app_when_ready(ready_file: Path, app: dict[str, Any]) -> None:
    """`serve --app`: wait for the ready file, seed the app over HTTP, then let the export latency pass."""
    import time
    from datetime import UTC, datetime, timedelta

    import requests

    from sandbox.amplitude import seed

    while not ready_file.exists():
        time.sleep(0.05)
    info = orjson.loads(ready_file.read_bytes())
    log = logging.getLogger("sandbox.app")
    log.info("seeding the app described in --app ...")
    result = seed.seed_over_http(info, app)
    end = datetime.fromisoformat(result["end"]).astimezone(UTC)
    exportable = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=4, minutes=5)
    requests.put(info["amplitude"]["api"] + "/_sandbox/clock", json={"now": exportable.isoformat()}, timeout=30)
    log.info(
        "app seeded: %d events from %d users (%s .. %s UTC), cohorts %s; clock set to %s so every hour is exportable",
        result["events"], result["users"], result["start"][:16], result["end"][:16],
        ", ".join(f"{name} ({c['size']})" for name, c in result["cohorts"].items()), exportable.isoformat()[:16],
    )  # fmt: skip


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
            amplitude_eu_api_key=args.amplitude_eu_api_key or "",
            amplitude_eu_secret_key=args.amplitude_eu_secret_key or "",
            brevo_api_key=args.brevo_api_key or "xkeysib-" + secrets.token_hex(32) + "-" + secrets.token_hex(8),
            options=options,
        )
        if args.app is not None:
            if args.ready_file is None:
                raise SystemExit("sandbox serve --app needs --ready-file")
            app = read_app(args.app)
            args.ready_file.unlink(missing_ok=True)
            threading.Thread(target=_seed_app_when_ready, args=(args.ready_file, app), daemon=True).start()
        try:
            asyncio.run(serve(settings, args.ready_file))
        except KeyboardInterrupt:
            pass
    elif args.command == "seed":
        sys.stdout.write(orjson.dumps(_seed(args), option=orjson.OPT_INDENT_2).decode() + "\n")


def _seed(args: argparse.Namespace) -> dict[str, Any]:
    from sandbox.amplitude import seed

    params: dict[str, Any] = {
        "seed": args.seed,
        "users": args.users,
        "events": args.events,
        "days": args.days,
        "region": args.region,
        "mode": "bulk" if args.bulk else "api",
    }
    if args.start:
        params["start"] = args.start
    if args.app:
        params.update(read_app(args.app))
    if args.ready_file is None:
        if not (args.bulk and args.data_dir):
            raise SystemExit("sandbox seed: give --ready-file (a running sandbox), or --bulk with --data-dir")
        return seed.bulk_into_data_dir(args.data_dir, params)
    info = orjson.loads(args.ready_file.read_bytes())
    if args.bulk:
        import requests

        response = requests.post(info["amplitude"]["api"] + "/_sandbox/amplitude/seed", json=params, timeout=3600)
        if response.status_code >= 400:
            raise SystemExit(f"sandbox seed: {response.status_code} {response.text}")
        return response.json()
    return seed.seed_over_http(info, params)
