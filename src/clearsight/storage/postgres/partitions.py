"""A collection's partition of ``faces``: local (one table with its HNSW index) or sharded (hash
partitions on face_id that are postgres_fdw foreign tables, one per shard server, each naming a
table of the same name on its shard with its own HNSW index: :mod:`.shards`).

On a coordinator with shards (``clearsight store init --shards``) every new collection is
sharded; collections created before stay local.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from .migrations import ID, NO_STATISTICS

__all__ = ["INDEX_TYPES", "children", "create_local", "create_sharded", "hnsw", "is_sharded", "matrix",
           "partition", "shard_table_ddl"]

INDEX_TYPES = {"halfvec": "halfvec_ip_ops", "vector": "vector_ip_ops"}  # the HNSW index's element type

Conn = psycopg.Connection[Any]


def matrix(blobs: Sequence[bytes], dimension: int = 0) -> np.ndarray:
    """Vectors read as ``vector_send(vector)`` (pgvector's binary form: a 4-byte header, then
    big-endian float32) as one float32 matrix, converted in bulk (exactly: no rounding)."""
    if not blobs:
        return np.zeros((0, dimension), np.float32)
    raw = b"".join(bytes(b)[4:] for b in blobs)
    return np.frombuffer(raw, ">f4").astype(np.float32).reshape(len(blobs), -1)


def partition(part: int) -> sql.Identifier:
    return sql.Identifier(f"faces_p{int(part)}")


def hnsw(conn: Conn, part: int, dimension: int, index_type: str) -> None:
    """(Re)create the partition's (or a shard table's) HNSW index for ``dimension``-d vectors."""
    name = sql.Identifier(f"faces_p{int(part)}_hnsw")
    conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(name))
    conn.execute(sql.SQL("CREATE INDEX {} ON {} USING hnsw ((vector::{}({})) {})").format(
        name, partition(part), sql.SQL(index_type), sql.Literal(int(dimension)), sql.SQL(INDEX_TYPES[index_type])))


def create_local(conn: Conn, part: int, collection_id: str, dimension: int, index_type: str) -> None:
    conn.execute(sql.SQL("CREATE TABLE {} PARTITION OF faces (PRIMARY KEY (collection_id, face_id)) "
                         "FOR VALUES IN ({})").format(partition(part), sql.Literal(collection_id)))
    conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN vector SET STORAGE PLAIN, " + NO_STATISTICS).format(
        partition(part)))
    hnsw(conn, part, dimension, index_type)


def shard_table_ddl(part: int, dimension: int, index_type: str) -> list[sql.Composed]:
    """What a shard runs for its table of partition ``part`` (the columns of ``faces``; face ids unique
    on the shard, which hash routing makes unique over all shards)."""
    table = partition(part)
    return [
        sql.SQL("DROP TABLE IF EXISTS {}").format(table),  # left by a create whose coordinator rolled back
        sql.SQL(f"""CREATE TABLE {{}} (
    collection_id {ID}, face_id {ID} PRIMARY KEY, seq bigint NOT NULL, image_id text NOT NULL,
    external_image_id text, bbox text NOT NULL, confidence double precision NOT NULL, user_id text COLLATE "C",
    created double precision NOT NULL, vector vector NOT NULL)""").format(table),
        sql.SQL("ALTER TABLE {} ALTER COLUMN vector SET STORAGE PLAIN, " + NO_STATISTICS).format(table),
        sql.SQL("CREATE INDEX {} ON {} USING hnsw ((vector::{}({})) {})").format(
            sql.Identifier(f"faces_p{int(part)}_hnsw"), table, sql.SQL(index_type), sql.Literal(int(dimension)),
            sql.SQL(INDEX_TYPES[index_type])),
        sql.SQL("CREATE INDEX {} ON {} (user_id)").format(sql.Identifier(f"faces_p{int(part)}_by_user"), table),
    ]


def attach_foreign(conn: Conn, part: int, shard: int, server: str, modulus: int) -> None:
    """The coordinator's foreign partition of ``part`` for ``shard`` (remainder = the shard's number)."""
    conn.execute(sql.SQL("CREATE FOREIGN TABLE {} PARTITION OF {} FOR VALUES WITH (MODULUS {}, REMAINDER {}) "
                         "SERVER {} OPTIONS (table_name {})").format(
        sql.Identifier(f"faces_p{int(part)}_s{int(shard)}"), partition(part), sql.Literal(int(modulus)),
        sql.Literal(int(shard)), sql.Identifier(server), sql.Literal(f"faces_p{int(part)}")))


def create_sharded(conn: Conn, part: int, collection_id: str, servers: Sequence[str]) -> None:
    """The coordinator's side: ``faces_p<part>`` partitioned by HASH(face_id), a foreign partition per
    shard (the shards' tables are made first: :func:`~.shards.prepare_partition`)."""
    conn.execute(sql.SQL("CREATE TABLE {} PARTITION OF faces FOR VALUES IN ({}) PARTITION BY HASH (face_id)").format(
        partition(part), sql.Literal(collection_id)))
    for shard, server in enumerate(servers):
        attach_foreign(conn, part, shard, server, len(servers))


def is_sharded(conn: Conn, part: int) -> bool:
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s))",
                       (f"faces_p{int(part)}",)).fetchone()
    return bool(row and row[0])


def children(conn: Conn, part: int) -> list[str]:
    """The foreign partitions of a sharded partition, by shard number (empty for a local one)."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%s) AND c.relkind = 'f'", (f"faces_p{int(part)}",)).fetchall()
    return sorted((str(r[0]) for r in rows), key=lambda name: int(name.rsplit("_s", 1)[1]))
