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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

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

    def remove_compact(self, ids: list[str]) -> None:
        """Remove rows keeping the order of the others (the compressed scan's codes rely on it);
        the freed tail rows are zeroed. O(n): meant for occasional deletes."""
        with self.lock:
            rows = [self._row[f] for f in ids if f in self._row]
            if not rows:
                return
            n = len(self._ids)
            keep = np.ones(n, bool)
            keep[rows] = False
            m = n - len(rows)
            self._mat[:m] = self._mat[:n][keep]
            self._mat[m:n] = 0.0
            self._ids = [f for f, k in zip(self._ids, keep.tolist()) if k]
            self._row = {f: i for i, f in enumerate(self._ids)}

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
        _atomic_write(path, lambda fh: self.write_to(fh, collection_id))

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
    def load(cls, path: Path, collection_id: str, dimension: int) -> ExactIndex | None:
        """The snapshot, or None when it is missing, damaged or of another collection."""
        try:
            with open(path, "rb") as fh:
                return cls.read_from(fh, collection_id, dimension)
        except OSError:
            return None

    @classmethod
    def read_from(cls, fh: BinaryIO, collection_id: str, dimension: int) -> ExactIndex | None:
        try:
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


def _atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


SCAN_MAGIC = b"CSSCN001"


class ScanIndex:
    """Large collections: a fast approximate scan proposes candidates, exact scores decide.

    Every face keeps its full float32 vector (an :class:`ExactIndex`), and also a 64-byte code:
    the vector projected on its 64 main (uncentred) principal directions, fitted on the collection, and
    quantised to 8 bits per dimension (faiss IndexScalarQuantizer). A search scans all codes
    (64 MB per million faces, a few ms), takes the ``candidates`` best, and re-scores them exactly
    against the full vectors, so every returned score is exact and the top results match exact
    search unless a true result falls outside the candidate list (docs/benchmarks.md measures how
    often). Codes and full vectors are kept in the same order; deleting faces compacts both (O(n),
    the deleted vectors' bytes are overwritten).
    """

    CODE_DIM = 64

    def __init__(self, dimension: int, *, candidates: int) -> None:
        import faiss

        # one query uses one core: the server already runs requests in parallel, and faiss's
        # OpenMP threads measured 2x slower than one thread on a busy two-core machine
        faiss.omp_set_num_threads(1)
        self.dimension = dimension
        self.candidates = candidates
        self.exact = ExactIndex(dimension)
        self._mean = np.zeros(dimension, np.float32)
        self._basis = np.eye(dimension, self.CODE_DIM, dtype=np.float32)  # (dimension, CODE_DIM)
        self._codes: Any = faiss.IndexScalarQuantizer(self.CODE_DIM, faiss.ScalarQuantizer.QT_8bit,
                                                      faiss.METRIC_INNER_PRODUCT)
        self.lock = threading.Lock()

    @property
    def seq(self) -> int:
        return self.exact.seq

    @seq.setter
    def seq(self, value: int) -> None:
        self.exact.seq = value

    @classmethod
    def build(cls, ids: list[str], vectors: np.ndarray, *, candidates: int, seed: int = 0) -> ScanIndex:
        index = cls(vectors.shape[1], candidates=candidates)
        rng = np.random.default_rng(seed)
        sample = vectors[rng.choice(len(vectors), min(len(vectors), 100_000), replace=False)]
        sample = np.ascontiguousarray(sample, np.float32)
        # uncentred principal directions: x @ basis keeps inner products, which are the scores
        _, vecs = np.linalg.eigh(sample.T @ sample)  # ascending eigenvalues
        index._basis = np.ascontiguousarray(vecs[:, ::-1][:, : cls.CODE_DIM], np.float32)
        index._codes.train(index._project(sample))
        index.add(ids, vectors)
        return index

    def _project(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((x - self._mean) @ self._basis, np.float32)

    def __len__(self) -> int:
        return len(self.exact)

    def __contains__(self, face_id: object) -> bool:
        return face_id in self.exact

    @property
    def ids(self) -> list[str]:
        return self.exact.ids

    def add(self, ids: list[str], vectors: np.ndarray) -> None:
        with self.lock:
            fresh = [(f, v) for f, v in zip(ids, vectors) if f not in self.exact]
            if not fresh:
                return
            mat = np.ascontiguousarray([v for _, v in fresh], np.float32)
            self.exact.add([f for f, _ in fresh], mat)  # appends: code i is exact row i
            for start in range(0, len(mat), 100_000):
                self._codes.add(self._project(mat[start:start + 100_000]))

    def remove(self, ids: list[str]) -> None:
        import faiss

        with self.lock:
            gone = [f for f in ids if f in self.exact]
            if not gone:
                return
            # codes and full vectors are kept in the same order: remove the same positions from both
            positions = np.array(sorted(self.exact._row[f] for f in gone), np.int64)
            self._codes.remove_ids(faiss.IDSelectorBatch(positions))
            self.exact.remove_compact(gone)

    def search(self, query: np.ndarray, *, k: int, min_score: float = -1.0) -> list[Hit]:
        if len(self.exact) == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(query, np.float32)[None, :]
        with self.lock:
            want = min(len(self.exact), max(self.candidates, 8 * k))
            _, found = self._codes.search(self._project(q), want)
            pos = found[0][found[0] >= 0]
            scores = self.exact._mat[pos] @ q[0]
            order = np.argsort(-scores, kind="stable")[:k]
            return [Hit(self.exact._ids[pos[i]], float(scores[i])) for i in order if scores[i] >= min_score]

    def save(self, path: Path, collection_id: str) -> None:
        """The PCA and the codes (in code order), followed by the exact snapshot."""
        import faiss

        with self.lock:
            pca = np.concatenate([self._mean[None, :], self._basis.T]).astype(np.float32).tobytes()
            codes = faiss.serialize_index(self._codes).tobytes()
        header = json.dumps({"collection": collection_id, "candidates": self.candidates, "pca": len(pca),
                             "codes": len(codes), "crc32": zlib.crc32(codes, zlib.crc32(pca))}).encode()

        def write(fh: BinaryIO) -> None:
            fh.write(SCAN_MAGIC + struct.pack("<I", len(header)) + header + pca + codes)
            self.exact.write_to(fh, collection_id)

        _atomic_write(path, write)

    @classmethod
    def load(cls, path: Path, collection_id: str, dimension: int) -> ScanIndex | None:
        import faiss

        try:
            with open(path, "rb") as fh:
                if fh.read(8) != SCAN_MAGIC:
                    return None
                (hlen,) = struct.unpack("<I", fh.read(4))
                header = json.loads(fh.read(hlen))
                pca, codes = fh.read(header["pca"]), fh.read(header["codes"])
                exact = ExactIndex.read_from(fh, collection_id, dimension)
        except (OSError, ValueError, KeyError, struct.error):
            return None
        if exact is None or header.get("collection") != collection_id:
            return None
        if zlib.crc32(codes, zlib.crc32(pca)) != header["crc32"]:
            return None
        index = cls(dimension, candidates=int(header["candidates"]))
        index.exact = exact
        projection = np.frombuffer(pca, np.float32).reshape(cls.CODE_DIM + 1, dimension)
        index._mean, index._basis = projection[0].copy(), np.ascontiguousarray(projection[1:].T)
        index._codes = faiss.deserialize_index(np.frombuffer(codes, np.uint8))
        if index._codes.ntotal != len(exact):
            return None
        return index


def load_index(path: Path, collection_id: str, dimension: int) -> ExactIndex | ScanIndex | None:
    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
    except OSError:
        return None
    if magic == SCAN_MAGIC:
        return ScanIndex.load(path, collection_id, dimension)
    return ExactIndex.load(path, collection_id, dimension)
