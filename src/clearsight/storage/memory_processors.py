"""The stream processors of :class:`~.memory.MemoryStore`, answering as SQLite's do."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import LimitExceededException, ResourceInUseException
from .base import AuditHook, ProcessorRow, processor_columns

if TYPE_CHECKING:
    from .memory import _State

__all__ = ["MemoryProcessors"]


def _matches(row: ProcessorRow, expected: Mapping[str, Any] | None) -> bool:
    return all(getattr(row, k) == v for k, v in (expected or {}).items())


class MemoryProcessors:
    """Stream processor methods of MemoryStore (which provides these attributes)."""

    if TYPE_CHECKING:
        clock: Callable[[], float]
        _state: _State
        _lock: threading.RLock

        def _write(self) -> Any: ...

    def create_processor(self, row: ProcessorRow, *, max_processors: int, audit: AuditHook | None = None) -> None:
        from .memory import MemoryTx

        with self._write() as s:
            if row.name in s.processors:
                raise ResourceInUseException(f"a stream processor named {row.name!r} exists; delete it or "
                                             "choose another name")
            if len(s.processors) >= max_processors:
                raise LimitExceededException(f"{len(s.processors)} stream processors exist, the most allowed "
                                             "(setting stream_max_processors); delete one first")
            s.processors[row.name] = row
            if audit:
                audit(MemoryTx(s))

    def processor(self, name: str) -> ProcessorRow | None:
        with self._lock:
            return self._state.processors.get(name)

    def processors(self, *, after: str = "", limit: int = 1000) -> list[ProcessorRow]:
        with self._lock:
            rows = [p for p in self._state.processors.values() if p.name > after]
        return sorted(rows, key=lambda p: p.name)[:limit]

    def update_processor(self, name: str, changes: Mapping[str, Any], *, expected: Mapping[str, Any] | None = None,
                         audit: AuditHook | None = None) -> bool:
        from .memory import MemoryTx

        processor_columns(changes, expected)
        with self._write() as s:
            row = s.processors.get(name)
            if row is None or not _matches(row, expected):
                return False
            s.processors[name] = replace(row, **{**changes, "updated": changes.get("updated", self.clock())})
            if audit:
                audit(MemoryTx(s))
        return True

    def delete_processor(self, name: str, *, expected: Mapping[str, Any] | None = None,
                         audit: AuditHook | None = None) -> bool:
        from .memory import MemoryTx

        processor_columns(expected)
        with self._write() as s:
            row = s.processors.get(name)
            if row is None or not _matches(row, expected):
                return False
            del s.processors[name]
            if audit:
                audit(MemoryTx(s))
        return True
