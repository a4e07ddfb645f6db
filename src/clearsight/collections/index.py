"""Vector index: derived from SQLite, persisted beside it, caught up or rebuilt at start.

The exact index keeps one contiguous float32 matrix per collection and answers threshold +
top-k queries with one matrix-vector product: correct by construction. Deletes swap the last
row into the hole and zero the old last row, so a deleted vector does not linger in memory or
in the next snapshot.

Snapshot file: a small JSON header (collection, dimension, count, change seq, crc32) followed
by the ids and the matrix. A snapshot whose crc32 does not match, or whose change seq is ahead
of the database, is ignored and the index is rebuilt from SQLite.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"CSIDX001"


@dataclass(frozen=True)
class Hit:
    face_id: str
    score: float


class ExactIndex:
    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self._mat = np.zeros((0, dimension), np.float32)
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self.seq = 0  # the last database change applied

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
        n = len(self._ids)
        if n == 0 or k <= 0:
            return []
        scores = self._mat[:n] @ np.asarray(query, np.float32)
        if k < n:
            top = np.argpartition(-scores, k - 1)[:k]
        else:
            top = np.arange(n)
        top = top[scores[top] >= min_score]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [Hit(self._ids[i], float(scores[i])) for i in top]

    # --- persistence ----------------------------------------------------------------------
    def save(self, path: Path, collection_id: str) -> None:
        n = len(self._ids)
        ids_blob = "\n".join(self._ids).encode()
        mat = np.ascontiguousarray(self._mat[:n])
        crc = zlib.crc32(mat.data, zlib.crc32(ids_blob))
        header = json.dumps({"collection": collection_id, "dimension": self.dimension, "count": n,
                             "seq": self.seq, "crc32": crc, "ids_bytes": len(ids_blob)}).encode()
        tmp = path.with_suffix(".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(MAGIC + struct.pack("<I", len(header)) + header + ids_blob)
            fh.write(mat.data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, collection_id: str, dimension: int) -> ExactIndex | None:
        """The snapshot, or None when it is missing, damaged or of another collection."""
        try:
            with open(path, "rb") as fh:
                if fh.read(8) != MAGIC:
                    return None
                (hlen,) = struct.unpack("<I", fh.read(4))
                header = json.loads(fh.read(hlen))
                ids_blob = fh.read(header["ids_bytes"])
                n, d = int(header["count"]), int(header["dimension"])
                raw = fh.read(n * d * 4)
        except (OSError, ValueError, KeyError, struct.error):
            return None
        if header.get("collection") != collection_id or d != dimension or len(raw) != n * d * 4:
            return None
        if zlib.crc32(raw, zlib.crc32(ids_blob)) != header["crc32"]:
            return None
        index = cls(dimension)
        ids = ids_blob.decode().split("\n") if n else []
        if len(ids) != n:
            return None
        index._mat = np.frombuffer(raw, np.float32).reshape(n, d).copy()
        index._ids = ids
        index._row = {f: i for i, f in enumerate(ids)}
        index.seq = int(header["seq"])
        return index
