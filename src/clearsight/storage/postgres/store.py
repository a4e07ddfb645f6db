"""``PostgresStore``: the store of record in PostgreSQL + pgvector (see :class:`~..base.Store`).

It answers as :class:`~..sqlite.SqliteStore` does (``tests/storage/test_congruence.py``): same
ordering, errors, change log and compaction floor, retention rule, erasure receipts, request
tokens and staged vectors. Each public write is one transaction under the database's write lock
(:class:`~.database.PgDatabase`), and the write's audit record is appended in it (the ``audit``
hooks get a :class:`PostgresTx`).

Each collection's faces are one partition of ``faces`` (``faces_p<N>``) with an HNSW index on its
vectors; :meth:`PostgresStore.vector_index` searches it (:mod:`.index`). Deleting a collection
drops its partition; erasure (:meth:`vacuum`) rewrites partitions with VACUUM FULL, then switches
and checkpoints the WAL (:mod:`.erasure`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from ...errors import ConflictException, ResourceAlreadyExistsException, ResourceNotFoundException, StorageError
from ..base import TOKEN_TTL, AuditHook, CollectionRow, DeleteAuditHook, FaceRow, NewFace, VectorIndex, retention_days
from . import shards
from .database import PgDatabase, open_pg_database
from .jobs import PostgresJobs
from .partitions import INDEX_TYPES, create_local, create_sharded, hnsw, is_sharded, matrix, partition
from .processors import PostgresProcessors

__all__ = ["INDEX_TYPES", "PostgresStore", "PostgresTx", "matrix", "partition"]

FACE_COLUMNS = "face_id, collection_id, image_id, external_image_id, bbox, confidence, user_id, created"

Conn = psycopg.Connection[Any]


def _face(r: Sequence[Any]) -> FaceRow:
    return FaceRow(r[0], r[1], r[2], r[3], json.loads(r[4]), float(r[5]), r[6], float(r[7]))


class PostgresTx:
    """An open write transaction, as the audit chain sees it (:class:`~..base.AuditTx`)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def audit_head(self) -> tuple[int, str] | None:
        row = self.conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def append_audit(self, seq: int, record: str, prev_hash: str, hash: str) -> None:
        self.conn.execute("INSERT INTO audit VALUES (%s,%s,%s,%s)", (seq, record, prev_hash, hash))


