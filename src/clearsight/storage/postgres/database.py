"""``PgDatabase``: the one owner of a PostgreSQL database for a process (the store, the audit
chain and the access keys), as :class:`~..sqlite.database.Database` is of ``clearsight.db``.

- Connections: one per thread, autocommit, so a read outside a transaction sees the latest commit;
  a broken connection (the server restarted) is replaced on next use.
- One writer at a time: :meth:`PgDatabase.transaction` holds the process's write lock and, inside
  the transaction, ``pg_advisory_xact_lock`` (which serialises with every other process writing
  this database, as SQLite's ``BEGIN IMMEDIATE`` does). Serial writers are what make the change
  log safe to replay: a seq is issued and committed before the next writer can issue one, so an
  index that has applied seq N can never later see a seq below N appear.
- Schema: numbered migrations (:mod:`.migrations`), applied under the advisory lock at open; a
  database from a newer ClearSight is refused rather than written.
- Errors: every ``psycopg.Error`` becomes a :class:`~clearsight.errors.StorageError` here and only
  here (:func:`translate`); a full disk says nothing was written.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from ...errors import StorageError
from .migrations import MIGRATIONS, Migration

__all__ = ["WRITE_LOCK", "PgDatabase", "dropped", "open_pg_database", "redact", "translate"]

WRITE_LOCK = 0x436C5369  # pg_advisory_xact_lock key every ClearSight writer of a database takes ("ClSi")


def redact(url: str) -> str:
    """The URL without its password (for messages)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://..."
    info.pop("password", None)
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items() if v is not None})


def translate(exc: psycopg.Error, what: str) -> StorageError:
    """A PostgreSQL error as the StorageError to raise (``raise translate(...) from exc``)."""
    state = getattr(exc, "sqlstate", None) or ""
    if state == "53100":  # disk_full
        return StorageError("the server's storage is full: nothing was written (reads still work); "
                            "retry when disk space has been freed")
    if isinstance(exc, psycopg.OperationalError) and not state:
        return StorageError(f"{what}: cannot reach the PostgreSQL server ({str(exc).strip()}); "
                            "check storage_url and that the server is running")
    return StorageError(f"{what}: {str(exc).strip()}")


def dropped(conn: psycopg.Connection[Any], exc: psycopg.Error) -> bool:
    """Whether the error says the server dropped the connection (restart, failover, terminated)."""
    state = getattr(exc, "sqlstate", None) or ""
    return conn.closed or conn.broken or state.startswith(("57P", "08"))


