"""What the benchmarks share: a free loopback port, percentiles, a scratch PostgreSQL database."""

from __future__ import annotations

import math
import os
import socket
import subprocess

from sqlalchemy.engine import make_url

#: Databases a benchmark never drops, whatever it is told.
PROTECTED_DATABASES = frozenset({"postgres", "test", "template0", "template1"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pct(values: list[float], q: float) -> float:
    """The q-quantile by nearest rank (NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def recreate_database(url: str) -> None:
    """Drop and create the database `url` names (with PostgreSQL's own tools)."""
    name, pg, env = drop_database(url)
    subprocess.run(["createdb", *pg, name], check=True, env=env)


def drop_database(url: str) -> tuple[str, list[str], dict[str, str]]:
    """Drop the database `url` names, if it exists; returns its name, the connection options of
    PostgreSQL's tools for it and their environment."""
    parsed = make_url(url)
    name = parsed.database or ""
    if name in PROTECTED_DATABASES or not name:
        raise SystemExit(f"refusing to drop the database {name!r}; name one of your own")
    pg = ["-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432)]
    pg += ["-U", parsed.username or "postgres"]
    quiet = os.environ | {"PGOPTIONS": "-c client_min_messages=warning"}
    if parsed.password:
        quiet["PGPASSWORD"] = parsed.password
    subprocess.run(["dropdb", *pg, "--if-exists", "--force", name], check=True, env=quiet)
    return name, pg, quiet
