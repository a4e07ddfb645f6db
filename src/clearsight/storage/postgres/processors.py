"""The stream processors of :class:`~.store.PostgresStore` (migration 3), answering as
:class:`~..sqlite.processors.SqliteProcessors` does (``tests/storage/test_congruence.py``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from ...errors import LimitExceededException, ResourceInUseException
from ..base import AuditHook, ProcessorRow, processor_columns

__all__ = ["PostgresProcessors"]

COLUMNS = tuple(f.name for f in fields(ProcessorRow))
SELECT = f"SELECT {', '.join(COLUMNS)} FROM stream_processors"


def _where(expected: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
    items = sorted((expected or {}).items())
    return "".join(f" AND {k} IS NOT DISTINCT FROM %s" for k, _ in items), [v for _, v in items]


class PostgresProcessors:
    """Stream processor methods of PostgresStore (which provides these attributes)."""

    if TYPE_CHECKING:
        clock: Callable[[], float]

        def _write(self) -> Any: ...
        def _read(self, query: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def create_processor(self, row: ProcessorRow, *, max_processors: int, audit: AuditHook | None = None) -> None:
        from .store import PostgresTx

        with self._write() as conn:
            conn.execute("LOCK TABLE stream_processors IN SHARE ROW EXCLUSIVE MODE")  # the count is exact
            if conn.execute("SELECT 1 FROM stream_processors WHERE name=%s", (row.name,)).fetchone():
                raise ResourceInUseException(f"a stream processor named {row.name!r} exists; delete it or "
                                             "choose another name")
            count = conn.execute("SELECT count(*) FROM stream_processors").fetchone()[0]
            if count >= max_processors:
                raise LimitExceededException(f"{count} stream processors exist, the most allowed (setting "
                                             "stream_max_processors); delete one first")
            conn.execute(f"INSERT INTO stream_processors ({', '.join(COLUMNS)}) VALUES "
                         f"({', '.join(['%s'] * len(COLUMNS))})", [getattr(row, c) for c in COLUMNS])
            if audit:
                audit(PostgresTx(conn))

    def processor(self, name: str) -> ProcessorRow | None:
        rows = self._read(f"{SELECT} WHERE name=%s", (name,))
        return ProcessorRow(*rows[0]) if rows else None

    def processors(self, *, after: str = "", limit: int = 1000) -> list[ProcessorRow]:
        return [ProcessorRow(*r) for r in self._read(f"{SELECT} WHERE name > %s ORDER BY name LIMIT %s",
                                                      (after, limit))]

    def update_processor(self, name: str, changes: Mapping[str, Any], *, expected: Mapping[str, Any] | None = None,
                         audit: AuditHook | None = None) -> bool:
        from .store import PostgresTx

        processor_columns(changes, expected)
        values = {**changes, "updated": changes.get("updated", self.clock())}
        where, args = _where(expected)
        with self._write() as conn:
            n = conn.execute(f"UPDATE stream_processors SET {', '.join(f'{k}=%s' for k in values)} "
                             f"WHERE name=%s{where}", [*values.values(), name, *args]).rowcount
            if n == 1 and audit:
                audit(PostgresTx(conn))
        return bool(n == 1)

    def delete_processor(self, name: str, *, expected: Mapping[str, Any] | None = None,
                         audit: AuditHook | None = None) -> bool:
        from .store import PostgresTx

        processor_columns(expected)
        where, args = _where(expected)
        with self._write() as conn:
            n = conn.execute(f"DELETE FROM stream_processors WHERE name=%s{where}", [name, *args]).rowcount
            if n == 1 and audit:
                audit(PostgresTx(conn))
        return bool(n == 1)
