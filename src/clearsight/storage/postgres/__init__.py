"""The PostgreSQL + pgvector backend (``pip install 'clearsight[postgres]'``): one
:class:`PgDatabase` per database URL (connections, the serial writer, numbered migrations, error
translation), :class:`PostgresStore` over it, the index PostgreSQL keeps itself
(:class:`PgVectorIndex`) and erasure (:mod:`.erasure`)."""

from __future__ import annotations

from .database import PgDatabase, open_pg_database
from .index import PgVectorIndex
from .store import PostgresStore, PostgresTx

__all__ = ["PgDatabase", "PgVectorIndex", "PostgresStore", "PostgresTx", "open_pg_database"]
