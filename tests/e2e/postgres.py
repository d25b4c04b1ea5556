"""Where the end-to-end tests find PostgreSQL, and how each client is pointed at it."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlalchemy.engine import URL

# What our users have (README "Other sources and PostgreSQL"): a local server, trust auth, database `test`.
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server and the database the tests work in."""

    host: str
    port: int
    user: str
    database: str
    password: str = ""

    @classmethod
    def from_url(cls, url: str) -> Postgres:
        """From a libpq URL or key=value string; what it leaves out is taken from DEFAULT_URL."""
        given = {**conninfo_to_dict(DEFAULT_URL), **conninfo_to_dict(url)}
        return cls(
            str(given["host"]),
            int(given["port"]),
            str(given["user"]),
            str(given["dbname"]),
            str(given.get("password") or ""),
        )

    def answers(self, timeout: float = 2) -> bool:
        """Whether something accepts connections at host:port."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return True
        except OSError:
            return False

    def conninfo(self, database: str | None = None) -> str:
        """For psycopg: the tests' database, or `database`."""
        return make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname=database or self.database,
            password=self.password or None,
        )

    def sqlalchemy_url(self, database: str | None = None) -> str:
        """For Meltano's system database (`MELTANO_DATABASE_URI`)."""
        url = URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=self.password or None,
            host=self.host,
            port=self.port,
            database=database or self.database,
        )
        return url.render_as_string(hide_password=False)

    def plugin_env(self, *plugins: str) -> dict[str, str]:
        """Meltano's environment overrides of host, port, user, password and database, for each plugin named."""
        env = {}
        for plugin in plugins:
            prefix = plugin.upper().replace("-", "_")
            env |= {
                f"{prefix}_HOST": self.host,
                f"{prefix}_PORT": str(self.port),
                f"{prefix}_USER": self.user,
                f"{prefix}_DATABASE": self.database,
            }
            if self.password:
                env[f"{prefix}_PASSWORD"] = self.password
        return env
