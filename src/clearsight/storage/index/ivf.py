"""The inverted-file index for very large collections (20M faces on one box, see :class:`IVFIndex`)."""

from __future__ import annotations

import json
import mmap
import struct
import threading
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..base import Hit
from .rows import Rows
from .snapshot import IVF_MAGIC, MAX_DIMENSION, atomic_write, check_field, read_header, remaining_bytes

__all__ = ["IVFIndex"]

ALIGN = 4096  # the float32 rows start on a page boundary of the snapshot
CHUNK = 1 << 17  # rows per step when projecting, checking or writing


def _faiss() -> Any:
    import faiss  # imported when used: it is an optional, heavy dependency of large collections

    return faiss


def half(x: np.ndarray) -> np.ndarray:
    """float16 rows (a component beyond float16's range becomes inf; such rows are always kept for
    the exact float32 re-scoring when positive, so only a vector with a huge negative component can
    rank too low: embeddings are unit length)."""
    with np.errstate(over="ignore"):
        return x.astype(np.float16)


def max_norm(x: np.ndarray) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.linalg.norm(x, axis=1).max())


class IVFIndex:
    """Collections too large for float32 vectors in RAM: an inverted file proposes candidates, a
    float16 copy ranks them, the float32 vectors (memory-mapped from the snapshot) score them.

    - Every face has a 64-byte code: its vector projected on the collection's 64 main (uncentred)
      principal directions, quantised to 8 bits per dimension, filed under the nearest of ``nlist``
      coarse centroids (faiss IndexIVFScalarQuantizer). A search scans the ``nprobe`` nearest lists
      and keeps the ``candidates`` best codes (at least 8 x k).
    - The candidates are scored against a float16 copy of the vectors (RAM: 2 bytes a dimension).
      A float16 score is within ``delta ~ |q| max|v| 2**-11`` of the float32 one (:meth:`search`), so
      every candidate that can be in the exact top k above ``min_score`` is kept: those whose
      float16 score is at least ``max(min_score - delta, kth - 2 delta)``, a few more than k.
    - Those few are re-scored with their float32 vectors: returned scores are exact float32 inner
      products, and the result equals exact search over the candidates. The float32 rows live in the
      index's last snapshot, mapped copy-on-write (the page cache holds them, not the process);
      rows added or moved since are kept in RAM until the next :meth:`save`, which writes a new
      snapshot and maps it instead (so the old file, with any erased vector, is released).

    Rows are dense: deleting a face moves the last face into its row (float32, float16, its code
    within its inverted list, renumbered) and zeroes the freed slots, so an erased vector's bytes
    are overwritten in memory at once and leave the snapshot at the next save.
    """

    CODE_DIM = 64

    def __init__(self, dimension: int, *, candidates: int, nlist: int, nprobe: int) -> None:
        faiss = _faiss()

        faiss.omp_set_num_threads(1)  # one query, one core (as ScanIndex)
        self.dimension = dimension
        self.candidates = candidates
        self.nlist = nlist
        self.nprobe = nprobe
        self.seq = 0
        self.lock = threading.Lock()
        self._mean = np.zeros(dimension, np.float32)
        self._basis = np.eye(dimension, self.CODE_DIM, dtype=np.float32)
        self._quantizer: Any = faiss.IndexFlatIP(self.CODE_DIM)
        self._ivf: Any = faiss.IndexIVFScalarQuantizer(self._quantizer, self.CODE_DIM, nlist,
                                                       faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._half = Rows(dimension, np.float16)
        self._list = Rows(1, np.int32)  # each row's inverted list
        self._base: np.ndarray = np.zeros((0, dimension), np.float32)  # float32 rows [0, len(_base))
        self._mapped: mmap.mmap | None = None
        self._offset = 0  # where the mapped rows start in the snapshot
        self._extra = Rows(dimension, np.float32)  # float32 rows from len(_base) on
        self._max_norm = 0.0
        self._dirty = False  # a mapped row was changed in this process (copy-on-write pages)

    @staticmethod
    def lists_for(n: int) -> int:
        """Coarse lists for ``n`` faces: about sqrt(n), a power of two, 16..1024 (1M and more: 1024;
        filing 20M faces under 1,024 centroids takes minutes on two cores, under 4,096 four times as long)."""
        return int(min(1024, max(16, 2 ** round(np.log2(max(1.0, np.sqrt(n)))))))

    @classmethod
    def build(cls, ids: list[str], vectors: np.ndarray, *, candidates: int, nprobe: int | None = None,
              nlist: int | None = None, seed: int = 0, threads: int = 1) -> IVFIndex:
        """``vectors`` becomes the index's float32 rows until the first :meth:`save` (not copied: it
        may be a memory map; removals write into it). ``threads`` for building only."""
        faiss = _faiss()

        n = len(vectors)
        nlist = nlist or cls.lists_for(n)
        index = cls(vectors.shape[1], candidates=candidates, nlist=nlist, nprobe=nprobe or max(1, nlist // 2))
        faiss.omp_set_num_threads(threads)
        try:
            rng = np.random.default_rng(seed)
            pick = np.sort(rng.choice(n, min(n, max(100_000, 64 * nlist)), replace=False))
            sample = np.ascontiguousarray(vectors[pick], np.float32)
            head = sample[:100_000]
            _, vecs = np.linalg.eigh(head.T @ head)  # uncentred principal directions: keep inner products
            index._basis = np.ascontiguousarray(vecs[:, ::-1][:, : cls.CODE_DIM], np.float32)
            index._ivf.cp.niter = 10
            index._ivf.cp.spherical = True
            index._ivf.by_residual = False  # codes of the vectors themselves, whatever their list
            index._ivf.train(index._project(sample))
            del sample, head
            # reserve every list once (growing 4096 lists by doubling would hold twice their codes)
            lists = np.concatenate([index._assign(index._project(vectors[s:s + CHUNK])) for s in range(0, n, CHUNK)]) \
                if n else np.zeros(0, np.int64)
            il = index._ivf.invlists
            for lst, size in enumerate(np.bincount(lists, minlength=nlist).tolist()):
                il.resize(lst, size)
                il.resize(lst, 0)
            index._base = vectors if vectors.dtype == np.float32 else np.ascontiguousarray(vectors, np.float32)
            index._append(list(ids), index._base, base=True, lists=lists)
        finally:
            faiss.omp_set_num_threads(1)
        return index

    def _assign(self, codes: np.ndarray) -> np.ndarray:
        _, lists = self._quantizer.search(codes, 1)
        return np.asarray(lists[:, 0], np.int64)

    def _project(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((np.asarray(x, np.float32) - self._mean) @ self._basis, np.float32)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, face_id: object) -> bool:
        return face_id in self._row

    @property
    def ids(self) -> list[str]:
        return self._ids

    # --- float32 rows: the mapped (or given) base, then RAM -------------------------------
    def _f32(self, rows: np.ndarray) -> np.ndarray:
        nb = len(self._base)
        if len(rows) and rows.max() < nb:
            return np.asarray(self._base[rows])
        out = np.empty((len(rows), self.dimension), np.float32)
        low = rows < nb
        out[low] = self._base[rows[low]]
        out[~low] = self._extra.get(rows[~low] - nb)
        return out

    def _set_f32(self, r: int, value: np.ndarray | int) -> None:
        if r < len(self._base):
            self._base[r] = value
            self._dirty = True
        else:
            self._extra.set(r - len(self._base), np.asarray(value))

    # --- changes --------------------------------------------------------------------------
    def add(self, ids: list[str], vectors: np.ndarray) -> None:
        with self.lock:
            first: dict[str, int] = {}
            for k, face_id in enumerate(ids):
                if face_id not in self._row:
                    first.setdefault(face_id, k)
            fresh = list(first.values())
            if fresh:
                mat = np.ascontiguousarray(np.asarray(vectors, np.float32)[fresh])
                self._append([ids[k] for k in fresh], mat, base=False)

    def _append(self, ids: list[str], mat: np.ndarray, *, base: bool, lists: np.ndarray | None = None) -> None:
        faiss = _faiss()

        for start in range(0, len(mat), CHUNK):
            part = np.ascontiguousarray(mat[start:start + CHUNK], np.float32)
            first = len(self._ids)
            if not base:  # rows freed by deletions below the mapped base are reused first
                reuse = max(0, min(len(part), len(self._base) - first))
                if reuse:
                    self._base[first:first + reuse] = part[:reuse]
                    self._dirty = True
                self._extra.append(part[reuse:])
            self._half.append(half(part))
            self._max_norm = max(self._max_norm, max_norm(part))
            codes = self._project(part)
            assign = np.ascontiguousarray(lists[start:start + len(part)] if lists is not None else self._assign(codes))
            rows = np.arange(first, first + len(part), dtype=np.int64)
            self._ivf.add_core(len(part), faiss.swig_ptr(codes), faiss.swig_ptr(rows), faiss.swig_ptr(assign))
            self._list.append(assign.astype(np.int32))
            for k, face_id in enumerate(ids[start:start + len(part)]):
                self._row[face_id] = first + k
                self._ids.append(face_id)

    def _entries(self, lst: int) -> tuple[np.ndarray, np.ndarray]:
        """Views of one inverted list's ids and codes (writable: faiss owns the memory)."""
        faiss = _faiss()

        il = self._ivf.invlists
        size = int(il.list_size(lst))
        if size == 0:
            return np.zeros(0, np.int64), np.zeros((0, 64), np.uint8)
        ids = faiss.rev_swig_ptr(il.get_ids(lst), size)
        codes = faiss.rev_swig_ptr(il.get_codes(lst), size * self._ivf.code_size).reshape(size, -1)
        return ids, codes

    def remove(self, ids: list[str]) -> None:
        with self.lock:
            for face_id in ids:
                row = self._row.pop(face_id, None)
                if row is not None:
                    self._remove_row(row)

    def _remove_row(self, row: int) -> None:
        il = self._ivf.invlists
        last = len(self._ids) - 1
        # the code: the last entry of its list takes its slot, the freed slot is zeroed
        lst = int(self._list.row(row)[0])
        lids, lcodes = self._entries(lst)
        at = int(np.flatnonzero(lids == row)[0])
        end = len(lids) - 1
        lids[at], lcodes[at] = lids[end], lcodes[end]
        lids[end], lcodes[end] = -1, 0  # erase, do not just forget
        il.resize(lst, end)
        if row != last:  # the last face moves into the row: renumber its code
            mlst = int(self._list.row(last)[0])
            mids, _ = self._entries(mlst)
            mids[int(np.flatnonzero(mids == last)[0])] = row
            moved = self._ids[last]
            self._ids[row] = moved
            self._row[moved] = row
            self._half.set(row, self._half.row(last))
            self._list.set(row, self._list.row(last))
            self._set_f32(row, self._f32(np.array([last]))[0])
        self._ids.pop()
        self._half.pop()
        self._list.pop()
        self._set_f32(last, 0)
        if last >= len(self._base):
            self._extra.pop()
        self._ivf.ntotal = len(self._ids)

    # --- search ---------------------------------------------------------------------------
    def search(self, query: np.ndarray, *, k: int, min_score: float = -1.0) -> list[Hit]:
        q = np.ascontiguousarray(query, np.float32).reshape(-1)
        with self.lock:
            n = len(self._ids)
            if n == 0 or k <= 0:
                return []
            self._ivf.nprobe = min(self.nprobe, self.nlist)
            want = min(n, max(self.candidates, 8 * k))
            _, found = self._ivf.search(self._project(q[None, :]), want)
            rows = found[0][found[0] >= 0]
            if len(rows) == 0:
                return []
            approx = self._half.get(rows).astype(np.float32) @ q
            # float16 rounds each component by at most 2**-11 of it (2**-25 absolute below 2**-14),
            # float32 sums by d 2**-24 each: |float16 score - float32 score| <= delta
            delta = float(np.linalg.norm(q)) * (self._max_norm * (2.0 ** -11 + 4 * self.dimension * 2.0 ** -24)
                                                + np.sqrt(self.dimension) * 2.0 ** -24)
            kth = float(np.partition(approx, len(approx) - k)[len(approx) - k]) if len(approx) > k else -np.inf
            short = rows[approx >= max(min_score - delta, kth - 2 * delta)]
            self._prefetch(short)
            scores = self._f32(short) @ q
            order = np.argsort(-scores, kind="stable")[:k]
            return [Hit(self._ids[short[i]], float(scores[i])) for i in order if scores[i] >= min_score]

    def _prefetch(self, rows: np.ndarray) -> None:
        """Ask the kernel for the mapped rows' pages at once (their reads run in parallel instead of
        one page fault after another when the page cache does not hold them)."""
        if self._mapped is None or not len(rows):
            return
        start = np.asarray(rows[rows < len(self._base)], np.int64) * (self.dimension * 4) + self._offset
        pages = np.unique(np.concatenate([start // mmap.PAGESIZE, (start + self.dimension * 4 - 1) // mmap.PAGESIZE]))
        for page in pages.tolist():
            self._mapped.madvise(mmap.MADV_WILLNEED, page * mmap.PAGESIZE, mmap.PAGESIZE)

    # --- persistence ----------------------------------------------------------------------
    def save(self, path: Path, collection_id: str) -> None:
        """Header, PCA, the inverted file (faiss's format), ids, then the float32 rows from a page
        boundary; the index then maps its rows from the new file. Streamed: no copy of the codes."""
        faiss = _faiss()

        with self.lock:
            n = len(self._ids)
            pca = np.concatenate([self._mean[None, :], self._basis.T]).astype(np.float32).tobytes()
            ids_blob = "\n".join(self._ids).encode()
            size_crc = [0, zlib.crc32(pca)]

            def count(data: bytes) -> None:
                size_crc[0] += len(data)
                size_crc[1] = zlib.crc32(data, size_crc[1])

            writer = faiss.PyCallbackIOWriter(count)
            faiss.write_index(self._ivf, writer)
            del writer
            ivf_bytes, meta_crc = size_crc[0], zlib.crc32(ids_blob, size_crc[1])
            rows_crc = 0
            for start in range(0, n, CHUNK):
                rows_crc = zlib.crc32(self._f32(np.arange(start, min(n, start + CHUNK))).data, rows_crc)
            fields = {"collection": collection_id, "dimension": self.dimension, "count": n, "seq": self.seq,
                      "candidates": self.candidates, "nlist": self.nlist, "nprobe": self.nprobe,
                      "pca": len(pca), "ivf": ivf_bytes, "ids_bytes": len(ids_blob), "crc32": meta_crc,
                      "rows_crc32": rows_crc, "rows_at": 0}
            head = 8 + 4 + len(json.dumps(fields)) + 32 + len(pca) + ivf_bytes + len(ids_blob)
            rows_at = -(-head // ALIGN) * ALIGN
            fields["rows_at"] = rows_at
            header = json.dumps(fields).encode()

            def write(fh: BinaryIO) -> None:
                fh.write(IVF_MAGIC + struct.pack("<I", len(header)) + header + pca)
                w = faiss.PyCallbackIOWriter(fh.write)
                faiss.write_index(self._ivf, w)
                del w
                fh.write(ids_blob)
                fh.write(b"\0" * (rows_at - fh.tell()))
                for start in range(0, n, CHUNK):
                    fh.write(self._f32(np.arange(start, min(n, start + CHUNK))).data)

            atomic_write(path, write)
            self._map(path, rows_at, n)

    def _map(self, path: Path, offset: int, n: int) -> None:
        """Take the float32 rows from the snapshot (copy-on-write: changes stay in this process)."""
        old = self._mapped
        self._base = np.zeros((0, self.dimension), np.float32)
        if n:
            with open(path, "rb") as fh:
                self._mapped = mmap.mmap(fh.fileno(), 0, flags=mmap.MAP_PRIVATE,
                                         prot=mmap.PROT_READ | mmap.PROT_WRITE)
            self._base = np.frombuffer(self._mapped, np.float32, n * self.dimension, offset).reshape(n, self.dimension)
            self._offset = offset
        else:
            self._mapped = None
        self._extra = Rows(self.dimension, np.float32)
        self._dirty = False
        if old is not None:
            try:
                old.close()
            except BufferError:  # a caller still holds a view: it is released with it
                pass

    def drop_cache(self) -> None:
        """Forget the mapped rows' pages (they are read again from the file or page cache)."""
        if self._mapped is not None and not self._dirty:
            self._mapped.madvise(mmap.MADV_DONTNEED)

    @classmethod
    def load(cls, path: Path, collection_id: str, dimension: int, *, max_count: int | None = None) -> IVFIndex | None:
        """The snapshot, or None when it is missing, damaged, implausible or of another collection."""
        try:
            with open(path, "rb") as fh:
                return cls._read(fh, path, collection_id, dimension, max_count)
        except (OSError, ValueError, KeyError, struct.error, RecursionError, RuntimeError):
            return None

    @classmethod
    def _read(cls, fh: Any, path: Path, collection_id: str, dimension: int,
              max_count: int | None) -> IVFIndex | None:
        faiss = _faiss()

        header = read_header(fh, IVF_MAGIC)
        if header.get("collection") != collection_id:
            return None
        if check_field(header, "dimension", 1, MAX_DIMENSION) != dimension:
            return None
        here, left = fh.tell(), remaining_bytes(fh)
        pca_bytes = (cls.CODE_DIM + 1) * dimension * 4
        check_field(header, "pca", pca_bytes, pca_bytes)
        n = check_field(header, "count", 0, min(left // (4 * dimension), max_count if max_count is not None else left))
        rows_at = check_field(header, "rows_at", here, here + left - n * dimension * 4)
        ivf_bytes = check_field(header, "ivf", 0, rows_at - here - pca_bytes)
        ids_bytes = check_field(header, "ids_bytes", 0, rows_at - here - pca_bytes - ivf_bytes)
        nlist = check_field(header, "nlist", 1, 1 << 20)
        f = {key: check_field(header, key, lo, hi) for key, lo, hi in (
            ("seq", 0, 1 << 62), ("candidates", 1, 1 << 20), ("nprobe", 1, 1 << 20),
            ("crc32", 0, 0xFFFFFFFF), ("rows_crc32", 0, 0xFFFFFFFF))}
        pca = fh.read(pca_bytes)
        crc, budget = [zlib.crc32(pca), ivf_bytes], ivf_bytes

        def read(size: int) -> bytes:  # faiss reads the inverted file through this, never past it
            data: bytes = fh.read(min(size, crc[1]))
            crc[0], crc[1] = zlib.crc32(data, crc[0]), crc[1] - len(data)
            return data

        reader = faiss.PyCallbackIOReader(read)
        ivf_index = faiss.read_index(reader)
        del reader
        if crc[1] != 0 or fh.tell() != here + pca_bytes + budget:
            return None
        ids_blob = fh.read(ids_bytes)
        if fh.read(rows_at - fh.tell()).strip(b"\0"):  # the padding before the rows is zeros
            return None
        if len(pca) != pca_bytes or len(ids_blob) != ids_bytes or zlib.crc32(ids_blob, crc[0]) != f["crc32"]:
            return None
        ids = ids_blob.decode().split("\n") if n else []
        del ids_blob
        if len(ids) != n or not isinstance(ivf_index, faiss.IndexIVFScalarQuantizer) or ivf_index.ntotal != n \
                or ivf_index.d != cls.CODE_DIM or ivf_index.nlist != nlist:
            return None
        index = cls(dimension, candidates=f["candidates"], nlist=nlist, nprobe=f["nprobe"])
        index._ivf, index._quantizer = ivf_index, faiss.downcast_index(ivf_index.quantizer)
        projection = np.frombuffer(pca, np.float32).reshape(cls.CODE_DIM + 1, dimension)
        index._mean, index._basis = projection[0].copy(), np.ascontiguousarray(projection[1:].T)
        index._ids, index._row, index.seq = ids, {face: i for i, face in enumerate(ids)}, f["seq"]
        lists = np.full(n, -1, np.int32)
        for lst in range(nlist):
            lids, _ = index._entries(lst)
            if len(lids) and (lids.min() < 0 or lids.max() >= n):
                return None
            lists[lids] = lst
        if n and lists.min() < 0:
            return None
        # the float32 rows: read (not mapped: the page cache holds them, not this process), checked,
        # and their float16 copy derived, in one pass
        fh.seek(rows_at)
        rows_crc, buf = 0, np.empty((CHUNK, dimension), np.float32)
        for start in range(0, n, CHUNK):
            part = buf[: min(CHUNK, n - start)]
            if fh.readinto(part.data.cast("B")) != part.nbytes:
                return None
            rows_crc = zlib.crc32(part.data, rows_crc)
            index._half.append(half(part))
            index._max_norm = max(index._max_norm, max_norm(part))
        if rows_crc != f["rows_crc32"]:
            return None
        index._list.append(lists)
        index._map(path, rows_at, n)
        return index