class PgDatabase:
    param = "%s"  # psycopg's parameter marker (storage/keys.py)

    def __init__(self, url: str, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.url = url
        self.migrations = tuple(migrations)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._all: list[psycopg.Connection[Any]] = []
        self._all_lock = threading.Lock()
        self.migrate()

    # --- connections ----------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=30)
            conn.execute("SET statement_timeout = 0")
            if self.version_quiet(conn) > 0:
                self._register(conn)
        except psycopg.Error as exc:
            raise translate(exc, f"cannot open the database {redact(self.url)}") from exc
        with self._all_lock:
            self._all.append(conn)
        return conn

    @staticmethod
    def _register(conn: psycopg.Connection[Any]) -> None:
        from pgvector.psycopg import register_vector

        register_vector(conn)

    @staticmethod
    def version_quiet(conn: psycopg.Connection[Any]) -> int:
        row = conn.execute("SELECT to_regclass('clearsight_schema') IS NOT NULL").fetchone()
        if not row or not row[0]:
            return 0
        found = conn.execute("SELECT max(version) FROM clearsight_schema").fetchone()
        return int(found[0] or 0) if found else 0

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """This thread's connection (autocommit), reopened if the server dropped it."""
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._local.conn = self._connect()
        return conn

    def close(self) -> None:
        """Close this thread's connection (the next use opens a new one)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            with self._all_lock:
                self._all = [c for c in self._all if c is not conn]

    def close_all(self) -> None:
        """Close every connection this object opened (any thread's)."""
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def __del__(self) -> None:
        self.close_all()

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Translate psycopg errors raised inside the block."""
        try:
            yield
        except psycopg.Error as exc:
            raise translate(exc, what) from exc

    # --- reading --------------------------------------------------------------------------
    def read(self, query: str | sql.Composed, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One statement's rows; retried once on a new connection when the server dropped this one
        (it restarted, or failed over): a read is safe to repeat."""
        with self.errors("database read failed"):
            try:
                return self.connection.execute(query, args).fetchall()
            except psycopg.OperationalError as exc:
                if not dropped(self.connection, exc):
                    raise
                self.close()
                return self.connection.execute(query, args).fetchall()

    @contextmanager
    def snapshot(self) -> Iterator[psycopg.Connection[Any]]:
        """Several reads that see one state of the database (a REPEATABLE READ read-only transaction)."""
        conn = self.connection
        with self.errors("database read failed"):
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield conn
            finally:
                if not conn.closed:
                    conn.execute("COMMIT")

    # --- writing --------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A write transaction, serialised with every other writer of this process (the lock) and of
        others (the advisory lock); rolled back on any exception."""
        with self._write_lock:
            conn = self._begun()
            committing = False
            try:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                yield conn
                committing = True
                conn.execute("COMMIT")
            except BaseException as exc:
                if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    try:
                        conn.execute("ROLLBACK")
                    except psycopg.Error:
                        conn.close()
                if committing and isinstance(exc, psycopg.OperationalError) and dropped(conn, exc):
                    raise StorageError("the connection to PostgreSQL was lost while committing: the write may or "
                                       "may not have been stored; read before retrying") from exc
                if isinstance(exc, psycopg.Error):
                    raise translate(exc, "database write failed, nothing was written") from exc
                raise

    def _begun(self) -> psycopg.Connection[Any]:
        """This thread's connection with a transaction begun (on a new connection if the server
        dropped the old one: nothing was sent yet, so that is safe)."""
        try:
            conn = self.connection
            try:
                conn.execute("BEGIN")
            except psycopg.OperationalError as exc:
                if not dropped(conn, exc):
                    raise
                self.close()
                conn = self.connection
                conn.execute("BEGIN")
        except psycopg.Error as exc:
            raise translate(exc, "database write failed, nothing was written") from exc
        return conn

    @contextmanager
    def exclusive(self, what: str) -> Iterator[psycopg.Connection[Any]]:
        """The connection under the write lock, outside a transaction (VACUUM FULL, CHECKPOINT)."""
        with self._write_lock, self.errors(what):
            yield self.connection

    # --- schema ---------------------------------------------------------------------------
    @property
    def version(self) -> int:
        with self.errors("database read failed"):
            return self.version_quiet(self.connection)

    def migrate(self) -> int:
        """Apply the migrations this database lacks in one transaction; returns the schema version."""
        latest = max((m.version for m in self.migrations), default=0)
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=30)
        except psycopg.Error as exc:
            raise translate(exc, f"cannot open the database {redact(self.url)}") from exc
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                current = self.version_quiet(conn)
                if current > latest:
                    raise StorageError(
                        f"the database {redact(self.url)} has schema version {current}, newer than this "
                        f"ClearSight knows ({latest}): upgrade ClearSight")
                for migration in sorted(self.migrations, key=lambda m: m.version):
                    if migration.version > current:
                        for statement in migration.statements:
                            conn.execute(statement)
                        conn.execute("INSERT INTO clearsight_schema VALUES (%s, %s, now())",
                                     (migration.version, migration.name))
        except psycopg.Error as exc:
            raise translate(exc, f"cannot initialise the database {redact(self.url)}") from exc
        finally:
            conn.close()
        return max(latest, current)


_open: weakref.WeakValueDictionary[str, PgDatabase] = weakref.WeakValueDictionary()
_open_lock = threading.Lock()


def open_pg_database(url: str) -> PgDatabase:
    """This process's PgDatabase for ``url`` (one per database, shared while anyone holds it), so
    the store and the key store of a server share the write lock and the connections."""
    with _open_lock:
        db = _open.get(url)
        if db is None:
            db = _open[url] = PgDatabase(url)
        return db
