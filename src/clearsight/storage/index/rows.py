"""Growable row storage in fixed-size blocks: appending never copies what is already stored (a
20M-row matrix cannot be reallocated at 1.5x on a 24 GiB machine), erased rows are zeroed in place."""

from __future__ import annotations

import numpy as np

__all__ = ["Rows"]


class Rows:
    """``width`` values of ``dtype`` a row, in blocks of ``2**shift`` rows allocated as needed."""

    def __init__(self, width: int, dtype: type | np.dtype, *, shift: int = 18) -> None:
        self.width = width
        self.dtype = np.dtype(dtype)
        self.shift = shift
        self._blocks: list[np.ndarray] = []
        self.count = 0

    def __len__(self) -> int:
        return self.count

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self._blocks)

    def append(self, mat: np.ndarray) -> None:
        mat = np.asarray(mat).reshape(-1, self.width)
        done, size = 0, 1 << self.shift
        while done < len(mat):
            block, off = divmod(self.count, size)
            if block == len(self._blocks):
                self._blocks.append(np.zeros((size, self.width), self.dtype))
            take = min(size - off, len(mat) - done)
            self._blocks[block][off:off + take] = mat[done:done + take]
            done += take
            self.count += take

    def get(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, np.int64)
        out = np.empty((len(rows), self.width), self.dtype)
        blocks = rows >> self.shift
        offs = rows & ((1 << self.shift) - 1)
        for b in np.unique(blocks):
            sel = blocks == b
            out[sel] = self._blocks[int(b)][offs[sel]]
        return out

    def get_sorted(self, rows: np.ndarray) -> np.ndarray:
        """:meth:`get` for ascending ``rows``: block by block, in address order (twice as fast on a
        few 10,000 random rows of a large store: fewer cache and TLB misses, no per-block masks)."""
        rows = np.asarray(rows, np.int64)
        out = np.empty((len(rows), self.width), self.dtype)
        ends = np.searchsorted(rows, (np.arange(len(self._blocks)) + 1) << self.shift)
        lo = 0
        for b, hi in enumerate(ends.tolist()):
            if hi > lo:
                out[lo:hi] = self._blocks[b][rows[lo:hi] - (b << self.shift)]
            lo = hi
        return out

    def row(self, r: int) -> np.ndarray:
        row: np.ndarray = self._blocks[r >> self.shift][r & ((1 << self.shift) - 1)]
        return row

    def set(self, r: int, value: np.ndarray | int) -> None:
        self._blocks[r >> self.shift][r & ((1 << self.shift) - 1)] = value

    def pop(self) -> None:
        """Zero the last row and forget it; a block left empty is freed."""
        self.count -= 1
        self.set(self.count, 0)
        if self.count <= (len(self._blocks) - 1) << self.shift:
            self._blocks.pop()

    def chunks(self) -> list[np.ndarray]:
        """The stored rows as views, in order."""
        size, out, left = 1 << self.shift, [], self.count
        for b in self._blocks:
            out.append(b[: min(size, left)])
            left -= size
            if left <= 0:
                break
        return out
