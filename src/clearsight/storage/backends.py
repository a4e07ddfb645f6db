"""The one place where ``storage_url`` picks the backend.

``storage_url`` (a setting) is empty or ``sqlite:///PATH`` for SQLite (default: ``clearsight.db``
in the data directory; a relative PATH is taken from the data directory), or
``postgresql://...`` (libpq's URL: user, password, host or a socket directory, port, database)
for PostgreSQL + pgvector (``pip install 'clearsight[postgres]'``). Whatever opens the store,
the audit chain's rows or the access keys goes through :func:`open_database_for`, so one process
shares one database object (its connections and write lock) between them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StorageError

if TYPE_CHECKING:
    from .base import Store
    from .postgres import PgDatabase
    from .sqlite import Database

__all__ = ["is_postgres", "open_database_for", "open_store", "sqlite_path", "status"]

SCHEMES = ("postgresql://", "postgres://")


def is_postgres(url: str) -> bool:
    return url.startswith(SCHEMES)


def sqlite_path(url: str, data_dir: Path) -> Path:
    """The SQLite file ``url`` names (empty: the data directory's clearsight.db)."""
    if not url:
        return data_dir / "clearsight.db"
    if not url.startswith("sqlite:///") or url == "sqlite:///":
        raise StorageError(f"storage_url {url.split('@')[-1]!r} is neither sqlite:///PATH nor postgresql://...; "
                           "set CLEARSIGHT_STORAGE_URL to one of them, or leave it empty for "
                           f"{data_dir / 'clearsight.db'}")
    path = Path(url.removeprefix("sqlite:///"))
    return path if path.is_absolute() else data_dir / path


def _postgres(url: str) -> PgDatabase:
    try:
        from .postgres import open_pg_database
    except ImportError as exc:
        raise StorageError("storage_url is a PostgreSQL URL but psycopg or pgvector is not installed: "
                           "pip install 'clearsight[postgres]'") from exc
    return open_pg_database(url)


def open_database_for(url: str, data_dir: Path) -> Database | PgDatabase:
    """This process's database object for ``url``."""
    if is_postgres(url):
        return _postgres(url)
    from .sqlite import open_database

    return open_database(sqlite_path(url, data_dir))


def open_store(url: str, data_dir: Path) -> Store:
    """The store of record ``url`` names."""
    if is_postgres(url):
        from .postgres import PostgresStore

        return PostgresStore(_postgres(url))
    from .sqlite import SqliteStore, open_database

    return SqliteStore(open_database(sqlite_path(url, data_dir)))


def status(url: str, data_dir: Path) -> dict[str, Any]:
    """What ``clearsight store status`` prints: the backend, its schema and each collection's size."""
    if is_postgres(url):
        from .postgres.status import status as pg_status

        return pg_status(_postgres(url))
    from .sqlite import open_database

    path = sqlite_path(url, data_dir)
    db = open_database(path)
    rows = db.read("SELECT c.collection_id, c.dimension, c.face_model, (SELECT count(*) FROM faces f WHERE "
                   "f.collection_id = c.collection_id) FROM collections c ORDER BY c.collection_id")
    return {"Backend": "sqlite", "Path": str(path), "Bytes": path.stat().st_size if path.exists() else 0,
            "SchemaVersion": db.version,
            "Collections": [{"CollectionId": r[0], "Dimension": int(r[1]), "FaceModel": r[2], "Faces": int(r[3])}
                            for r in rows]}
