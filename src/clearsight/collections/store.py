"""SQLite storage: the source of truth for collections, faces, users and vectors.

One file, WAL mode, ``secure_delete`` on (deleted rows are overwritten, not left in free
pages). Writers are serialised by a lock and each public write is one transaction, so a face
whose IndexFaces call returned is durable and a crash never leaves half a face. Readers use a
connection per thread. The ``changes`` table is an append-only log of face additions and
deletions that vector indexes replay to catch up after a restart.

This module is the storage interface; a server database can implement the same methods.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ClearSightError, ConflictException, ResourceAlreadyExistsException, ResourceNotFoundException

SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    collection_id TEXT PRIMARY KEY,
    face_model TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    created REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS faces (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    face_id TEXT NOT NULL UNIQUE,
    collection_id TEXT NOT NULL REFERENCES collections(collection_id) ON DELETE CASCADE,
    image_id TEXT NOT NULL,
    external_image_id TEXT,
    bbox TEXT NOT NULL,
    confidence REAL NOT NULL,
    user_id TEXT,
    created REAL NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS faces_by_collection ON faces(collection_id, face_id);
CREATE INDEX IF NOT EXISTS faces_by_user ON faces(collection_id, user_id);
CREATE TABLE IF NOT EXISTS users (
    collection_id TEXT NOT NULL REFERENCES collections(collection_id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (collection_id, user_id)
);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id TEXT NOT NULL,
    face_id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('add', 'del'))
);
CREATE TABLE IF NOT EXISTS sources (
    collection_id TEXT NOT NULL REFERENCES collections(collection_id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    image_id TEXT NOT NULL,
    PRIMARY KEY (collection_id, source)
);
CREATE TABLE IF NOT EXISTS policies (
    collection_id TEXT PRIMARY KEY REFERENCES collections(collection_id) ON DELETE CASCADE,
    policy TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


AuditHook = Callable[[sqlite3.Connection], object]  # appends an audit record inside a transaction


class StorageError(ClearSightError):
    """The database could not be read or written."""


@dataclass(frozen=True)
class CollectionRow:
    collection_id: str
    face_model: str
    dimension: int
    created: float
    tags: dict[str, str]


@dataclass(frozen=True)
class FaceRow:
    face_id: str
    collection_id: str
    image_id: str
    external_image_id: str | None
    bbox: dict[str, float]
    confidence: float
    user_id: str | None
    created: float


@dataclass(frozen=True)
class NewFace:
    face_id: str
    image_id: str
    external_image_id: str | None
    bbox: dict[str, float]
    confidence: float
    vector: np.ndarray


def _write_error(exc: sqlite3.Error) -> StorageError:
    """A failed write transaction (rolled back: nothing of it was stored) as the error to answer."""
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return StorageError("the server's storage is full: nothing was written (reads still work); "
                            "retry when disk space has been freed")
    return StorageError(f"database write failed, nothing was written: {exc}")


def _face(row: sqlite3.Row) -> FaceRow:
    return FaceRow(row["face_id"], row["collection_id"], row["image_id"], row["external_image_id"],
                   json.loads(row["bbox"]), row["confidence"], row["user_id"], row["created"])


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        with self._write_lock:
            try:
                self.db.executescript(SCHEMA)
            except sqlite3.Error as exc:
                raise StorageError(f"cannot initialise the database {path}: {exc}") from exc

    # --- connections ----------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA secure_delete=ON")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the database {self.path}: {exc}") from exc
        return db

    @property
    def db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            db = self.db
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _write_error(exc) from exc
                raise

    def transaction(self) -> Any:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT), serialised with every other writer."""
        return self._write()

    @contextmanager
    def connection_for_schema(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            yield self.db

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"database read failed: {exc}") from exc

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # --- collections ----------------------------------------------------------------------
    def create_collection(self, collection_id: str, face_model: str, dimension: int,
                          tags: dict[str, str] | None = None) -> CollectionRow:
        now = time.time()
        with self._write() as db:
            if db.execute("SELECT 1 FROM collections WHERE collection_id=?", (collection_id,)).fetchone():
                raise ResourceAlreadyExistsException(f"collection {collection_id!r} already exists")
            db.execute("INSERT INTO collections VALUES (?,?,?,?,?)",
                       (collection_id, face_model, dimension, now, json.dumps(tags or {})))
        return CollectionRow(collection_id, face_model, dimension, now, tags or {})

    def collection(self, collection_id: str) -> CollectionRow:
        rows = self._read("SELECT * FROM collections WHERE collection_id=?", (collection_id,))
        if not rows:
            raise ResourceNotFoundException(f"collection {collection_id!r} does not exist")
        r = rows[0]
        return CollectionRow(r["collection_id"], r["face_model"], r["dimension"], r["created"],
                             json.loads(r["tags"]))

    def collection_ids(self, after: str = "", limit: int = 1000) -> list[str]:
        rows = self._read("SELECT collection_id FROM collections WHERE collection_id > ? "
                          "ORDER BY collection_id LIMIT ?", (after, limit))
        return [r[0] for r in rows]

    def delete_collection(self, collection_id: str, *, audit: AuditHook | None = None) -> int:
        with self._write() as db:
            if not db.execute("SELECT 1 FROM collections WHERE collection_id=?", (collection_id,)).fetchone():
                raise ResourceNotFoundException(f"collection {collection_id!r} does not exist")
            n = db.execute("SELECT count(*) FROM faces WHERE collection_id=?", (collection_id,)).fetchone()[0]
            db.execute("DELETE FROM faces WHERE collection_id=?", (collection_id,))
            db.execute("DELETE FROM users WHERE collection_id=?", (collection_id,))
            db.execute("DELETE FROM sources WHERE collection_id=?", (collection_id,))
            db.execute("DELETE FROM changes WHERE collection_id=?", (collection_id,))
            db.execute("DELETE FROM policies WHERE collection_id=?", (collection_id,))
            db.execute("DELETE FROM collections WHERE collection_id=?", (collection_id,))
            if audit:
                audit(db)
        return int(n)

    def counts(self, collection_id: str) -> tuple[int, int]:
        faces = self._read("SELECT count(*) FROM faces WHERE collection_id=?", (collection_id,))[0][0]
        users = self._read("SELECT count(*) FROM users WHERE collection_id=?", (collection_id,))[0][0]
        return int(faces), int(users)

    # --- faces ----------------------------------------------------------------------------
    def add_faces(self, collection_id: str, faces: Sequence[NewFace], *, source: str | None = None,
                  image_id: str = "", audit: AuditHook | None = None) -> None:
        """All faces in one transaction: after it returns they survive a crash. ``source`` (a file
        path) is recorded in the same transaction, so an interrupted folder index resumes exactly."""
        now = time.time()
        with self._write() as db:
            if not db.execute("SELECT 1 FROM collections WHERE collection_id=?", (collection_id,)).fetchone():
                raise ResourceNotFoundException(f"collection {collection_id!r} does not exist")
            db.executemany(
                "INSERT INTO faces (face_id, collection_id, image_id, external_image_id, bbox, confidence,"
                " user_id, created, vector) VALUES (?,?,?,?,?,?,NULL,?,?)",
                [(f.face_id, collection_id, f.image_id, f.external_image_id, json.dumps(f.bbox),
                  f.confidence, now, np.asarray(f.vector, np.float32).tobytes()) for f in faces])
            db.executemany("INSERT INTO changes (collection_id, face_id, op) VALUES (?,?,'add')",
                           [(collection_id, f.face_id) for f in faces])
            if source is not None:
                db.execute("INSERT OR REPLACE INTO sources VALUES (?,?,?)", (collection_id, source, image_id))
            if audit:
                audit(db)

    def sources(self, collection_id: str) -> set[str]:
        return {r[0] for r in self._read("SELECT source FROM sources WHERE collection_id=?", (collection_id,))}

    def delete_faces(self, collection_id: str, face_ids: Sequence[str], *,
                     audit: Callable[[sqlite3.Connection, list[str]], object] | None = None) -> list[str]:
        """Delete the faces that exist; returns their ids. ``audit`` is told which, in the transaction."""
        with self._write() as db:
            found = [r[0] for r in db.execute(
                f"SELECT face_id FROM faces WHERE collection_id=? AND face_id IN ({','.join('?' * len(face_ids))})",
                (collection_id, *face_ids))] if face_ids else []
            db.executemany("DELETE FROM faces WHERE face_id=?", [(f,) for f in found])
            db.executemany("INSERT INTO changes (collection_id, face_id, op) VALUES (?,?,'del')",
                           [(collection_id, f) for f in found])
            if audit:
                audit(db, found)
        return found

    def expired_faces(self, collection_id: str, before: float) -> list[str]:
        rows = self._read("SELECT face_id FROM faces WHERE collection_id=? AND created < ?", (collection_id, before))
        return [r[0] for r in rows]

    def policy_json(self, collection_id: str) -> str | None:
        rows = self._read("SELECT policy FROM policies WHERE collection_id=?", (collection_id,))
        return str(rows[0][0]) if rows else None

    def set_policy_json(self, collection_id: str, policy: str, *, audit: AuditHook | None = None) -> None:
        with self._write() as db:
            self._require_collection(db, collection_id)
            db.execute("INSERT INTO policies VALUES (?,?,?) ON CONFLICT(collection_id) DO UPDATE SET "
                       "policy=excluded.policy, updated=excluded.updated", (collection_id, policy, time.time()))
            if audit:
                audit(db)

    def faces(self, collection_id: str, *, after: str = "", limit: int = 1000, user_id: str | None = None,
              face_ids: Sequence[str] | None = None) -> list[FaceRow]:
        sql = "SELECT * FROM faces WHERE collection_id=? AND face_id > ?"
        args: list[Any] = [collection_id, after]
        if user_id is not None:
            sql += " AND user_id=?"
            args.append(user_id)
        if face_ids:
            sql += f" AND face_id IN ({','.join('?' * len(face_ids))})"
            args += list(face_ids)
        sql += " ORDER BY face_id LIMIT ?"
        args.append(limit)
        return [_face(r) for r in self._read(sql, args)]

    def face_vectors(self, collection_id: str, face_ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not face_ids:
            return {}
        rows = self._read(f"SELECT face_id, vector FROM faces WHERE collection_id=? AND face_id IN "
                          f"({','.join('?' * len(face_ids))})", (collection_id, *face_ids))
        return {r[0]: np.frombuffer(r[1], np.float32) for r in rows}

    def all_vectors(self, collection_id: str) -> tuple[list[str], np.ndarray, int]:
        """Every face id and vector, and the change seq they are current to (for index rebuilds)."""
        with self._write_lock:  # a consistent snapshot against concurrent writers
            db = self.db
            db.execute("BEGIN")
            try:
                seq_row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='changes'").fetchone()
                seq = seq_row[0] if seq_row else 0
                dim = db.execute("SELECT dimension FROM collections WHERE collection_id=?",
                                 (collection_id,)).fetchone()
                rows = db.execute("SELECT face_id, vector FROM faces WHERE collection_id=? ORDER BY seq",
                                  (collection_id,)).fetchall()
            finally:
                db.execute("COMMIT")
        d = int(dim[0]) if dim else 0
        ids = [r[0] for r in rows]
        mat = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), d) if rows \
            else np.zeros((0, d), np.float32)
        return ids, mat, int(seq)

    def changes_since(self, seq: int) -> list[tuple[int, str, str, str]]:
        rows = self._read("SELECT seq, collection_id, face_id, op FROM changes WHERE seq > ? ORDER BY seq", (seq,))
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def last_change(self) -> int:
        """The newest change seq ever issued (kept by AUTOINCREMENT even after compaction)."""
        rows = self._read("SELECT seq FROM sqlite_sequence WHERE name='changes'")
        return int(rows[0][0]) if rows else 0

    def compacted_upto(self) -> int:
        rows = self._read("SELECT value FROM meta WHERE key='compacted_upto'")
        return int(rows[0][0]) if rows else 0

    # --- users ----------------------------------------------------------------------------
    def create_user(self, collection_id: str, user_id: str) -> None:
        with self._write() as db:
            self._require_collection(db, collection_id)
            if db.execute("SELECT 1 FROM users WHERE collection_id=? AND user_id=?",
                          (collection_id, user_id)).fetchone():
                raise ConflictException(f"user {user_id!r} already exists in {collection_id!r}")
            db.execute("INSERT INTO users VALUES (?,?,?)", (collection_id, user_id, time.time()))

    def delete_user(self, collection_id: str, user_id: str, *, audit: AuditHook | None = None) -> None:
        with self._write() as db:
            self._require_user(db, collection_id, user_id)
            db.execute("UPDATE faces SET user_id=NULL WHERE collection_id=? AND user_id=?", (collection_id, user_id))
            db.execute("DELETE FROM users WHERE collection_id=? AND user_id=?", (collection_id, user_id))
            if audit:
                audit(db)

    def users(self, collection_id: str, *, after: str = "", limit: int = 1000) -> list[str]:
        rows = self._read("SELECT user_id FROM users WHERE collection_id=? AND user_id > ? ORDER BY user_id LIMIT ?",
                          (collection_id, after, limit))
        return [r[0] for r in rows]

    def user_exists(self, collection_id: str, user_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM users WHERE collection_id=? AND user_id=?", (collection_id, user_id)))

    def set_face_users(self, collection_id: str, face_ids: Sequence[str], user_id: str | None, *,
                       audit: AuditHook | None = None) -> None:
        with self._write() as db:
            db.executemany("UPDATE faces SET user_id=? WHERE collection_id=? AND face_id=?",
                           [(user_id, collection_id, f) for f in face_ids])
            if audit:
                audit(db)

    @staticmethod
    def _require_collection(db: sqlite3.Connection, collection_id: str) -> None:
        if not db.execute("SELECT 1 FROM collections WHERE collection_id=?", (collection_id,)).fetchone():
            raise ResourceNotFoundException(f"collection {collection_id!r} does not exist")

    def _require_user(self, db: sqlite3.Connection, collection_id: str, user_id: str) -> None:
        self._require_collection(db, collection_id)
        if not db.execute("SELECT 1 FROM users WHERE collection_id=? AND user_id=?",
                          (collection_id, user_id)).fetchone():
            raise ResourceNotFoundException(f"user {user_id!r} does not exist in {collection_id!r}")

    # --- maintenance ----------------------------------------------------------------------
    def compact_changes(self, upto: int) -> None:
        """Drop change-log entries every index has applied."""
        with self._write() as db:
            db.execute("DELETE FROM changes WHERE seq <= ?", (upto,))
            db.execute("INSERT INTO meta VALUES ('compacted_upto', ?) ON CONFLICT(key) DO UPDATE SET value="
                       "max(CAST(value AS INTEGER), excluded.value)", (str(upto),))

    def vacuum(self) -> None:
        """Rewrite the file and truncate the WAL so deleted vectors leave no bytes behind."""
        with self._write_lock:
            try:
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self.db.execute("VACUUM")
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                raise StorageError(f"vacuum failed: {exc}") from exc
