"""The compressed scan index for large collections (see :class:`ScanIndex`)."""

from __future__ import annotations

import json
import struct
import threading
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..base import Hit
from .exact import ExactIndex
from .snapshot import SCAN_MAGIC, atomic_write, check_field, read_header, remaining_bytes

__all__ = ["ScanIndex"]


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

        atomic_write(path, write)

    @classmethod
    def load(cls, path: Path, collection_id: str, dimension: int, *, max_count: int | None = None) -> ScanIndex | None:
        import faiss

        try:
            with open(path, "rb") as fh:
                header = read_header(fh, SCAN_MAGIC)
                if header.get("collection") != collection_id:
                    return None
                pca_bytes = (cls.CODE_DIM + 1) * dimension * 4
                check_field(header, "pca", pca_bytes, pca_bytes)
                limit = max_count if max_count is not None else remaining_bytes(fh)
                # a serialised scalar quantizer: a small header, the trained ranges, then 64 bytes a face
                codes_bytes = check_field(header, "codes", 0,
                                          min(remaining_bytes(fh) - pca_bytes, 4096 + 64 * (limit + 8)))
                candidates = check_field(header, "candidates", 1, 1 << 20)
                crc = check_field(header, "crc32", 0, 0xFFFFFFFF)
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
