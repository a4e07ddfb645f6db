"""``clearsight store status`` on PostgreSQL: the server, the schema, whether erasure can complete
there, and each collection's partition (faces, heap and HNSW index bytes)."""

from __future__ import annotations

from typing import Any

from .database import PgDatabase, redact

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
    counts = dict(db.read("SELECT collection_id, count(*) FROM faces GROUP BY collection_id"))
    pending = db.read("SELECT count(*) FROM erasures WHERE completed IS NULL")[0][0]
    return {
        "Backend": "postgresql", "Url": redact(db.url), "ServerVersion": server[0], "Pgvector": server[1],
        "SchemaVersion": db.version, "WalRecycle": server[2], "ErasureCanComplete": server[2] == "off",
        "PendingErasures": int(pending),
        "Collections": [{"CollectionId": r[0], "Partition": f"faces_p{r[1]}", "Dimension": int(r[2]),
                         "FaceModel": r[3], "Faces": int(counts.get(r[0], 0)), "HeapBytes": int(r[4]),
                         "HnswBytes": int(r[5]), "HnswType": "halfvec" if "halfvec" in str(r[6]) else "vector"}
                        for r in rows]}