class PostgresStore(PostgresJobs, PostgresProcessors):
    def __init__(self, database: PgDatabase | str, *, index_type: str = "halfvec") -> None:
        if index_type not in INDEX_TYPES:
            raise ValueError(f"index_type must be one of {', '.join(INDEX_TYPES)}")
        self.database = database if isinstance(database, PgDatabase) else open_pg_database(database)
        self.index_type = index_type
        self.clock: Callable[[], float] = time.time  # what "now" is for retention (tests move it)

    # --- connections ----------------------------------------------------------------------
    def _write(self) -> Any:
        return self.database.transaction()

    @contextmanager
    def transaction(self) -> Iterator[PostgresTx]:
        """A write transaction on its own (an audit record of an operation that only reads)."""
        with self.database.transaction() as conn:
            yield PostgresTx(conn)

    def _read(self, query: str | sql.Composed, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.database.read(query, args)

    def close(self) -> None:
        self.database.close()

    def size_bytes(self) -> int:
        """The faces' bytes on disk (heap and indexes of every partition), what erasure rewrites."""
        rows = self._read("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_inherits i "
                          "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'faces'::regclass")
        return int(rows[0][0])

    @staticmethod
    def _counter(conn: Conn, name: str, n: int) -> int:
        """Advance a counter by ``n``; returns the value before (the next seq is that + 1)."""
        row = conn.execute("UPDATE counters SET value = value + %s WHERE name=%s RETURNING value", (n, name)).fetchone()
        assert row is not None
        return int(row[0]) - n

    def _log(self, conn: Conn, collection_id: str, entries: Sequence[tuple[str, str]]) -> None:
        """Append (face_id, op) entries to the change log."""
        if not entries:
            return
        first = self._counter(conn, "changes", len(entries)) + 1
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO changes VALUES (%s,%s,%s,%s)",
                            [(first + i, collection_id, f, op) for i, (f, op) in enumerate(entries)])

    @staticmethod
    def _require_collection(conn: Conn, collection_id: str) -> tuple[int, int]:
        """The collection's (partition number, dimension); ResourceNotFoundException if missing."""
        row = conn.execute("SELECT part, dimension FROM collections WHERE collection_id=%s",
                           (collection_id,)).fetchone()
        if row is None:
            raise ResourceNotFoundException(f"collection {collection_id!r} does not exist")
        return int(row[0]), int(row[1])

    # --- collections ----------------------------------------------------------------------
    def create_collection(self, collection_id: str, face_model: str, dimension: int,
                          tags: dict[str, str] | None = None) -> CollectionRow:
        now = time.time()
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM collections WHERE collection_id=%s", (collection_id,)).fetchone():
                raise ResourceAlreadyExistsException(f"collection {collection_id!r} already exists")
            part = self._counter(conn, "partitions", 1) + 1
            conn.execute("INSERT INTO collections VALUES (%s,%s,%s,%s,%s,%s)",
                         (collection_id, face_model, dimension, now, json.dumps(tags or {}), part))
            servers = shards.servers(conn)
            if servers:  # a coordinator: the partition is laid over the shards
                shards.prepare_partition(conn, part, dimension, self.index_type)
                create_sharded(conn, part, collection_id, servers)
            else:
                create_local(conn, part, collection_id, dimension, self.index_type)
        return CollectionRow(collection_id, face_model, dimension, now, tags or {})

    def collection(self, collection_id: str) -> CollectionRow:
        rows = self._read("SELECT collection_id, face_model, dimension, created, tags FROM collections "
                          "WHERE collection_id=%s", (collection_id,))
        if not rows:
            raise ResourceNotFoundException(f"collection {collection_id!r} does not exist")
        r = rows[0]
        return CollectionRow(r[0], r[1], int(r[2]), float(r[3]), json.loads(r[4]))

    def collection_ids(self, after: str = "", limit: int = 1000) -> list[str]:
        rows = self._read("SELECT collection_id FROM collections WHERE collection_id > %s "
                          "ORDER BY collection_id LIMIT %s", (after, limit))
        return [r[0] for r in rows]

    def delete_collection(self, collection_id: str, *, audit: AuditHook | None = None,
                          receipt: str | None = None) -> int:
        with self._write() as conn:
            part, _ = self._require_collection(conn, collection_id)
            n, sharded = shards.count(conn, part), is_sharded(conn, part)
            conn.execute(sql.SQL("DROP TABLE {}").format(partition(part)))  # its files go at commit (local)
            for table in ("staged_vectors", "users", "sources", "changes", "policies", "collections"):
                conn.execute(sql.SQL("DELETE FROM {} WHERE collection_id=%s").format(sql.Identifier(table)),
                             (collection_id,))
            self._scrub_jobs(conn, collection_id, None, set())
            # tells every index, in this process or another, that the collection is gone (no face id)
            self._log(conn, collection_id, [("", "del")])
            if receipt is not None:
                self._receipt(conn, receipt, "DeleteCollection", collection_id, n)
            if audit:
                audit(PostgresTx(conn))
        if sharded:  # the shards' tables, once the coordinator has let go (erasure drops any left)
            shards.drop_partition(self.database, part)
        return n

    def counts(self, collection_id: str) -> tuple[int, int]:
        rows = self._read("SELECT part, (SELECT count(*) FROM users WHERE collection_id=%s) FROM collections "
                          "WHERE collection_id=%s", (collection_id, collection_id))
        if not rows:
            return 0, 0
        with self.database.errors("database read failed"):  # a sharded collection's counted on each shard
            return shards.count(self.database.connection, int(rows[0][0])), int(rows[0][1])

    # --- faces ----------------------------------------------------------------------------
    def add_faces(self, collection_id: str, faces: Sequence[NewFace], *, source: str | None = None,
                  image_id: str = "", audit: AuditHook | None = None) -> None:
        """All faces in one transaction, with ``source`` (a folder index resumes exactly)."""
        now = self.clock()
        intent = shards.intend(self.database, collection_id, [f.face_id for f in faces])
        with shards.repairing(self.database, intent), self._write() as conn:
            if intent is not None:
                shards.fulfil(conn, intent)
            self._require_collection(conn, collection_id)
            first = self._counter(conn, "faces", len(faces)) + 1
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO faces ({FACE_COLUMNS}, seq, vector) VALUES (%s,%s,%s,%s,%s,%s,NULL,%s,%s,%b)",
                    [(f.face_id, collection_id, f.image_id, f.external_image_id, json.dumps(f.bbox), f.confidence,
                      now, first + i, np.asarray(f.vector, np.float32)) for i, f in enumerate(faces)])
            self._log(conn, collection_id, [(f.face_id, "add") for f in faces])
            if source is not None:
                conn.execute("INSERT INTO sources VALUES (%s,%s,%s) ON CONFLICT (collection_id, source) "
                             "DO UPDATE SET image_id=excluded.image_id", (collection_id, source, image_id))
            if audit:
                audit(PostgresTx(conn))

    def sources(self, collection_id: str) -> set[str]:
        return {r[0] for r in self._read("SELECT source FROM sources WHERE collection_id=%s", (collection_id,))}

    def image_sources(self, collection_id: str) -> dict[str, str]:
        rows = self._read("SELECT image_id, source FROM sources WHERE collection_id=%s", (collection_id,))
        return {r[0]: r[1] for r in rows}

    # --- migrating to another face model --------------------------------------------------
    def stage_vectors(self, collection_id: str, face_model: str, vectors: Mapping[str, np.ndarray]) -> None:
        with self._write() as conn:
            self._require_collection(conn, collection_id)
            conn.execute("DELETE FROM staged_vectors WHERE collection_id=%s AND face_model<>%s",
                         (collection_id, face_model))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO staged_vectors SELECT collection_id, face_id, %s, %b FROM faces "
                    "WHERE collection_id=%s AND face_id=%s ON CONFLICT (collection_id, face_id) DO UPDATE SET "
                    "face_model=excluded.face_model, vector=excluded.vector",
                    [(face_model, np.asarray(v, np.float32), collection_id, f) for f, v in vectors.items()])

    def staged_faces(self, collection_id: str, face_model: str) -> set[str]:
        rows = self._read("SELECT face_id FROM staged_vectors WHERE collection_id=%s AND face_model=%s",
                          (collection_id, face_model))
        return {r[0] for r in rows}

    def switch_model(self, collection_id: str, face_model: str, dimension: int, *,
                     audit: AuditHook | None = None) -> int:
        """Every face's vector replaced by its staged one, the collection pinned to ``face_model`` and
        its HNSW index rebuilt for ``dimension``, in one transaction (ConflictException, changing
        nothing, while any face has none staged)."""
        with self._write() as conn:
            part, _ = self._require_collection(conn, collection_id)
            row = conn.execute(
                "SELECT count(*) FROM faces f WHERE f.collection_id=%s AND NOT EXISTS (SELECT 1 FROM staged_vectors s "
                "WHERE s.collection_id=f.collection_id AND s.face_id=f.face_id AND s.face_model=%s)",
                (collection_id, face_model)).fetchone()
            missing = int(row[0]) if row else 0
            if missing:
                raise ConflictException(
                    f"{missing} face(s) of collection {collection_id!r} have no {face_model} vector staged")
            if is_sharded(conn, part):
                raise StorageError(f"collection {collection_id!r} is laid over shards: switching its face model is "
                                   "not supported there yet (docs/postgres.md, 'Scale-out')")
            ids = [r[0] for r in conn.execute("SELECT face_id FROM faces WHERE collection_id=%s ORDER BY face_id",
                                              (collection_id,))]
            conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(f"faces_p{part}_hnsw")))
            conn.execute("UPDATE faces f SET vector=s.vector FROM staged_vectors s WHERE f.collection_id=%s AND "
                         "s.collection_id=f.collection_id AND s.face_id=f.face_id", (collection_id,))
            self._log(conn, collection_id, [(f, op) for f in ids for op in ("del", "add")])
            conn.execute("UPDATE collections SET face_model=%s, dimension=%s WHERE collection_id=%s",
                         (face_model, dimension, collection_id))
            conn.execute("DELETE FROM staged_vectors WHERE collection_id=%s", (collection_id,))
            hnsw(conn, part, dimension, self.index_type)
            if audit:
                audit(PostgresTx(conn))
        return len(ids)

    def delete_faces(self, collection_id: str, face_ids: Sequence[str], *, audit: DeleteAuditHook | None = None,
                     receipt: str | None = None, operation: str = "DeleteFaces") -> list[str]:
        """Delete the faces that exist; returns their ids (``audit`` is told which, in the transaction).
        The staged vectors and the ``sources`` rows of images left without a face go too."""
        with self._write() as conn:
            rows = conn.execute("SELECT face_id, image_id FROM faces WHERE collection_id=%s AND face_id = ANY(%s) "
                                "ORDER BY face_id", (collection_id, list(face_ids))).fetchall() if face_ids else []
            found = [r[0] for r in rows]
            if found:
                conn.execute("DELETE FROM faces WHERE collection_id=%s AND face_id = ANY(%s)", (collection_id, found))
                conn.execute("DELETE FROM staged_vectors WHERE collection_id=%s AND face_id = ANY(%s)",
                             (collection_id, found))
                conn.execute("DELETE FROM sources s WHERE collection_id=%s AND image_id = ANY(%s) AND NOT EXISTS "
                             "(SELECT 1 FROM faces f WHERE f.collection_id=s.collection_id AND f.image_id=s.image_id)",
                             (collection_id, sorted({r[1] for r in rows})))
            self._log(conn, collection_id, [(f, "del") for f in found])
            if receipt is not None and found:
                self._receipt(conn, receipt, operation, collection_id, len(found))
            if found:
                self._scrub_jobs(conn, collection_id, set(found), set())
            if audit:
                audit(PostgresTx(conn), found)
        return found

    def _cutoff(self, collection_id: str) -> float | None:
        """Faces created before this are past the collection's retention period (None: no period)."""
        days = retention_days(self.policy_json(collection_id))
        return self.clock() - days * 86400 if days > 0 else None

    def faces(self, collection_id: str, *, after: str = "", limit: int = 1000, user_id: str | None = None,
              face_ids: Sequence[str] | None = None, include_expired: bool = False) -> list[FaceRow]:
        """Faces by id; those past the collection's retention period are left out unless asked for."""
        query = f"SELECT {FACE_COLUMNS} FROM faces WHERE collection_id=%s AND face_id > %s"
        args: list[Any] = [collection_id, after]
        cutoff = None if include_expired else self._cutoff(collection_id)
        if cutoff is not None:
            query += " AND created >= %s"
            args.append(cutoff)
        if user_id is not None:
            query += " AND user_id=%s"
            args.append(user_id)
        if face_ids:
            query += " AND face_id = ANY(%s)"
            args.append(list(face_ids))
        query += " ORDER BY face_id LIMIT %s"
        args.append(limit)
        return [_face(r) for r in self._read(query, args)]

    def expired_faces(self, collection_id: str, before: float) -> list[str]:
        rows = self._read("SELECT face_id FROM faces WHERE collection_id=%s AND created < %s ORDER BY face_id",
                          (collection_id, before))
        return [r[0] for r in rows]

    def expired_among(self, collection_id: str, face_ids: Sequence[str]) -> set[str]:
        cutoff = self._cutoff(collection_id)
        if not face_ids or cutoff is None:
            return set()
        rows = self._read("SELECT face_id FROM faces WHERE collection_id=%s AND created < %s AND face_id = ANY(%s)",
                          (collection_id, cutoff, list(face_ids)))
        return {r[0] for r in rows}

    def face_vectors(self, collection_id: str, face_ids: Sequence[str]) -> dict[str, np.ndarray]:
        with self.database.errors("database read failed"), self.database.connection.cursor(binary=True) as cur:
            rows = cur.execute("SELECT face_id, vector_send(vector) FROM faces WHERE collection_id=%s AND "
                               "face_id = ANY(%s) ORDER BY seq", (collection_id, list(face_ids))).fetchall()
        return {r[0]: matrix([r[1]])[0] for r in rows}

    def all_vectors(self, collection_id: str) -> tuple[list[str], np.ndarray, int]:
        """Every face id and vector, and the change seq they are current to (for index rebuilds)."""
        with self.database.snapshot() as conn, conn.cursor(binary=True) as cur:
            seq = self._value(conn, "SELECT value FROM counters WHERE name='changes'")
            dim = self._value(conn, "SELECT dimension FROM collections WHERE collection_id=%s", (collection_id,))
            rows = cur.execute("SELECT face_id, vector_send(vector) FROM faces WHERE collection_id=%s ORDER BY seq",
                               (collection_id,)).fetchall()
        return [r[0] for r in rows], matrix([r[1] for r in rows], dim), seq

    @staticmethod
    def _value(conn: Conn, query: str, args: Sequence[Any] = ()) -> int:
        row = conn.execute(query, args).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # --- policies -------------------------------------------------------------------------
    def policy_json(self, collection_id: str) -> str | None:
        rows = self._read("SELECT policy FROM policies WHERE collection_id=%s", (collection_id,))
        return str(rows[0][0]) if rows else None

    def set_policy_json(self, collection_id: str, policy: str, *, audit: AuditHook | None = None) -> None:
        with self._write() as conn:
            self._require_collection(conn, collection_id)
            conn.execute("INSERT INTO policies VALUES (%s,%s,%s) ON CONFLICT (collection_id) DO UPDATE SET "
                         "policy=excluded.policy, updated=excluded.updated", (collection_id, policy, time.time()))
            if audit:
                audit(PostgresTx(conn))

    def has_retention(self, collection_id: str) -> bool:
        return retention_days(self.policy_json(collection_id)) > 0

    # --- users ----------------------------------------------------------------------------
    def create_user(self, collection_id: str, user_id: str) -> None:
        with self._write() as conn:
            self._require_collection(conn, collection_id)
            if conn.execute("SELECT 1 FROM users WHERE collection_id=%s AND user_id=%s",
                            (collection_id, user_id)).fetchone():
                raise ConflictException(f"user {user_id!r} already exists in {collection_id!r}")
            conn.execute("INSERT INTO users VALUES (%s,%s,%s)", (collection_id, user_id, time.time()))

    def delete_user(self, collection_id: str, user_id: str, *, audit: AuditHook | None = None) -> None:
        with self._write() as conn:
            self._require_collection(conn, collection_id)
            if not conn.execute("SELECT 1 FROM users WHERE collection_id=%s AND user_id=%s",
                                (collection_id, user_id)).fetchone():
                raise ResourceNotFoundException(f"user {user_id!r} does not exist in {collection_id!r}")
            conn.execute("UPDATE faces SET user_id=NULL WHERE collection_id=%s AND user_id=%s",
                         (collection_id, user_id))
            conn.execute("DELETE FROM users WHERE collection_id=%s AND user_id=%s", (collection_id, user_id))
            self._scrub_jobs(conn, collection_id, set(), {user_id})
            if audit:
                audit(PostgresTx(conn))

    def users(self, collection_id: str, *, after: str = "", limit: int = 1000) -> list[str]:
        rows = self._read("SELECT user_id FROM users WHERE collection_id=%s AND user_id > %s ORDER BY user_id "
                          "LIMIT %s", (collection_id, after, limit))
        return [r[0] for r in rows]

    def user_exists(self, collection_id: str, user_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM users WHERE collection_id=%s AND user_id=%s", (collection_id, user_id)))

    def set_face_users(self, collection_id: str, face_ids: Sequence[str], user_id: str | None, *,
                       audit: AuditHook | None = None) -> None:
        with self._write() as conn:
            conn.execute("UPDATE faces SET user_id=%s WHERE collection_id=%s AND face_id = ANY(%s)",
                         (user_id, collection_id, list(face_ids)))
            if audit:
                audit(PostgresTx(conn))

    # --- change log -----------------------------------------------------------------------
    def changes_since(self, seq: int) -> list[tuple[int, str, str, str]]:
        rows = self._read("SELECT seq, collection_id, face_id, op FROM changes WHERE seq > %s ORDER BY seq", (seq,))
        return [(int(r[0]), r[1], r[2], r[3]) for r in rows]

    def log_after(self, seq: int, collection_id: str) -> tuple[list[tuple[int, str, str]], int, int]:
        with self.database.snapshot() as conn:
            rows = conn.execute("SELECT seq, face_id, op FROM changes WHERE seq > %s AND collection_id=%s ORDER BY seq",
                                (seq, collection_id)).fetchall()
            last = self._value(conn, "SELECT value FROM counters WHERE name='changes'")
            floor = self._value(conn, "SELECT value::bigint FROM meta WHERE key='compacted_upto'")
        return [(int(r[0]), r[1], r[2]) for r in rows], last, floor

    def face_ids(self, collection_id: str) -> tuple[set[str], int]:
        with self.database.snapshot() as conn:
            last = self._value(conn, "SELECT value FROM counters WHERE name='changes'")
            ids = {r[0] for r in conn.execute("SELECT face_id FROM faces WHERE collection_id=%s", (collection_id,))}
        return ids, last

    def faces_ever(self) -> int:
        return int(self._read("SELECT value FROM counters WHERE name='faces'")[0][0])

    def last_change(self) -> int:
        return int(self._read("SELECT value FROM counters WHERE name='changes'")[0][0])

    def compacted_upto(self) -> int:
        rows = self._read("SELECT value FROM meta WHERE key='compacted_upto'")
        return int(rows[0][0]) if rows else 0

    def compact_changes(self, upto: int) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM changes WHERE seq <= %s", (upto,))
            conn.execute("INSERT INTO meta VALUES ('compacted_upto', %s) ON CONFLICT (key) DO UPDATE SET value="
                         "greatest(meta.value::bigint, excluded.value::bigint)::text", (str(upto),))

    # --- erasure --------------------------------------------------------------------------
    @staticmethod
    def _receipt(conn: Conn, receipt: str, operation: str, collection_id: str, faces: int) -> None:
        conn.execute("INSERT INTO erasures (receipt_id, operation, collection_id, faces, requested) "
                     "VALUES (%s,%s,%s,%s,%s)", (receipt, operation, collection_id, faces, time.time()))

    def erasure(self, receipt_id: str) -> dict[str, Any] | None:
        rows = self._read("SELECT receipt_id, operation, collection_id, faces, requested, completed FROM erasures "
                          "WHERE receipt_id=%s", (receipt_id,))
        if not rows:
            return None
        return dict(zip(("receipt_id", "operation", "collection_id", "faces", "requested", "completed"), rows[0]))

    def pending_erasures(self) -> int:
        rows = self._read("SELECT max(id) FROM erasures WHERE completed IS NULL")
        return int(rows[0][0] or 0)

    def complete_erasures(self, upto: int, when: float) -> None:
        with self._write() as conn:
            conn.execute("UPDATE erasures SET completed=%s WHERE completed IS NULL AND id <= %s", (when, upto))

    def vacuum(self) -> None:
        """Rewrite every table that held a deleted vector or face id (VACUUM FULL: new files, the old
        ones unlinked), then switch the WAL segment and checkpoint until the segments that logged
        the deleted rows are removed (:func:`~.erasure.compact`)."""
        from .erasure import compact

        compact(self.database)

    def checkpoint(self) -> None:
        with self.database.exclusive("checkpoint failed") as conn:
            conn.execute("CHECKPOINT")

    def vector_index(self, collection_id: str, *, candidates: int) -> VectorIndex | None:
        """The collection's index in the database itself (its partition's HNSW index, exact re-scoring)."""
        from .index import PgVectorIndex

        return PgVectorIndex(self, collection_id, candidates=candidates)

    # --- the audit chain's rows -------------------------------------------------------------
    def audit_rows(self, after: int = 0) -> Iterator[tuple[int, str, str, str]]:
        last = after
        while True:  # in pages, so a long chain is not held in memory at once
            rows = self._read("SELECT seq, record, prev_hash, hash FROM audit WHERE seq > %s ORDER BY seq LIMIT 1000",
                              (last,))
            for r in rows:
                yield int(r[0]), r[1], r[2], r[3]
            if len(rows) < 1000:
                return
            last = int(rows[-1][0])

    def audit_hash(self, seq: int) -> str | None:
        rows = self._read("SELECT hash FROM audit WHERE seq=%s", (seq,))
        return str(rows[0][0]) if rows else None

    def audit_last_record(self) -> str | None:
        rows = self._read("SELECT record FROM audit ORDER BY seq DESC LIMIT 1")
        return str(rows[0][0]) if rows else None

    # --- request tokens ---------------------------------------------------------------------
    def recall_token(self, access_key_id: str, operation: str, token: str) -> tuple[str, str] | None:
        rows = self._read("SELECT params_sha256, response FROM request_tokens WHERE access_key_id=%s AND operation=%s "
                          "AND token=%s AND created >= %s", (access_key_id, operation, token, self.clock() - TOKEN_TTL))
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def remember_token(self, access_key_id: str, operation: str, token: str, params_sha256: str,
                       response: str) -> tuple[str, str]:
        now = self.clock()
        with self._write() as conn:
            conn.execute("DELETE FROM request_tokens WHERE created < %s", (now - TOKEN_TTL,))
            conn.execute("INSERT INTO request_tokens VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                         (access_key_id, operation, token, params_sha256, response, now))
            row = conn.execute("SELECT params_sha256, response FROM request_tokens WHERE access_key_id=%s AND "
                               "operation=%s AND token=%s", (access_key_id, operation, token)).fetchone()
        assert row is not None
        return str(row[0]), str(row[1])
