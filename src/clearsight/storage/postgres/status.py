"""``clearsight store status`` on PostgreSQL: the server, the schema, whether erasure can complete
there, each collection's partition (faces, heap and HNSW index bytes; a sharded one's faces
counted on its shards), and each shard (reachable, faces, bytes: :func:`.shards.status`)."""

from __future__ import annotations

from typing import Any

import psycopg

from .database import PgDatabase, redact
from .partitions import is_sharded
from .shards import count
from .shards import status as shard_status

__all__ = ["status"]


def status(db: PgDatabase) -> dict[str, Any]:
    server = db.read("SELECT current_setting('server_version'), (SELECT extversion FROM pg_extension "
                     "WHERE extname='vector'), (SELECT reset_val FROM pg_settings WHERE name='wal_recycle')")[0]
    rows = db.read(
        "SELECT c.collection_id, c.part, c.dimension, c.face_model, "
        "coalesce(pg_relation_size(to_regclass('faces_p' || c.part)), 0), "
        "coalesce(pg_relation_size(to_regclass('faces_p' || c.part || '_hnsw')), 0), "
        "(SELECT pg_get_indexdef(to_regclass('faces_p' || c.part || '_hnsw'))) "
        "FROM collections c ORDER BY c.collection_id")
    with db.errors("database read failed"):
        conn = db.connection
        sharded = {r[0] for r in rows if is_sharded(conn, int(r[1]))}
        counts: dict[str, int | None] = {}
        for r in rows:
            try:
                counts[r[0]] = count(conn, int(r[1]))
            except psycopg.OperationalError:  # a shard is unreachable: the shards' entries say which
                counts[r[0]] = None
    pending = db.read("SELECT count(*) FROM erasures WHERE completed IS NULL")[0][0]
    shards = shard_status(db)
    can_erase = server[2] == "off" and all(s.get("WalRecycle") == "off" for s in shards)  # and reachable
    return {
        "Backend": "postgresql", "Url": redact(db.url), "ServerVersion": server[0], "Pgvector": server[1],
        "SchemaVersion": db.version, "WalRecycle": server[2], "ErasureCanComplete": can_erase,
        "PendingErasures": int(pending),
        "Collections": [{"CollectionId": r[0], "Partition": f"faces_p{r[1]}", "Dimension": int(r[2]),
                         "FaceModel": r[3], "Faces": counts.get(r[0]), "HeapBytes": int(r[4]),
                         "HnswBytes": int(r[5]), "HnswType": "halfvec" if "halfvec" in str(r[6]) else "vector",
                         "Sharded": r[0] in sharded}
                        for r in rows],
        "Shards": shards}
