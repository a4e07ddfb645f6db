"""The index for the largest collections (20M faces on one box, see :class:`FastScanIndex`)."""

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
from .snapshot import FASTSCAN_MAGIC, MAX_DIMENSION, atomic_write, check_field, read_header, remaining_bytes

__all__ = ["FastScanIndex"]

ALIGN = 4096  # the float32 rows start on a page boundary of the snapshot
CHUNK = 1 << 17  # rows per step when coding, checking or writing
BLOCK = 32  # codes faiss scores at once (one SIMD block); the stored codes are packed in such blocks
SCORE_STEP = 4096  # candidates scored at once: 3 MB of float32 temporaries (glibc maps those over 32 MB anew)
CANDIDATE_SHARE = 400  # a search keeps at least one face in this many as candidates (see FastScanIndex)


def _faiss() -> Any:
    import faiss  # imported when used: it is an optional, heavy dependency of large collections

    return faiss


def int8_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row as int8 codes and a scale, ``x ~ scale * codes`` with every component within
    ``scale / 2`` (the scale is the row's largest magnitude / 127; rows are finite: the store checks)."""
    x = np.asarray(x, np.float32)
    peak = np.abs(x).max(axis=1) if len(x) else np.zeros(0, np.float32)
    scale = np.where(peak > 0, peak / np.float32(127), np.float32(1)).astype(np.float32)
    return np.clip(np.rint(x / scale[:, None]), -127, 127).astype(np.int8), scale


def sub_quantizers(dimension: int) -> int:
    """4-bit sub-quantisers of a code: the largest divisor of ``dimension`` giving each at least 6
    dimensions (192: 32 of 6 dimensions, 16 bytes a face; 128: 16; 512: 64)."""
    return max([m for m in range(1, dimension // 6 + 1) if dimension % m == 0], default=1)


class FastScanIndex:
    """Collections too large for float32 vectors in RAM: a scan of 4-bit codes proposes candidates,
    an int8 copy ranks them, the float32 vectors (memory-mapped from the snapshot) score them.

    - Every face has a 16-byte code (192-d): its vector turned by a rotation fitted on the
      collection (faiss OPQMatrix), cut into 32 sub-vectors of 6 dimensions, each replaced by the
      nearest of 16 centroids (faiss IndexPQFastScan, which scores 32 packed codes at once with SIMD
      table look-ups). A search scans every code and keeps the best ``max(candidates, 8 k, n / share)``
      (``share`` 400: at 20M faces 50,000, 1.5 times the most any of 300 probes needed).
      No coarse lists: at Similarity 99 the neighbours are far (cosine 0.6) and an inverted file had
      to probe two thirds of its lists for the hardest query; a flat scan of 16-byte codes costs
      less than that (docs/benchmarks.md, "20,000,000 faces").
    - The candidates are scored against an int8 copy of the vectors (a byte a dimension and a scale
      a face). The int8 score of face r is within ``delta_r = scale_r |q|_1 / 2`` (plus float32
      rounding, :meth:`_int8_scores`) of the float32 one, so every candidate that can be in the exact top
      k above ``min_score`` is kept: those whose int8 score + delta_r reaches both ``min_score`` and
      the k-th largest int8 score - delta (delta about 0.013 at 192-d: 65 faces kept at the median of
      300 searches of 20M faces, 201 at most).
    - Those few are re-scored with their float32 vectors: returned scores are exact float32 inner
      products, and the result equals exact search over the candidates. The float32 rows live in the
      index's last snapshot, mapped copy-on-write (the page cache holds them, not the process);
      rows added or moved since are kept in RAM until the next :meth:`save`, which writes a new
      snapshot and maps it instead (so the old file, with any erased vector, is released).

    Rows are dense: deleting a face moves the last face into its row (float32, int8, its packed
    code) and zeroes the freed slots, so an erased vector's bytes are overwritten in memory at once
    and leave the snapshot at the next save.
    """

    def __init__(self, dimension: int, *, candidates: int) -> None:
        faiss = _faiss()

        faiss.omp_set_num_threads(1)  # one query, one core (as ScanIndex)
        self.dimension = dimension
        self.candidates = candidates
        self.share = CANDIDATE_SHARE
        self.seq = 0
        self.lock = threading.Lock()
        self._rotation = np.eye(dimension, dtype=np.float32)  # codes are of x @ _rotation
        self._pq: Any = faiss.IndexPQFastScan(dimension, sub_quantizers(dimension), 4, faiss.METRIC_INNER_PRODUCT)
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._int8 = Rows(dimension, np.int8, shift=20)  # 192 MB blocks at 192-d: 20 at 20M faces
        self._scale = Rows(1, np.float32, shift=20)
        self._base: np.ndarray = np.zeros((0, dimension), np.float32)  # float32 rows [0, len(_base))
        self._mapped: mmap.mmap | None = None
        self._offset = 0  # where the mapped rows start in the snapshot
        self._extra = Rows(dimension, np.float32)  # float32 rows from len(_base) on
        self._dirty = False  # a mapped row was changed in this process (copy-on-write pages)

    @classmethod
    def build(cls, ids: list[str], vectors: np.ndarray, *, candidates: int, seed: int = 0,
              threads: int = 1) -> FastScanIndex:
        """``vectors`` becomes the index's float32 rows until the first :meth:`save` (not copied: it
        may be a memory map; removals write into it). ``threads`` for building only."""
        faiss = _faiss()

        n, dimension = vectors.shape
        index = cls(dimension, candidates=candidates)
        faiss.omp_set_num_threads(threads)
        try:
            rng = np.random.default_rng(seed)
            pick = np.sort(rng.choice(n, min(n, 100_000), replace=False))
            sample = np.ascontiguousarray(vectors[pick], np.float32)
            opq = faiss.OPQMatrix(dimension, index._pq.pq.M)
            pq = faiss.ProductQuantizer(dimension, index._pq.pq.M, 4)  # fit the rotation for 4-bit codes
            opq.pq = pq
            opq.train(sample)
            # OPQMatrix computes A x: as a row-vector product that is x @ A.T
            a = faiss.vector_to_array(opq.A).astype(np.float32).reshape(dimension, dimension)
            index._rotation = np.ascontiguousarray(a.T)
            index._pq.train(index._rotate(sample))
            del sample
            index._base = vectors if vectors.dtype == np.float32 else np.ascontiguousarray(vectors, np.float32)
            index._append(list(ids), index._base, base=True)
        finally:
            faiss.omp_set_num_threads(1)
        return index

    def _rotate(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(x, np.float32) @ self._rotation, np.float32)

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

    def _append(self, ids: list[str], mat: np.ndarray, *, base: bool) -> None:
        for start in range(0, len(mat), CHUNK):
            part = np.ascontiguousarray(mat[start:start + CHUNK], np.float32)
            first = len(self._ids)
            if not base:  # rows freed by deletions below the mapped base are reused first
                reuse = max(0, min(len(part), len(self._base) - first))
                if reuse:
                    self._base[first:first + reuse] = part[:reuse]
                    self._dirty = True
                self._extra.append(part[reuse:])
            self._append_int8(part)
            self._pq.add(self._rotate(part))  # packed after the last code: code i is row i
            for k, face_id in enumerate(ids[start:start + len(part)]):
                self._row[face_id] = first + k
                self._ids.append(face_id)

    def _append_int8(self, part: np.ndarray) -> None:
        codes, scale = int8_rows(part)
        self._int8.append(codes)
        self._scale.append(scale)

    def packed_codes(self) -> np.ndarray:
        """The packed codes, every block of 32 (a view: faiss owns the memory)."""
        faiss = _faiss()

        size = int(self._pq.codes.size())
        return faiss.rev_swig_ptr(self._pq.codes.get(), size) if size else np.zeros(0, np.uint8)

    def code(self, row: int) -> np.ndarray:
        """Row ``row``'s code, unpacked (two 4-bit sub-quantiser codes a byte, as faiss encodes them)."""
        faiss = _faiss()

        packer = self._pq.get_CodePacker()
        out = np.zeros(packer.code_size, np.uint8)
        packer.unpack_1_c(faiss.swig_ptr(self.packed_codes()), row, faiss.swig_ptr(out))
        return out

    def remove(self, ids: list[str]) -> None:
        with self.lock:
            packer = self._pq.get_CodePacker()  # one for the batch
            for face_id in ids:
                row = self._row.pop(face_id, None)
                if row is not None:
                    self._remove_row(row, packer)

    def _remove_row(self, row: int, packer: Any) -> None:
        faiss = _faiss()

        last = len(self._ids) - 1
        blocks = faiss.swig_ptr(self.packed_codes())
        code = np.zeros(packer.code_size, np.uint8)
        if row != last:  # the last face moves into the row: its code into the row's slot
            packer.unpack_1_c(blocks, last, faiss.swig_ptr(code))
            packer.pack_1_c(faiss.swig_ptr(code), row, blocks)
            moved = self._ids[last]
            self._ids[row] = moved
            self._row[moved] = row
            self._int8.set(row, self._int8.row(last))
            self._scale.set(row, self._scale.row(last))
            self._set_f32(row, self._f32(np.array([last]))[0])
        code[:] = 0
        packer.pack_1_c(faiss.swig_ptr(code), last, blocks)  # erase, do not just forget
        self._ids.pop()
        self._int8.pop()
        self._scale.pop()
        self._set_f32(last, 0)
        if last >= len(self._base):
            self._extra.pop()
        self._pq.ntotal = last
        self._pq.ntotal2 = -(-last // BLOCK) * BLOCK
        if last % BLOCK == 0:  # the emptied (zeroed) block is dropped
            self._pq.codes.resize(last // BLOCK * packer.block_size)

    # --- search ---------------------------------------------------------------------------
    def search(self, query: np.ndarray, *, k: int, min_score: float = -1.0) -> list[Hit]:
        q = np.ascontiguousarray(query, np.float32).reshape(-1)
        with self.lock:
            n = len(self._ids)
            if n == 0 or k <= 0:
                return []
            want = min(n, max(self.candidates, 8 * k, -(-n // self.share)))
            _, found = self._pq.search(self._rotate(q[None, :]), want)
            rows = np.sort(found[0][(found[0] >= 0) & (found[0] < n)])  # in address order: faster to read
            if len(rows) == 0:
                return []
            approx, delta = self._int8_scores(rows, q)
            lower = approx - delta
            kth = float(np.partition(lower, len(lower) - k)[len(lower) - k]) if len(lower) > k else -np.inf
            short = rows[approx + delta >= max(min_score, kth)]
            self._prefetch(short)
            scores = self._f32(short) @ q
            order = np.argsort(-scores, kind="stable")[:k]
            return [Hit(self._ids[short[i]], float(scores[i])) for i in order if scores[i] >= min_score]

    def _int8_scores(self, rows: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (ascending) rows' scores from the int8 copy, and bounds of their distance to the float32 scores."""
        scale = self._scale.get_sorted(rows)[:, 0]
        approx = np.empty(len(rows), np.float32)
        for start in range(0, len(rows), SCORE_STEP):  # small temporaries: reused, not mapped afresh
            part = rows[start:start + SCORE_STEP]
            approx[start:start + len(part)] = self._int8.get_sorted(part).astype(np.float32) @ q
        approx *= scale
        # |x_i - scale c_i| <= scale / 2 for every component; the float32 sums (int8 and exact
        # alike) add at most d 2**-24 of the sum of |terms| each
        q1, d = float(np.abs(q).sum()), self.dimension
        return approx, scale * (0.5 * q1 + 127 * d * 2.0 ** -22 * (q1 + np.sqrt(d) * float(np.linalg.norm(q))))

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
        """Header, rotation, the codes (faiss's format), ids, then the float32 rows from a page
        boundary; the index then maps its rows from the new file. Streamed: no copy of the codes."""
        faiss = _faiss()

        with self.lock:
            n = len(self._ids)
            rotation = self._rotation.tobytes()
            ids_blob = "\n".join(self._ids).encode()
            size_crc = [0, zlib.crc32(rotation)]

            def count(data: bytes) -> None:
                size_crc[0] += len(data)
                size_crc[1] = zlib.crc32(data, size_crc[1])

            writer = faiss.PyCallbackIOWriter(count)
            faiss.write_index(self._pq, writer)
            del writer
            codes_bytes, meta_crc = size_crc[0], zlib.crc32(ids_blob, size_crc[1])
            rows_crc = 0
            for start in range(0, n, CHUNK):
                rows_crc = zlib.crc32(self._f32(np.arange(start, min(n, start + CHUNK))).data, rows_crc)
            fields = {"collection": collection_id, "dimension": self.dimension, "count": n, "seq": self.seq,
                      "candidates": self.candidates, "rotation": len(rotation), "codes": codes_bytes,
                      "ids_bytes": len(ids_blob), "crc32": meta_crc,
                      "rows_crc32": rows_crc, "rows_at": 0}
            head = 8 + 4 + len(json.dumps(fields)) + 32 + len(rotation) + codes_bytes + len(ids_blob)
            rows_at = -(-head // ALIGN) * ALIGN
            fields["rows_at"] = rows_at
            header = json.dumps(fields).encode()

            def write(fh: BinaryIO) -> None:
                fh.write(FASTSCAN_MAGIC + struct.pack("<I", len(header)) + header + rotation)
                w = faiss.PyCallbackIOWriter(fh.write)
                faiss.write_index(self._pq, w)
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
    def load(cls, path: Path, collection_id: str, dimension: int, *,
             max_count: int | None = None) -> FastScanIndex | None:
        """The snapshot, or None when it is missing, damaged, implausible or of another collection."""
        try:
            with open(path, "rb") as fh:
                return cls._read(fh, path, collection_id, dimension, max_count)
        except (OSError, ValueError, KeyError, struct.error, RecursionError, RuntimeError):
            return None

    @classmethod
    def _read(cls, fh: Any, path: Path, collection_id: str, dimension: int,
              max_count: int | None) -> FastScanIndex | None:
        faiss = _faiss()

        header = read_header(fh, FASTSCAN_MAGIC)
        if header.get("collection") != collection_id:
            return None
        if check_field(header, "dimension", 1, MAX_DIMENSION) != dimension:
            return None
        here, left = fh.tell(), remaining_bytes(fh)
        rot_bytes = dimension * dimension * 4
        check_field(header, "rotation", rot_bytes, rot_bytes)
        n = check_field(header, "count", 0, min(left // (4 * dimension), max_count if max_count is not None else left))
        rows_at = check_field(header, "rows_at", here, here + left - n * dimension * 4)
        codes_bytes = check_field(header, "codes", 0, rows_at - here - rot_bytes)
        ids_bytes = check_field(header, "ids_bytes", 0, rows_at - here - rot_bytes - codes_bytes)
        f = {key: check_field(header, key, lo, hi) for key, lo, hi in (
            ("seq", 0, 1 << 62), ("candidates", 1, 1 << 20), ("crc32", 0, 0xFFFFFFFF),
            ("rows_crc32", 0, 0xFFFFFFFF))}
        rotation = fh.read(rot_bytes)
        crc = [zlib.crc32(rotation), codes_bytes]

        def read(size: int) -> bytes:  # faiss reads the codes through this, never past them
            data: bytes = fh.read(min(size, crc[1]))
            crc[0], crc[1] = zlib.crc32(data, crc[0]), crc[1] - len(data)
            return data

        reader = faiss.PyCallbackIOReader(read)
        pq = faiss.read_index(reader)
        del reader
        if crc[1] != 0 or fh.tell() != here + rot_bytes + codes_bytes:
            return None
        ids_blob = fh.read(ids_bytes)
        if fh.read(rows_at - fh.tell()).strip(b"\0"):  # the padding before the rows is zeros
            return None
        if len(rotation) != rot_bytes or len(ids_blob) != ids_bytes or zlib.crc32(ids_blob, crc[0]) != f["crc32"]:
            return None
        ids = ids_blob.decode().split("\n") if n else []
        del ids_blob
        if len(ids) != n or not isinstance(pq, faiss.IndexPQFastScan) or pq.ntotal != n or pq.d != dimension \
                or pq.pq.M != sub_quantizers(dimension) or pq.pq.nbits != 4 \
                or pq.metric_type != faiss.METRIC_INNER_PRODUCT \
                or pq.codes.size() != -(-n // BLOCK) * pq.get_CodePacker().block_size:
            return None
        index = cls(dimension, candidates=f["candidates"])
        index._pq = pq
        index._rotation = np.frombuffer(rotation, np.float32).reshape(dimension, dimension).copy()
        index._ids, index._row, index.seq = ids, {face: i for i, face in enumerate(ids)}, f["seq"]
        if len(index._row) != n:
            return None
        # the float32 rows: read (not mapped: the page cache holds them, not this process), checked,
        # and their int8 copy derived, in one pass
        fh.seek(rows_at)
        rows_crc, buf = 0, np.empty((CHUNK, dimension), np.float32)
        for start in range(0, n, CHUNK):
            part = buf[: min(CHUNK, n - start)]
            if fh.readinto(part.data.cast("B")) != part.nbytes:
                return None
            rows_crc = zlib.crc32(part.data, rows_crc)
            index._append_int8(part)
        if rows_crc != f["rows_crc32"]:
            return None
        index._map(path, rows_at, n)
        return index
