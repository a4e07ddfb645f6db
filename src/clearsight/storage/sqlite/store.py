"""``SqliteStore``: the store of record in ``clearsight.db`` (see :class:`~..base.Store`).

One file, WAL mode, ``secure_delete`` on (deleted rows are overwritten, not left in free
pages), owned by a :class:`~.database.Database` (connections, the single writer, migrations,
error translation). Each public write is one transaction, so a face whose IndexFaces call
returned is durable and a crash never leaves half a face; the write's audit record is appended
in that transaction (the ``audit`` hooks get a :class:`SqliteTx`). The ``changes`` table is an
append-only log of face additions and deletions that vector indexes replay to catch up: after a
restart, and before every search when another process (a CLI command beside the server) wrote.

Erasure leaves no identifier behind: deleting faces drops the ``sources`` rows of images that
have no face left; the change-log rows are dropped once every index has applied them; VACUUM
rewrites the file. The ``erasures`` table holds receipts (an id, when it was requested, when
it completed, how many faces), never a face id. Faces past their collection's retention period
are hidden from every listing at query time (``clock`` decides what "now" is), whether or not
they were purged yet.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConflictException, ResourceAlreadyExistsException, ResourceNotFoundException
from ..base import TOKEN_TTL, AuditHook, CollectionRow, DeleteAuditHook, FaceRow, NewFace, VectorIndex
from .database import Database
from .jobs import SqliteJobs
from .processors import SqliteProcessors

__all__ = ["SqliteStore", "SqliteTx"]

# faces past their collection's retention period, given now (?1): hidden from every listing
NOT_EXPIRED = ("NOT EXISTS (SELECT 1 FROM policies p WHERE p.collection_id = faces.collection_id AND "
               "coalesce(json_extract(p.policy, '$.retention_days'), 0) > 0 AND "
               "faces.created < ?1 - json_extract(p.policy, '$.retention_days') * 86400)")


def _face(row: sqlite3.Row) -> FaceRow:
    return FaceRow(row["face_id"], row["collection_id"], row["image_id"], row["external_image_id"],
                   json.loads(row["bbox"]), row["confidence"], row["user_id"], row["created"])


class SqliteTx:
    """An open write transaction, as the audit chain sees it (:class:`~..base.AuditTx`)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def audit_head(self) -> tuple[int, str] | None:
        row = self.db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def append_audit(self, seq: int, record: str, prev_hash: str, hash: str) -> None:
        self.db.execute("INSERT INTO audit VALUES (?,?,?,?)", (seq, record, prev_hash, hash))


