"""``AccessKeyTable``: the ``access_keys`` rows, in whichever database the store uses.

The SQL is the same on SQLite and PostgreSQL but for the parameter marker, which each database
object names (``param``); the key store (:mod:`clearsight.server.keys`) encrypts and checks.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["KEY_COLUMNS", "AccessKeyTable", "KeyDatabase"]

KEY_COLUMNS = "access_key_id, name, created, revoked, scopes, collections, purpose"


class KeyDatabase(Protocol):
    param: str  # the parameter marker: "?" (sqlite3) or "%s" (psycopg)

    def read(self, query: str, args: Any = ()) -> list[Any]: ...
    def transaction(self) -> Any: ...


class AccessKeyTable:
    def __init__(self, db: KeyDatabase) -> None:
        self.db = db
        self._p = db.param

    def _sql(self, query: str) -> str:
        return query.replace("?", self._p)

    def insert(self, key_id: str, name: str, secret: str, created: float, admin: bool, scopes: str,
               collections: str, purpose: str | None) -> None:
        with self.db.transaction() as conn:
            conn.execute(self._sql("INSERT INTO access_keys VALUES (?,?,?,?,NULL,?,?,?,?)"),
                         (key_id, name, secret, created, int(admin), scopes, collections, purpose))

    def get(self, key_id: str) -> tuple[Any, ...] | None:
        rows = self.db.read(self._sql(f"SELECT {KEY_COLUMNS} FROM access_keys WHERE access_key_id=?"), (key_id,))
        return tuple(rows[0]) if rows else None

    def active_secret(self, key_id: str) -> str | None:
        rows = self.db.read(self._sql("SELECT secret FROM access_keys WHERE access_key_id=? AND revoked IS NULL"),
                            (key_id,))
        return str(rows[0][0]) if rows else None

    def all(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.db.read(f"SELECT {KEY_COLUMNS} FROM access_keys ORDER BY created")]

    def revoke(self, key_id: str, when: float) -> bool:
        """Revoke an active key; False when there is none of that id."""
        with self.db.transaction() as conn:
            changed = conn.execute(self._sql("UPDATE access_keys SET revoked=? WHERE access_key_id=? AND "
                                             "revoked IS NULL"), (when, key_id)).rowcount
        return bool(changed)

    def count(self) -> int:
        return int(self.db.read("SELECT count(*) FROM access_keys")[0][0])
