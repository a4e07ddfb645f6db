"""Vector index: derived from SQLite, persisted beside it, caught up or rebuilt at start.

The exact index keeps one contiguous float32 matrix per collection and answers threshold +
top-k queries with one matrix-vector product: correct by construction. Deletes swap the last
row into the hole and zero the old last row (O(1) whatever the collection size), so a deleted
vector does not linger in memory or in the next snapshot.

Snapshot file: a small JSON header (collection, dimension, count, change seq, crc32) followed
by the ids and the matrix. A snapshot whose header disagrees with the file's size or the
database (a count no collection ever reached, another dimension...), whose crc32 does not
match, or whose change seq is ahead of the database, is ignored and the index is rebuilt from
SQLite; nothing is allocated from a header before it is checked. Snapshots are written to a
temporary file of their own (0600) and renamed into place, so two processes saving the same
collection at once each leave a whole file.

Mutations are serialised by the caller (:class:`~.service.Collections` holds its lock); each
index's own ``lock`` only keeps a concurrent search from seeing a half-applied change.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

MAGIC = b"CSIDX001"
MAX_HEADER = 1 << 16  # a snapshot header is a few hundred bytes of JSON
MAX_DIMENSION = 1 << 16


class SnapshotInvalid(ValueError):
    """A snapshot header disagrees with its file or the database: rebuild instead."""


def _field(header: dict[str, Any], key: str, lo: int, hi: int) -> int:
    value = header.get(key)
    if type(value) is not int or not lo <= value <= hi:
        raise SnapshotInvalid(f"snapshot field {key}={value!r} is outside {lo}..{hi}")
    return value


def _remaining(fh: BinaryIO) -> int:
    here = fh.tell()
    end = fh.seek(0, os.SEEK_END)
    fh.seek(here)
    return end - here


def _header(fh: BinaryIO, magic: bytes) -> dict[str, Any]:
    if fh.read(8) != magic:
        raise SnapshotInvalid("not a snapshot")
    (hlen,) = struct.unpack("<I", fh.read(4))
    if hlen > min(MAX_HEADER, _remaining(fh)):
        raise SnapshotInvalid(f"header length {hlen} is larger than the file allows")
    header = json.loads(fh.read(hlen))
    if not isinstance(header, dict):
        raise SnapshotInvalid("the header is not an object")
    return header


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
            header = _header(fh, MAGIC)
            if header.get("collection") != collection_id:
                return None
            d = _field(header, "dimension", 1, MAX_DIMENSION)
            if d != dimension:
                return None
            left = _remaining(fh)
            n = _field(header, "count", 0, min(left // (4 * d), max_count if max_count is not None else left))
            ids_bytes = _field(header, "ids_bytes", 0, left - n * d * 4)
            crc = _field(header, "crc32", 0, 0xFFFFFFFF)
            seq = _field(header, "seq", 0, 1 << 62)
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


def _atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a private temporary file (0600, a name no other process uses), then rename it over
    ``path``: readers and concurrent writers only ever see a whole snapshot."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


SCAN_MAGIC = b"CSSCN001"


class ScanIndex:
    """Large collections: a fast approximate scan proposes candidates, exact scores decide.

    Every face keeps its full float32 vector (an :class:`ExactIndex`), and also a 64-byte code:
    the vector projected on its 64 main (uncentred) principal directions, fitted on the collection, and
    quantised to 8 bits per dimension (faiss IndexScalarQuantizer). A search scans all codes
    (64 MB per million faces, a few ms), takes the ``candidates`` best, and re-scores them exactly
    against the full vectors, so every returned score is exact and the top results match exact
    search unless a true result falls outside the candidate list (docs/benchmarks.md measures how
    often). Codes and full vectors are kept in the same order; deleting a face moves the last code
    and the last vector into its place in both and zeroes the freed tail (O(1): no compaction, and
    the deleted vector's bytes and its code are overwritten at once).
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
            size = int(self._codes.code_size)
            for face_id in ids:
                row = self.exact._row.get(face_id)
                if row is None:
                    continue
                last = len(self.exact) - 1
                # codes and full vectors are kept in the same order: the same swap in both
                codes = faiss.rev_swig_ptr(self._codes.codes.data(), (last + 1) * size).reshape(last + 1, size)
                codes[row] = codes[last]
                codes[last] = 0  # erase, do not just forget
                self._codes.codes.resize(last * size)
                self._codes.ntotal = last
                self.exact._remove([face_id])

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
    def load(cls, path: Path, collection_id: str, dimension: int, *, max_count: int | None = None) -> ScanIndex | None:
        import faiss

        try:
            with open(path, "rb") as fh:
                header = _header(fh, SCAN_MAGIC)
                if header.get("collection") != collection_id:
                    return None
                pca_bytes = (cls.CODE_DIM + 1) * dimension * 4
                _field(header, "pca", pca_bytes, pca_bytes)
                limit = max_count if max_count is not None else _remaining(fh)
                # a serialised scalar quantizer: a small header, the trained ranges, then 64 bytes a face
                codes_bytes = _field(header, "codes", 0, min(_remaining(fh) - pca_bytes, 4096 + 64 * (limit + 8)))
                candidates = _field(header, "candidates", 1, 1 << 20)
                crc = _field(header, "crc32", 0, 0xFFFFFFFF)
                pca, codes = fh.read(pca_bytes), fh.read(codes_bytes)
                exact = ExactIndex.read_from(fh, collection_id, dimension, max_count=max_count)
        except (OSError, ValueError, KeyError, struct.error, RecursionError):
            return None
        if exact is None or len(pca) != pca_bytes or len(codes) != codes_bytes:
            return None
        if zlib.crc32(codes, zlib.crc32(pca)) != crc:
            return None
        index = cls(dimension, candidates=candidates)
        index.exact = exact
        projection = np.frombuffer(pca, np.float32).reshape(cls.CODE_DIM + 1, dimension)
        index._mean, index._basis = projection[0].copy(), np.ascontiguousarray(projection[1:].T)
        try:
            index._codes = faiss.deserialize_index(np.frombuffer(codes, np.uint8))
        except RuntimeError:
            return None
        if not isinstance(index._codes, faiss.IndexScalarQuantizer) or index._codes.ntotal != len(exact) \
                or index._codes.d != cls.CODE_DIM:
            return None
        return index


def load_index(path: Path, collection_id: str, dimension: int, *,
               max_count: int | None = None) -> ExactIndex | ScanIndex | None:
    """The snapshot at ``path``, or None (then the caller rebuilds from the database) when it is
    missing, damaged or implausible: ``max_count`` bounds the face count a header may claim."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
    except OSError:
        return None
    if magic == SCAN_MAGIC:
        return ScanIndex.load(path, collection_id, dimension, max_count=max_count)
    return ExactIndex.load(path, collection_id, dimension, max_count=max_count)
