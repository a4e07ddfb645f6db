"""Erasure on PostgreSQL: leave no byte of a deleted face in the server's data directory.

A DELETE only marks rows dead: the vector stays in the partition's heap pages, its HNSW index and
the WAL segments that logged its insertion, until they are rewritten. :func:`compact`:

1. VACUUM FULL of every partition a pending erasure receipt names and of the small tables that
   name faces or images (change log, sources, staged vectors, users, request tokens, the
   statistics catalog): each is written anew and its old files unlinked;
2. ``pg_switch_wal()`` then ``CHECKPOINT``, twice: the segments holding the deleted rows (and
   the old files' pages) fall behind the checkpoint's redo point and are removed.

Step 2 removes segments only with ``wal_recycle = off``: a recycled segment is renamed for reuse
and keeps its old bytes until overwritten. :func:`compact` refuses (StorageError, saying what to
set) on a server that recycles, rather than complete a receipt it cannot honour. WAL kept for
``wal_keep_size``, replication slots or an archive, and the files of standbys, are the
operator's (docs/postgres.md).

On a coordinator with shards (:mod:`.shards`) the same runs on every shard, at once, after the
coordinator's own (:func:`~.shards.compact_shards`, reusing :func:`refuse_recycling` and
:func:`flush_wal`); the receipts complete only when every shard has done it.

:func:`scan` is the proof: it looks for byte strings (chunks of a vector as float32 and as
float16) in every file of a data directory, ``pg_wal`` included.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
from psycopg import sql

from ...errors import StorageError

if TYPE_CHECKING:
    from .database import PgDatabase

__all__ = ["SMALL_TABLES", "compact", "flush_wal", "needles", "raise_maintenance_memory", "refuse_recycling", "scan"]

SMALL_TABLES = ("changes", "sources", "staged_vectors", "users", "request_tokens", "meta", "pg_statistic")
ROUNDS = 2  # WAL switch + checkpoint rounds
# VACUUM FULL rebuilds the partition's HNSW index; pgvector builds the graph in memory up to
# maintenance_work_mem and far slower beyond it (PostgreSQL's default is 64 MB: about 90k faces of
# 192-d halfvec). The erasure's session raises it to this (never lowers a larger server value).
ERASE_MAINTENANCE_WORK_MEM_MB = 1024


def raise_maintenance_memory(conn: psycopg.Connection[Any]) -> None:
    """Give this session's VACUUM FULL (its HNSW rebuild) ERASE_MAINTENANCE_WORK_MEM_MB, unless the
    server already allows more."""
    row = conn.execute("SELECT setting::bigint * 1024 FROM pg_settings WHERE name = 'maintenance_work_mem'"
                       ).fetchone()  # pg_settings gives kB: bytes here
    if row is None or int(row[0]) < ERASE_MAINTENANCE_WORK_MEM_MB * 1024 * 1024:
        conn.execute(f"SET maintenance_work_mem = '{int(ERASE_MAINTENANCE_WORK_MEM_MB)}MB'")


def compact(db: PgDatabase) -> None:
    with db.exclusive("erasure (VACUUM FULL, WAL switch, CHECKPOINT) failed") as conn:
        refuse_recycling(conn)
        raise_maintenance_memory(conn)
        parts = conn.execute(
            "SELECT DISTINCT c.part FROM erasures e JOIN collections c USING (collection_id) "
            "WHERE e.completed IS NULL ORDER BY 1").fetchall()
        for (part,) in parts:
            conn.execute(sql.SQL("VACUUM FULL {}").format(sql.Identifier(f"faces_p{int(part)}")))
        for table in SMALL_TABLES:
            conn.execute(sql.SQL("VACUUM FULL {}").format(sql.Identifier(table)))
        flush_wal(conn)
        from .shards import compact_shards

        compact_shards(conn, [int(p) for (p,) in parts])  # the same on every shard (nothing without shards)


def refuse_recycling(conn: psycopg.Connection[Any], where: str = "this PostgreSQL server") -> None:
    """StorageError unless the server removes WAL segments behind a checkpoint (wal_recycle = off)."""
    # the server's value (a session's SET would not change what the checkpointer does)
    recycle = conn.execute("SELECT reset_val FROM pg_settings WHERE name = 'wal_recycle'").fetchone()
    if recycle and recycle[0] == "on":
        raise StorageError(
            f"{where} recycles WAL segments (wal_recycle = on), so deleted faces' bytes would "
            "stay in renamed segments: run `ALTER SYSTEM SET wal_recycle = off; SELECT pg_reload_conf();` "
            "as a superuser (docs/postgres.md, 'Erasure'), then `clearsight erase`")


def flush_wal(conn: psycopg.Connection[Any]) -> None:
    """Switch the WAL segment and checkpoint, :data:`ROUNDS` times: the segments that logged what was
    rewritten fall behind the redo point and are removed."""
    for _ in range(ROUNDS):
        conn.execute("SELECT pg_switch_wal()")
        conn.execute("CHECKPOINT")


def needles(vector: np.ndarray, *, chunk: int = 24) -> list[bytes]:
    """Byte strings that only this vector's stored forms contain: chunks (from the start, middle and
    end) of it as little-endian float32 (heap, WAL, a vector HNSW index) and float16 (a halfvec
    index). Chunks, because a WAL record may be split across WAL pages."""
    found: list[bytes] = []
    for dtype in ("<f4", "<f2"):
        raw = np.asarray(vector, np.float32).astype(dtype).tobytes()
        for start in (0, (len(raw) - chunk) // 2, len(raw) - chunk):
            found.append(raw[max(0, start):max(0, start) + chunk])
    return found


def scan(data_dir: Path, patterns: Sequence[bytes]) -> list[tuple[Path, int]]:
    """(file, pattern number) for every file under ``data_dir`` holding any of ``patterns``."""
    hits: list[tuple[Path, int]] = []
    for path in _files(data_dir):
        try:
            blob = path.read_bytes()
        except OSError:
            continue  # removed while scanning (a recycled segment, a temporary file)
        hits += [(path, i) for i, p in enumerate(patterns) if p in blob]
    return hits


def _files(root: Path) -> Iterable[Path]:
    for folder, _, names in os.walk(root):
        for name in names:
            yield Path(folder) / name
