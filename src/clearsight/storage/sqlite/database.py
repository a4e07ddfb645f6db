"""``Database``: the one owner of ``clearsight.db`` (the store, the audit chain, access keys, and
jobs next).

- Readers: a connection per thread (WAL mode, so reads never wait for the writer).
- One writer: :meth:`Database.transaction` holds the process's write lock and ``BEGIN
  IMMEDIATE`` (which serialises with other processes), commits, or rolls back on any exception.
- Schema: numbered migrations (:mod:`.migrations`), applied under the write lock at open; a
  database from a newer ClearSight is refused rather than written.
- Files: created 0600 before SQLite opens them (SQLite gives its -wal and -shm the same mode).
- Errors: every ``sqlite3.Error`` becomes a :class:`~clearsight.errors.StorageError` here and
  only here; a full disk says nothing was written, a damaged file says how to recover.

:func:`open_database` returns the process's one ``Database`` for a path, so the store and the
key store of a server share the write lock as well as the file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...errors import StorageError
from .migrations import MIGRATIONS, Migration

__all__ = ["RECOVERY", "Database", "damaged", "insert_row", "open_database", "quick_check", "translate"]

RECOVERY = ("stop every ClearSight process using it, move the damaged file (and its -wal and -shm) aside, "
            "then restore the latest backup (`clearsight backup DEST` makes one; docs/operations.md) or salvage "
            "what is readable with `sqlite3 clearsight.db .recover | sqlite3 recovered.db`")
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON", "PRAGMA secure_delete=ON")


def insert_row(db: sqlite3.Connection, table: str, row: object) -> None:
    """INSERT a dataclass row whose fields are the table's columns (``table`` is ours, never a caller's)."""
    names = list(vars(row))
    db.execute(f"INSERT INTO {table} ({','.join(names)}) VALUES ({','.join('?' * len(names))})",
               [getattr(row, n) for n in names])


def damaged(path: Path, detail: str) -> StorageError:
    return StorageError(f"the database {path} is damaged ({detail}); {RECOVERY}")


def translate(exc: sqlite3.Error, what: str, path: Path) -> StorageError:
    """An SQLite error as the StorageError to raise (``raise translate(...) from exc``)."""
    if type(exc) is sqlite3.DatabaseError or "malformed" in str(exc) or "not a database" in str(exc):
        return damaged(path, f"{what}: {exc}")
    return StorageError(f"{what}: {exc}")


def write_error(exc: sqlite3.Error, path: Path) -> StorageError:
    """A failed write transaction (rolled back: nothing of it was stored) as the error to answer."""
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return StorageError("the server's storage is full: nothing was written (reads still work); "
                            "retry when disk space has been freed")
    return translate(exc, "database write failed, nothing was written", path)


def quick_check(path: Path) -> None:
    """``PRAGMA quick_check`` without opening (or migrating) through a Database; StorageError if damaged."""
    try:
        db = sqlite3.connect(path, timeout=30)
        try:
            problems = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise damaged(path, str(exc)) from exc
    if problems != ["ok"]:
        raise damaged(path, "; ".join(problems[:5]))


class Database:
    param = "?"  # sqlite3's parameter marker (storage/keys.py)

    def __init__(self, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = path
        self.migrations = tuple(migrations)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():  # SQLite creates -wal and -shm with the main file's mode
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self.migrate()

    # --- connections ----------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            for pragma in PRAGMAS:
                db.execute(pragma)
        except sqlite3.Error as exc:
            raise translate(exc, f"cannot open the database {self.path}", self.path) from exc
        return db

    @property
    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; reads outside a transaction see the latest commit)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    def close(self) -> None:
        """Close this thread's connection (the next use opens a new one)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Translate SQLite errors raised inside the block."""
        try:
            yield
        except sqlite3.Error as exc:
            raise translate(exc, what, self.path) from exc

    # --- reading --------------------------------------------------------------------------
    def read(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self.errors("database read failed"):
            return self.connection.execute(sql, args).fetchall()

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """Several reads that see one state of the database (a read transaction)."""
        db = self.connection
        with self.errors("database read failed"):
            db.execute("BEGIN")
            try:
                yield db
            finally:
                db.execute("COMMIT")

    # --- writing --------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT), serialised with every other writer of
        this process (the lock) and of others (SQLite's); rolled back on any exception."""
        with self._write_lock:
            db = self.connection
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise write_error(exc, self.path) from exc
                raise

    @contextmanager
    def exclusive(self, what: str) -> Iterator[sqlite3.Connection]:
        """The connection under the write lock, outside a transaction (VACUUM, WAL checkpoints)."""
        with self._write_lock, self.errors(what):
            yield self.connection

    # --- schema ---------------------------------------------------------------------------
    @property
    def version(self) -> int:
        return int(self.read("PRAGMA user_version")[0][0])

    def migrate(self) -> int:
        """Apply the migrations this database lacks (and re-apply the idempotent ones) in one write
        transaction; returns the schema version. A newer database than this code knows is refused."""
        latest = max((m.version for m in self.migrations), default=0)
        try:
            with self.transaction() as db:
                current = int(db.execute("PRAGMA user_version").fetchone()[0])
                if current > latest:
                    raise StorageError(
                        f"the database {self.path} has schema version {current}, newer than this ClearSight "
                        f"knows ({latest}): upgrade ClearSight, or restore a backup made by this version")
                for migration in sorted(self.migrations, key=lambda m: m.version):
                    if migration.version > current or migration.reapply:
                        for statement in migration.statements:
                            db.execute(statement)
                if latest > current:
                    db.execute(f"PRAGMA user_version={int(latest)}")
        except StorageError as exc:
            if "newer than" in exc.message or "damaged" in exc.message:
                raise
            raise StorageError(f"cannot initialise the database {self.path}: {exc.message}") from exc
        return max(latest, current)

    # --- maintenance ----------------------------------------------------------------------
    def vacuum(self) -> None:
        """Rewrite the file and truncate the WAL so deleted rows leave no bytes behind."""
        with self.exclusive("vacuum failed") as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def checkpoint(self) -> None:
        with self.exclusive("checkpoint failed") as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def size_bytes(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def backup_to(self, dest: Path) -> None:
        """A consistent copy at ``dest`` (created 0600) with SQLite's online backup API: safe while
        this and other processes write."""
        os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        with self.errors(f"backup to {dest} failed"):
            target = sqlite3.connect(dest)
            try:
                self.connection.backup(target)
            finally:
                target.close()


_open: weakref.WeakValueDictionary[str, Database] = weakref.WeakValueDictionary()
_open_lock = threading.Lock()


def open_database(path: Path) -> Database:
    """This process's Database for ``path`` (one per file, shared while anyone holds it)."""
    key = str(path.resolve())
    with _open_lock:
        db = _open.get(key)
        if db is None:
            db = _open[key] = Database(path)
        return db
