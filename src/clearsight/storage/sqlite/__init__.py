"""The SQLite backend: one :class:`Database` per file (connections, the single writer, numbered
migrations, error translation) and :class:`SqliteStore` over it."""

from __future__ import annotations

from .database import Database, open_database
from .store import SqliteStore, SqliteTx

__all__ = ["Database", "SqliteStore", "SqliteTx", "open_database"]