class SqliteStore(SqliteJobs, SqliteProcessors):
    def __init__(self, database: Database | Path) -> None:
        self.database = database if isinstance(database, Database) else Database(database)
        self.path = self.database.path
        self.clock: Callable[[], float] = time.time  # what "now" is for retention (tests move it)

    # --- connections ----------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (raw SQL for tests and tools; the store's own SQL is below)."""
        return self.database.connection

    def _write(self) -> Any:
        return self.database.transaction()

    @contextmanager
    def transaction(self) -> Iterator[SqliteTx]:
        """A write transaction on its own (an audit record of an operation that only reads)."""
        with self.database.transaction() as db:
            yield SqliteTx(db)

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self.database.read(sql, args)

    def _snapshot(self) -> Any:
        return self.database.snapshot()

    def close(self) -> None:
        self.database.close()

    def size_bytes(self) -> int:
        return self.database.size_bytes()

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

    def delete_collection(self, collection_id: str, *, audit: AuditHook | None = None,
                          receipt: str | None = None) -> int:
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
            self._scrub_jobs(db, collection_id, None, set())
            # tells every index, in this process or another, that the collection is gone (no face id)
            db.execute("INSERT INTO changes (collection_id, face_id, op) VALUES (?, '', 'del')", (collection_id,))
            if receipt is not None:
                self._receipt(db, receipt, "DeleteCollection", collection_id, int(n))
            if audit:
                audit(SqliteTx(db))
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
        now = self.clock()
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
                audit(SqliteTx(db))

    def sources(self, collection_id: str) -> set[str]:
        return {r[0] for r in self._read("SELECT source FROM sources WHERE collection_id=?", (collection_id,))}

    def image_sources(self, collection_id: str) -> dict[str, str]:
        """image_id -> the file a folder index read it from."""
        rows = self._read("SELECT image_id, source FROM sources WHERE collection_id=?", (collection_id,))
        return {r[0]: r[1] for r in rows}

    # --- migrating to another face model --------------------------------------------------
    def stage_vectors(self, collection_id: str, face_model: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Keep the next model's vectors of these faces (of this collection) until switch_model;
        vectors staged for any other model are dropped."""
        with self._write() as db:
            self._require_collection(db, collection_id)
            db.execute("DELETE FROM staged_vectors WHERE collection_id=? AND face_model<>?",
                       (collection_id, face_model))
            db.executemany(
                "INSERT OR REPLACE INTO staged_vectors SELECT face_id, collection_id, ?3, ?4 FROM faces "
                "WHERE face_id=?1 AND collection_id=?2",
                [(f, collection_id, face_model, np.asarray(v, np.float32).tobytes()) for f, v in vectors.items()])

    def staged_faces(self, collection_id: str, face_model: str) -> set[str]:
        rows = self._read("SELECT face_id FROM staged_vectors WHERE collection_id=? AND face_model=?",
                          (collection_id, face_model))
        return {r[0] for r in rows}

    def switch_model(self, collection_id: str, face_model: str, dimension: int, *,
                     audit: AuditHook | None = None) -> int:
        """Replace every face's vector by its staged one and pin the collection to ``face_model``, in
        one transaction (ConflictException, changing nothing, while any face has none staged). The
        change log records each face as removed and re-added, so every index rebuilds it."""
        with self._write() as db:
            self._require_collection(db, collection_id)
            missing = db.execute(
                "SELECT count(*) FROM faces f WHERE f.collection_id=?1 AND NOT EXISTS (SELECT 1 FROM staged_vectors s "
                "WHERE s.face_id=f.face_id AND s.face_model=?2)", (collection_id, face_model)).fetchone()[0]
            if missing:
                raise ConflictException(
                    f"{missing} face(s) of collection {collection_id!r} have no {face_model} vector staged")
            ids = [r[0] for r in db.execute("SELECT face_id FROM faces WHERE collection_id=? ORDER BY face_id",
                                            (collection_id,))]
            db.execute("UPDATE faces SET vector=(SELECT s.vector FROM staged_vectors s WHERE s.face_id=faces.face_id) "
                       "WHERE collection_id=?", (collection_id,))
            db.executemany("INSERT INTO changes (collection_id, face_id, op) VALUES (?,?,?)",
                           [(collection_id, f, op) for f in ids for op in ("del", "add")])
            db.execute("UPDATE collections SET face_model=?, dimension=? WHERE collection_id=?",
                       (face_model, dimension, collection_id))
            db.execute("DELETE FROM staged_vectors WHERE collection_id=?", (collection_id,))
            if audit:
                audit(SqliteTx(db))
        return len(ids)

    def delete_faces(self, collection_id: str, face_ids: Sequence[str], *,
                     audit: DeleteAuditHook | None = None,
                     receipt: str | None = None, operation: str = "DeleteFaces") -> list[str]:
        """Delete the faces that exist; returns their ids. ``audit`` is told which, in the transaction.
        The ``sources`` rows (file paths) of images left without a face go too; ``receipt`` names
        the erasure receipt recorded in the same transaction."""
        with self._write() as db:
            rows = [(r[0], r[1]) for r in db.execute(
                f"SELECT face_id, image_id FROM faces WHERE collection_id=? AND face_id IN "
                f"({','.join('?' * len(face_ids))}) ORDER BY face_id", (collection_id, *face_ids))] if face_ids else []
            found = [f for f, _ in rows]
            db.executemany("DELETE FROM faces WHERE face_id=?", [(f,) for f in found])
            db.executemany("INSERT INTO changes (collection_id, face_id, op) VALUES (?,?,'del')",
                           [(collection_id, f) for f in found])
            db.executemany("DELETE FROM sources WHERE collection_id=?1 AND image_id=?2 AND NOT EXISTS "
                           "(SELECT 1 FROM faces WHERE collection_id=?1 AND image_id=?2)",
                           [(collection_id, i) for i in {i for _, i in rows}])
            if receipt is not None and found:
                self._receipt(db, receipt, operation, collection_id, len(found))
            if found:
                self._scrub_jobs(db, collection_id, set(found), set())
            if audit:
                audit(SqliteTx(db), found)
        return found

    # --- erasure receipts -----------------------------------------------------------------
    def _receipt(self, db: sqlite3.Connection, receipt: str, operation: str, collection_id: str, faces: int) -> None:
        db.execute("INSERT INTO erasures VALUES (?,?,?,?,?,NULL)",
                   (receipt, operation, collection_id, faces, time.time()))

    def erasure(self, receipt_id: str) -> dict[str, Any] | None:
        rows = self._read("SELECT * FROM erasures WHERE receipt_id=?", (receipt_id,))
        return dict(rows[0]) if rows else None

    def pending_erasures(self) -> int:
        """The newest receipt rowid not yet completed (0: nothing pending)."""
        rows = self._read("SELECT max(rowid) FROM erasures WHERE completed IS NULL")
        return int(rows[0][0] or 0)

    def complete_erasures(self, upto: int, when: float) -> None:
        """Mark receipts up to rowid ``upto`` complete (after VACUUM), then truncate the WAL again."""
        with self._write() as db:
            db.execute("UPDATE erasures SET completed=? WHERE completed IS NULL AND rowid <= ?", (when, upto))
        self.checkpoint()

    def expired_faces(self, collection_id: str, before: float) -> list[str]:
        rows = self._read("SELECT face_id FROM faces WHERE collection_id=? AND created < ? ORDER BY face_id",
                          (collection_id, before))
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
                audit(SqliteTx(db))

    def faces(self, collection_id: str, *, after: str = "", limit: int = 1000, user_id: str | None = None,
              face_ids: Sequence[str] | None = None, include_expired: bool = False) -> list[FaceRow]:
        """Faces by id; those past the collection's retention period are left out unless asked for."""
        sql = "SELECT * FROM faces WHERE collection_id=?2 AND face_id > ?3"
        args: list[Any] = [self.clock(), collection_id, after]
        if not include_expired:
            sql += " AND " + NOT_EXPIRED
        if user_id is not None:
            sql += " AND user_id=?"
            args.append(user_id)
        if face_ids:
            sql += f" AND face_id IN ({','.join('?' * len(face_ids))})"
            args += list(face_ids)
        sql += " ORDER BY face_id LIMIT ?"
        args.append(limit)
        return [_face(r) for r in self._read(sql, args)]

    def expired_among(self, collection_id: str, face_ids: Sequence[str]) -> set[str]:
        """Which of these faces are past the collection's retention period now."""
        if not face_ids:
            return set()
        rows = self._read(f"SELECT face_id FROM faces WHERE collection_id=?2 AND NOT {NOT_EXPIRED} AND face_id IN "
                          f"({','.join('?' * len(face_ids))})", (self.clock(), collection_id, *face_ids))
        return {r[0] for r in rows}

    def has_retention(self, collection_id: str) -> bool:
        rows = self._read("SELECT 1 FROM policies WHERE collection_id=? AND "
                          "coalesce(json_extract(policy, '$.retention_days'), 0) > 0", (collection_id,))
        return bool(rows)

    def face_vectors(self, collection_id: str, face_ids: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(face_ids), 10_000):  # SQLite's limit on bound parameters
            chunk = face_ids[start:start + 10_000]
            rows = self._read(f"SELECT face_id, vector FROM faces WHERE collection_id=? AND face_id IN "
                              f"({','.join('?' * len(chunk))})", (collection_id, *chunk))
            out.update((r[0], np.frombuffer(r[1], np.float32)) for r in rows)
        return out

    def all_vectors(self, collection_id: str) -> tuple[list[str], np.ndarray, int]:
        """Every face id and vector, and the change seq they are current to (for index rebuilds)."""
        with self._snapshot() as db:  # one state of the database, whoever writes meanwhile
            seq_row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='changes'").fetchone()
            seq = seq_row[0] if seq_row else 0
            dim = db.execute("SELECT dimension FROM collections WHERE collection_id=?",
                             (collection_id,)).fetchone()
            rows = db.execute("SELECT face_id, vector FROM faces WHERE collection_id=? ORDER BY seq",
                              (collection_id,)).fetchall()
        d = int(dim[0]) if dim else 0
        ids = [r[0] for r in rows]
        mat = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), d) if rows \
            else np.zeros((0, d), np.float32)
        return ids, mat, int(seq)

    def changes_since(self, seq: int) -> list[tuple[int, str, str, str]]:
        rows = self._read("SELECT seq, collection_id, face_id, op FROM changes WHERE seq > ? ORDER BY seq", (seq,))
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def log_after(self, seq: int, collection_id: str) -> tuple[list[tuple[int, str, str]], int, int]:
        """One collection's changes after ``seq`` as (seq, face_id, op), the newest seq issued and the
        compaction floor, all read from one state of the database."""
        with self._snapshot() as db:
            rows = db.execute("SELECT seq, face_id, op FROM changes WHERE seq > ? AND collection_id=? ORDER BY seq",
                              (seq, collection_id)).fetchall()
            last = db.execute("SELECT seq FROM sqlite_sequence WHERE name='changes'").fetchone()
            floor = db.execute("SELECT value FROM meta WHERE key='compacted_upto'").fetchone()
        return [(r[0], r[1], r[2]) for r in rows], int(last[0]) if last else 0, int(floor[0]) if floor else 0

    def face_ids(self, collection_id: str) -> tuple[set[str], int]:
        """Every face id of a collection and the change seq they are current to."""
        with self._snapshot() as db:
            last = db.execute("SELECT seq FROM sqlite_sequence WHERE name='changes'").fetchone()
            ids = {r[0] for r in db.execute("SELECT face_id FROM faces WHERE collection_id=?", (collection_id,))}
        return ids, int(last[0]) if last else 0

    def faces_ever(self) -> int:
        """How many faces were ever added (no snapshot can hold more)."""
        rows = self._read("SELECT seq FROM sqlite_sequence WHERE name='faces'")
        return int(rows[0][0]) if rows else 0

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
            self._scrub_jobs(db, collection_id, set(), {user_id})
            if audit:
                audit(SqliteTx(db))

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
                audit(SqliteTx(db))

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
        self.database.vacuum()

    def checkpoint(self) -> None:
        self.database.checkpoint()

    def vector_index(self, collection_id: str, *, candidates: int) -> VectorIndex | None:
        return None  # Collections keeps the index, from the change log

    def backup_to(self, dest: Path) -> None:
        """A consistent copy of the database at ``dest`` (SQLite's online backup API)."""
        self.database.backup_to(dest)

    # --- the audit chain's rows -------------------------------------------------------------
    def audit_rows(self, after: int = 0) -> Iterator[tuple[int, str, str, str]]:
        with self.database.errors("audit read failed"):
            for r in self.db.execute("SELECT seq, record, prev_hash, hash FROM audit WHERE seq > ? ORDER BY seq",
                                     (after,)):
                yield int(r[0]), r[1], r[2], r[3]

    def audit_hash(self, seq: int) -> str | None:
        rows = self._read("SELECT hash FROM audit WHERE seq=?", (seq,))
        return str(rows[0][0]) if rows else None

    def audit_last_record(self) -> str | None:
        rows = self._read("SELECT record FROM audit ORDER BY seq DESC LIMIT 1")
        return str(rows[0][0]) if rows else None

    # --- request tokens ---------------------------------------------------------------------
    def recall_token(self, access_key_id: str, operation: str, token: str) -> tuple[str, str] | None:
        """What a request with this ClientRequestToken stored: (params_sha256, response JSON), or
        None when the token is unknown or older than TOKEN_TTL."""
        rows = self._read("SELECT params_sha256, response FROM request_tokens WHERE access_key_id=? AND operation=? "
                          "AND token=? AND created >= ?", (access_key_id, operation, token, self.clock() - TOKEN_TTL))
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def remember_token(self, access_key_id: str, operation: str, token: str, params_sha256: str,
                       response: str) -> tuple[str, str]:
        """Store a token's request digest and response unless a live one exists (then the first
        request's stays); expired tokens are dropped. Returns what is stored now."""
        now = self.clock()
        with self._write() as db:
            db.execute("DELETE FROM request_tokens WHERE created < ?", (now - TOKEN_TTL,))
            db.execute("INSERT OR IGNORE INTO request_tokens VALUES (?,?,?,?,?,?)",
                       (access_key_id, operation, token, params_sha256, response, now))
            row = db.execute("SELECT params_sha256, response FROM request_tokens WHERE access_key_id=? AND "
                             "operation=? AND token=?", (access_key_id, operation, token)).fetchone()
        return str(row[0]), str(row[1])
