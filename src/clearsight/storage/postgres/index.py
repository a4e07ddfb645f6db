"""``PgVectorIndex``: a collection's :class:`~..base.VectorIndex` kept by PostgreSQL itself.

The store's writes are the index's writes: a face's row and its HNSW entry commit in the same
transaction, so there is nothing to add, remove, catch up or snapshot, and every process sees the
same index (``seq`` is always the store's newest change). A search:

- below ``candidates`` faces, reads every vector of the partition and scores them all exactly:
  exact search, as :class:`~..index.ExactIndex` (a bounded count decides, never a full count);
- above, asks the partition's HNSW index for the ``candidates`` nearest (by inner product on the
  halfvec or vector cast; ``hnsw.ef_search`` = candidates, at most 1000, with iterative scans so
  the LIMIT is met), then re-scores those exactly from their stored float32 vectors;
- for a collection laid over shards (:mod:`.shards`), asks every shard for its nearest in one
  statement (:func:`sharded_nearest`; the shards' sessions run ``hnsw.ef_search`` 1000 with
  iterative scans): ``candidates / shards`` each (at least ``k``, so the union holds every shard's
  own top k and the global top k with it), the same number of candidates in all as on one server,
  then re-scores them all exactly.

Returned scores are always exact float32 inner products, computed as ExactIndex computes them;
the result set equals exact search unless a true result falls outside the HNSW candidates
(``tests/storage/test_postgres.py`` measures it at Similarity 99).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from psycopg import sql

from ..base import Hit
from .partitions import children, matrix, partition
from .shards import count

if TYPE_CHECKING:
    from .store import PostgresStore

__all__ = ["PgVectorIndex", "sharded_nearest"]

MAX_EF_SEARCH = 1000  # pgvector's limit on hnsw.ef_search


def sharded_nearest(shards: list[str], cast: sql.Composable) -> sql.Composed:
    """One statement for the ``LIMIT`` nearest on every shard: a UNION ALL of one ordered, limited
    scan of each foreign partition. postgres_fdw ships each branch whole (its remote SQL ends in
    ``ORDER BY (vector::halfvec(d)) <#> q LIMIT n``: the shard's HNSW index scan), which a query on the
    hash-partitioned parent does not (a Merge Append whose remote scans carry no LIMIT). The distance
    is a selected column and the branches are the statement itself (no outer SELECT): so nothing is
    left for a Subquery Scan to project away, the Foreign Scans sit directly under the Append, and
    postgres_fdw runs them asynchronously (``async_capable``: every shard works at once). Rows:
    (face_id, vector_send(vector), distance). Parameters: (query vector, limit) per shard."""
    branch = sql.SQL("(SELECT face_id, vector_send(vector), (vector::{}) <#> (%b::vector)::{} AS distance "
                     "FROM {} ORDER BY distance LIMIT %s)")
    return sql.SQL(" UNION ALL ").join(branch.format(cast, cast, sql.Identifier(s)) for s in shards)


class PgVectorIndex:
    def __init__(self, store: PostgresStore, collection_id: str, *, candidates: int) -> None:
        rows = store.database.read("SELECT part, dimension FROM collections WHERE collection_id=%s", (collection_id,))
        self.store = store
        self.collection_id = collection_id
        self.part, self.dimension = (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)
        self.table = partition(self.part)
        self.candidates = max(1, int(candidates))
        self._count: tuple[int, int] | None = None  # (seq, faces) last counted

    @property
    def seq(self) -> int:
        return self.store.last_change()

    @seq.setter
    def seq(self, value: int) -> None:
        pass  # always current: the database is the index

    def __len__(self) -> int:
        """The face count (counted again only after a change: every search asks for it)."""
        seq = self.store.last_change()
        if self._count is None or self._count[0] != seq:
            db = self.store.database
            with db.errors("database read failed"):
                self._count = (seq, count(db.connection, self.part) if self.part else 0)
        return self._count[1]

    def __contains__(self, face_id: object) -> bool:
        rows = self.store.database.read(sql.SQL("SELECT 1 FROM {} WHERE face_id=%s").format(self.table), (face_id,))
        return bool(rows)

    @property
    def ids(self) -> list[str]:
        rows = self.store.database.read(sql.SQL("SELECT face_id FROM {} ORDER BY seq").format(self.table))
        return [r[0] for r in rows]

    def add(self, ids: list[str], vectors: np.ndarray) -> None:
        pass  # written by the store, in the write's transaction

    def remove(self, ids: list[str]) -> None:
        pass

    def save(self, path: Path, collection_id: str) -> None:
        pass  # nothing to snapshot: PostgreSQL persists the index

    def _candidates(self, query: np.ndarray, want: int, k: int) -> list[tuple[Any, ...]]:
        """(face_id, vector) of every face when there are at most ``want``, else HNSW's ``want`` nearest."""
        db = self.store.database
        with db.errors("search failed"), db.connection.transaction(), db.connection.cursor(binary=True) as cur:
            cur.execute("SET TRANSACTION READ ONLY")
            few = cur.execute(sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT %s) s").format(self.table),
                              (want + 1,)).fetchone()
            if few is not None and int(few[0]) <= want:
                every = sql.SQL("SELECT face_id, vector_send(vector) FROM {} ORDER BY seq")
                return cur.execute(every.format(self.table)).fetchall()
            cur.execute("SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', "
                        "'relaxed_order', true)", (str(min(max(want, 40), MAX_EF_SEARCH)),))
            cast = sql.SQL("{}({})").format(sql.SQL(self.store.index_type), sql.Literal(self.dimension))
            shards = children(db.connection, self.part)
            if shards:  # scatter-gather: each shard's own ordered HNSW scan with its share of the LIMIT
                each = max(-(-want // len(shards)), k)
                return cur.execute(sharded_nearest(shards, cast),
                                   [np.asarray(query, np.float32), each] * len(shards)).fetchall()
            nearest = sql.SQL("SELECT face_id, vector_send(vector) FROM {} ORDER BY (vector::{}) <#> (%b::vector)::{} "
                              "LIMIT %s")
            return cur.execute(nearest.format(self.table, cast, cast),
                               (np.asarray(query, np.float32), want)).fetchall()

    def search(self, query: np.ndarray, *, k: int, min_score: float = -1.0) -> list[Hit]:
        if k <= 0 or not self.part:
            return []
        rows = self._candidates(query, max(self.candidates, 8 * k), k)
        if not rows:
            return []
        mat = matrix([r[1] for r in rows])
        scores = mat @ np.asarray(query, np.float32)
        order = np.argsort(-scores, kind="stable")
        return [Hit(rows[i][0], float(scores[i])) for i in order[:k] if scores[i] >= min_score]
