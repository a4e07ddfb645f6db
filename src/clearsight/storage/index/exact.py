"""The exact index: one contiguous float32 matrix per collection, searched with one matrix-vector
product (correct by construction). Deletes swap the last row into the hole and zero the old last
row (O(1) whatever the collection size), so a deleted vector does not linger in memory or in the
next snapshot.

Snapshot: a JSON header (collection, dimension, count, change seq, crc32) followed by the ids
and the matrix. A snapshot whose header disagrees with the file's size or the database (a count
no collection ever reached, another dimension...) or whose crc32 does not match is ignored and
the index is rebuilt from the store.

Mutations are serialised by the caller (:class:`~clearsight.collections.service.Collections`
holds its lock); the index's own ``lock`` only keeps a concurrent search from seeing a
half-applied change.
"""

from __future__ import annotations

import json
import struct
import threading
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..base import Hit
from .snapshot import MAGIC, MAX_DIMENSION, atomic_write, check_field, read_header, remaining_bytes

__all__ = ["ExactIndex", "Hit"]


class ExactIndex:
    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self._mat = np.zeros((0, dimension), np.float32)
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self.seq = 0  # the last database change applied
        self.lock = threading.Lock()  # adds may reallocate the matrix under a concurrent search

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, face_id: object) -> bool:
        return face_id in self._row

    @property
    def matrix(self) -> np.ndarray:
        return self._mat[: len(self._ids)]

    @property
    def ids(self) -> list[str]:
        return self._ids

    def add(self, ids: list[str], vectors: np.ndarray) -> None:
        with self.lock:
            self._add(ids, vectors)

    def _add(self, ids: list[str], vectors: np.ndarray) -> None:
        fresh = [(i, v) for i, v in zip(ids, vectors) if i not in self._row]
        if not fresh:
            return
        n, need = len(self._ids), len(self._ids) + len(fresh)
        if need > len(self._mat):
            grown = np.zeros((max(need, int(len(self._mat) * 1.5) + 1024), self.dimension), np.float32)
            grown[:n] = self._mat[:n]
            self._mat = grown
        for k, (face_id, vec) in enumerate(fresh):
            self._mat[n + k] = vec
            self._row[face_id] = n + k
            self._ids.append(face_id)

    def remove(self, ids: list[str]) -> None:
        with self.lock:
            self._remove(ids)

    def _remove(self, ids: list[str]) -> None:
        for face_id in ids:
            row = self._row.pop(face_id, None)
            if row is None:
                continue
            last = len(self._ids) - 1
            if row != last:
                moved = self._ids[last]
                self._mat[row] = self._mat[last]
                self._ids[row] = moved
                self._row[moved] = row
            self._mat[last] = 0.0  # erase, do not just forget
            self._ids.pop()

    def search(self, query: np.ndarray, *, k: int, min_score: float = -1.0) -> list[Hit]:
        with self.lock:
            n = len(self._ids)
            if n == 0 or k <= 0:
                return []
            scores = self._mat[:n] @ np.asarray(query, np.float32)
            top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
            top = top[scores[top] >= min_score]
            top = top[np.argsort(-scores[top], kind="stable")]
            return [Hit(self._ids[i], float(scores[i])) for i in top]

    # --- persistence ----------------------------------------------------------------------
    def save(self, path: Path, collection_id: str) -> None:
        atomic_write(path, lambda fh: self.write_to(fh, collection_id))

    def write_to(self, fh: BinaryIO, collection_id: str) -> None:
        with self.lock:
            n = len(self._ids)
            ids_blob = "\n".join(self._ids).encode()
            mat = np.ascontiguousarray(self._mat[:n])
        crc = zlib.crc32(mat.data, zlib.crc32(ids_blob))
        header = json.dumps({"collection": collection_id, "dimension": self.dimension, "count": n,
                             "seq": self.seq, "crc32": crc, "ids_bytes": len(ids_blob)}).encode()
        fh.write(MAGIC + struct.pack("<I", len(header)) + header + ids_blob)
        fh.write(mat.data)

    @classmethod
    def load(cls, path: Path, collection_id: str, dimension: int, *, max_count: int | None = None) -> ExactIndex | None:
        """The snapshot, or None when it is missing, damaged, implausible or of another collection.
        ``max_count`` is the most faces the collection can have held (from the database)."""
        try:
            with open(path, "rb") as fh:
                return cls.read_from(fh, collection_id, dimension, max_count=max_count)
        except OSError:
            return None

    @classmethod
    def read_from(cls, fh: BinaryIO, collection_id: str, dimension: int, *,
                  max_count: int | None = None) -> ExactIndex | None:
        try:
            header = read_header(fh, MAGIC)
            if header.get("collection") != collection_id:
                return None
            d = check_field(header, "dimension", 1, MAX_DIMENSION)
            if d != dimension:
                return None
            left = remaining_bytes(fh)
            n = check_field(header, "count", 0, min(left // (4 * d), max_count if max_count is not None else left))
            ids_bytes = check_field(header, "ids_bytes", 0, left - n * d * 4)
            crc = check_field(header, "crc32", 0, 0xFFFFFFFF)
            seq = check_field(header, "seq", 0, 1 << 62)
            ids_blob = fh.read(ids_bytes)
            raw = fh.read(n * d * 4)
        except (OSError, ValueError, KeyError, struct.error, RecursionError):
            return None
        if len(raw) != n * d * 4 or len(ids_blob) != ids_bytes:
            return None
        if zlib.crc32(raw, zlib.crc32(ids_blob)) != crc:
            return None
        index = cls(dimension)
        ids = ids_blob.decode().split("\n") if n else []
        if len(ids) != n:
            return None
        index._mat = np.frombuffer(raw, np.float32).reshape(n, d).copy()
        index._ids = ids
        index._row = {f: i for i, f in enumerate(ids)}
        index.seq = seq
        return index
