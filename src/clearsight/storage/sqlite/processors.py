"""The stream processors of :class:`~.store.SqliteStore`: the ``stream_processors`` table (migration 5)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import LimitExceededException, ResourceInUseException
from ..base import AuditHook, ProcessorRow, processor_columns
from .database import insert_row

__all__ = ["SqliteProcessors"]


def _where(expected: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
    items = sorted((expected or {}).items())
    return "".join(f" AND {k} IS ?" for k, _ in items), [v for _, v in items]


class SqliteProcessors:
    """Stream processor methods of SqliteStore (which provides these attributes)."""

    if TYPE_CHECKING:
        clock: Callable[[], float]

        def _write(self) -> Any: ...
        def _read(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]: ...

    def create_processor(self, row: ProcessorRow, *, max_processors: int, audit: AuditHook | None = None) -> None:
        from .jobs import _tx

        with self._write() as db:
            if db.execute("SELECT 1 FROM stream_processors WHERE name=?", (row.name,)).fetchone():
                raise ResourceInUseException(f"a stream processor named {row.name!r} exists; delete it or "
                                             "choose another name")
            count = db.execute("SELECT count(*) FROM stream_processors").fetchone()[0]
            if count >= max_processors:
                raise LimitExceededException(f"{count} stream processors exist, the most allowed (setting "
                                             "stream_max_processors); delete one first")
            insert_row(db, "stream_processors", row)
            if audit:
                audit(_tx(db))

    def processor(self, name: str) -> ProcessorRow | None:
        rows = self._read("SELECT * FROM stream_processors WHERE name=?", (name,))
        return ProcessorRow(**dict(rows[0])) if rows else None

    def processors(self, *, after: str = "", limit: int = 1000) -> list[ProcessorRow]:
        rows = self._read("SELECT * FROM stream_processors WHERE name > ? ORDER BY name LIMIT ?", (after, limit))
        return [ProcessorRow(**dict(r)) for r in rows]

    def update_processor(self, name: str, changes: Mapping[str, Any], *, expected: Mapping[str, Any] | None = None,
                         audit: AuditHook | None = None) -> bool:
        from .jobs import _tx

        processor_columns(changes, expected)
        values = {**changes, "updated": changes.get("updated", self.clock())}
        where, args = _where(expected)
        with self._write() as db:
            n = db.execute(f"UPDATE stream_processors SET {', '.join(f'{k}=?' for k in values)} WHERE name=?{where}",
                           [*values.values(), name, *args]).rowcount
            if n == 1 and audit:
                audit(_tx(db))
        return bool(n == 1)

    def delete_processor(self, name: str, *, expected: Mapping[str, Any] | None = None,
                         audit: AuditHook | None = None) -> bool:
        from .jobs import _tx

        processor_columns(expected)
        where, args = _where(expected)
        with self._write() as db:
            n = db.execute(f"DELETE FROM stream_processors WHERE name=?{where}", [name, *args]).rowcount
            if n == 1 and audit:
                audit(_tx(db))
        return bool(n == 1)
