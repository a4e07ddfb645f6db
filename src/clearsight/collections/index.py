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
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


IVF_MAGIC = b"CSIVF001"


class IvfIndex:
    """Approximate candidate search for large collections: faiss IndexIVFFlat (inner product).

    Vectors are kept in full precision inside the inverted lists, so every returned score is the
    exact inner product; the approximation is only which lists are scanned (``nprobe`` of
    ``nlist``). Deleting a face removes its vector from its list (the list is compacted), and
    the next snapshot no longer contains it.
    """

    def __init__(self, dimension: int, *, nlist: int, nprobe: int) -> None:
        import faiss

        self.dimension = dimension
        self.nlist = nlist
        self.nprobe = nprobe
        self._quantizer = faiss.IndexFlatIP(dimension)
        self._index: Any = faiss.IndexIVFFlat(self._quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)
        self._index.nprobe = nprobe
        self._face_of: dict[int, str] = {}
        self._id_of: dict[str, int] = {}
        self._next = 0
        self.seq = 0
        self.lock = threading.Lock()

    @classmethod
    def build(cls, ids: list[str], vectors: np.ndarray, *, nprobe: int, seed: int = 0) -> IvfIndex:
        n, d = vectors.shape
        nlist = max(1, min(16384, int(4 * np.sqrt(n)), n // 30))  # >= 30 training points per list
        index = cls(d, nlist=nlist, nprobe=nprobe)
        rng = np.random.default_rng(seed)
        sample = vectors[rng.choice(n, min(n, nlist * 30), replace=False)] if n > nlist * 30 else vectors
        index._index.train(np.ascontiguousarray(sample, np.float32))
        index.add(ids, vectors)
        return index

    def __len__(self) -> int:
        return len(self._id_of)

    def __contains__(self, face_id: object) -> bool:
        return face_id in self._id_of

    @property
    def ids(self) -> list[str]:
        return [self._face_of[i] for i in sorted(self._face_of)]

    def add(self, ids: list[str], vectors: np.ndarray) -> None:
        with self.lock:
            fresh = [(f, v) for f, v in zip(ids, vectors) if f not in self._id_of]
            if not fresh:
                return
            nums = np.arange(self._next, self._next + len(fresh), dtype=np.int64)
            self._next += len(fresh)
            self._index.add_with_ids(np.ascontiguousarray([v for _, v in fresh], np.float32), nums)
            for num, (face_id, _) in zip(nums.tolist(), fresh):
                self._face_of[num] = face_id
                self._id_of[face_id] = num

    def remove(self, ids: list[str]) -> None:
        with self.lock:
            nums = [self._id_of.pop(f) for f in ids if f in self._id_of]
            if nums:
                self._index.remove_ids(np.array(nums, np.int64))
                for n in nums:
                    del self._face_of[n]

    def search(self, query: np.ndarray, *, k: int, min_score: float = -1.0) -> list[Hit]:
        if not self._id_of or k <= 0:
            return []
        with self.lock:
            scores, nums = self._index.search(np.asarray(query, np.float32)[None, :], min(k, len(self._id_of)))
        return [Hit(self._face_of[int(n)], float(s)) for s, n in zip(scores[0], nums[0])
                if n >= 0 and s >= min_score and int(n) in self._face_of]

    def save(self, path: Path, collection_id: str) -> None:
        import faiss

        with self.lock:
            blob = faiss.serialize_index(self._index).tobytes()
            order = sorted(self._face_of)
            ids_blob = json.dumps([[n, self._face_of[n]] for n in order]).encode()
        crc = zlib.crc32(blob, zlib.crc32(ids_blob))
        header = json.dumps({"collection": collection_id, "dimension": self.dimension, "count": len(order),
                             "seq": self.seq, "crc32": crc, "ids_bytes": len(ids_blob), "nlist": self.nlist,
                             "nprobe": self.nprobe, "next": self._next}).encode()
        tmp = path.with_suffix(".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(IVF_MAGIC + struct.pack("<I", len(header)) + header + ids_blob + blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, collection_id: str, dimension: int) -> IvfIndex | None:
        import faiss

        try:
            with open(path, "rb") as fh:
                if fh.read(8) != IVF_MAGIC:
                    return None
                (hlen,) = struct.unpack("<I", fh.read(4))
                header = json.loads(fh.read(hlen))
                ids_blob = fh.read(header["ids_bytes"])
                blob = fh.read()
        except (OSError, ValueError, KeyError, struct.error):
            return None
        if header.get("collection") != collection_id or header.get("dimension") != dimension:
            return None
        if zlib.crc32(blob, zlib.crc32(ids_blob)) != header["crc32"]:
            return None
        index = cls(dimension, nlist=int(header["nlist"]), nprobe=int(header["nprobe"]))
        index._index = faiss.deserialize_index(np.frombuffer(blob, np.uint8))
        index._index.nprobe = index.nprobe
        pairs = json.loads(ids_blob)
        index._face_of = {int(n): f for n, f in pairs}
        index._id_of = {f: int(n) for n, f in pairs}
        index._next = int(header["next"])
        index.seq = int(header["seq"])
        return index


def load_index(path: Path, collection_id: str, dimension: int) -> ExactIndex | IvfIndex | None:
    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
    except OSError:
        return None
    if magic == IVF_MAGIC:
        return IvfIndex.load(path, collection_id, dimension)
    return ExactIndex.load(path, collection_id, dimension)
