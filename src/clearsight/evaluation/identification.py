"""All-vs-all verification and open-set (1:N) identification over labelled embeddings.

Everything is scored by cosine (the dot product of L2-normalised embeddings, as the engine
scores faces) with float32 matrix products in blocks of rows, so memory stays at
``block x n`` scores however many pairs there are.

- ``all_vs_all``: every pair i < j. Pairs of one identity are genuine (all of their scores are
  kept); the others are impostors, of which only the highest ``top`` scores are kept (exactly:
  a running cut-off, not a histogram) plus exact counts at the thresholds asked for. So a
  threshold for FAR f is exact while ``f * impostors < top``: the default keeps enough for
  FAR 1e-3 on 87 million pairs.
- ``open_set``: the first image of each identity is its one gallery entry; every other image
  is a mated search; every image is also a non-mated search against the gallery with its own
  identity's entry masked (leave-one-identity-out), so an identity with one image is a probe
  of a person never enrolled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def _codes(labels: Sequence[str] | np.ndarray) -> np.ndarray:
    return np.unique(np.asarray(labels), return_inverse=True)[1].astype(np.int64).ravel()


def pair_counts(labels: Sequence[str] | np.ndarray) -> tuple[int, int]:
    """(genuine, impostor) pair counts among all i < j."""
    sizes = np.bincount(_codes(labels)).astype(np.int64)
    n = int(sizes.sum())
    genuine = int((sizes * (sizes - 1) // 2).sum())
    return genuine, n * (n - 1) // 2 - genuine


@dataclass(frozen=True)
class TarAtFar:
    far: float  # the FAR asked for
    threshold: float  # accept score >= threshold
    false_accepts: int  # impostor pairs at or above it (<= floor(far * impostors))
    tar: float  # genuine pairs at or above it / genuine pairs


@dataclass(frozen=True)
class AllVsAll:
    genuine: np.ndarray  # every genuine pair's score, ascending
    impostor_top: np.ndarray  # the highest impostor scores, descending
    impostors: int  # impostor pairs scored
    counts: dict[float, int]  # threshold -> impostor pairs with score >= threshold (exact)

    @property
    def max_exact_far(self) -> float:
        """``tar_at_far`` is exact for every FAR up to this (the top scores kept suffice)."""
        return (len(self.impostor_top) - 1) / self.impostors if self.impostors else 0.0

    def tar_at_far(self, far: float) -> TarAtFar:
        """The lowest threshold at which at most floor(far * impostors) impostors score."""
        allowed = int(np.floor(far * self.impostors))
        if allowed >= len(self.impostor_top):
            raise ValueError(f"FAR {far:g} needs the top {allowed + 1} impostor scores; "
                             f"all_vs_all(top=...) kept {len(self.impostor_top)}")
        top = self.impostor_top
        threshold = float(np.nextafter(top[allowed], np.float32(np.inf)))
        accepted = int(np.count_nonzero(top >= np.float32(threshold)))
        tar = float(np.count_nonzero(self.genuine >= np.float32(threshold)) / max(1, len(self.genuine)))
        return TarAtFar(far, threshold, accepted, tar)

    def fmr(self, threshold: float) -> float:
        """Impostor pairs at or above ``threshold`` / impostor pairs (a threshold asked for)."""
        return self.counts[threshold] / max(1, self.impostors)

    def fnmr(self, threshold: float) -> float:
        """Genuine pairs below ``threshold`` / genuine pairs."""
        return float(np.count_nonzero(self.genuine < np.float32(threshold)) / max(1, len(self.genuine)))


def all_vs_all(
    vectors: np.ndarray, labels: Sequence[str] | np.ndarray, *, thresholds: Sequence[float] = (),
    top: int | None = None, block: int = 1024,
) -> AllVsAll:
    """Score every pair i < j of ``vectors`` (rows L2-normalised) by cosine.

    ``top`` impostor scores are kept (default: enough for FAR 1e-3, at least 1,000);
    ``thresholds`` get exact impostor counts."""
    x = np.ascontiguousarray(vectors, np.float32)
    codes = _codes(labels)
    n = len(x)
    if len(codes) != n:
        raise ValueError(f"{n} vectors but {len(codes)} labels")
    n_genuine, n_impostor = pair_counts(labels)
    keep = top if top is not None else max(1000, int(np.floor(1e-3 * n_impostor)) + 1)
    cuts = [float(t) for t in thresholds]
    counts = dict.fromkeys(cuts, 0)
    genuine: list[np.ndarray] = []
    best = np.empty(0, np.float32)
    cutoff = np.float32(-np.inf)  # every impostor above it is in ``best``
    for a in range(0, n, block):
        b = min(n, a + block)
        s = x[a:b] @ x[a:].T  # rows a..b-1 against columns a..n-1
        upper = np.arange(a, n)[None, :] > np.arange(a, b)[:, None]
        same = codes[a:b, None] == codes[None, a:]
        genuine.append(s[upper & same])
        imp = s[upper & ~same]
        for t in cuts:
            counts[t] += int(np.count_nonzero(imp >= np.float32(t)))
        cand = np.concatenate([best, imp[imp >= cutoff]])
        if len(cand) > keep:
            cand = np.partition(cand, len(cand) - keep)[len(cand) - keep:]
            cutoff = cand.min()
        best = cand
    scores = np.sort(np.concatenate(genuine)) if genuine else np.empty(0, np.float32)
    assert len(scores) == n_genuine
    return AllVsAll(scores, np.sort(best)[::-1], n_impostor, counts)


def impostors_above(
    vectors: np.ndarray, labels: Sequence[str] | np.ndarray, threshold: float, *, block: int = 1024
) -> list[tuple[int, int, float]]:
    """Every impostor pair i < j scoring >= threshold, highest first (to look at them)."""
    x = np.ascontiguousarray(vectors, np.float32)
    codes = _codes(labels)
    found: list[tuple[int, int, float]] = []
    for a in range(0, len(x), block):
        b = min(len(x), a + block)
        s = x[a:b] @ x[a:].T
        hit = (s >= np.float32(threshold)) & (codes[a:b, None] != codes[None, a:])
        hit &= np.arange(a, len(x))[None, :] > np.arange(a, b)[:, None]
        found += [(a + int(i), a + int(j), float(s[i, j])) for i, j in zip(*np.nonzero(hit), strict=True)]
    return sorted(found, key=lambda t: -t[2])


@dataclass(frozen=True)
class OpenSet:
    """One gallery entry per identity; ``gallery[k]`` is the row enrolled for identity k."""

    gallery: np.ndarray  # (identities,) row index of each identity's gallery image
    mated: np.ndarray  # row indices of the mated searches (every image not in the gallery)
    mated_score: np.ndarray  # (mated,) score of the probe's own identity's gallery entry
    mated_rank1: np.ndarray  # (mated,) own identity strictly ahead of every other identity
    nonmated_best: np.ndarray  # (images,) best score with the image's own identity masked
    single: np.ndarray  # (images,) bool: the image's identity has one image only

    def rank1(self) -> float:
        return float(np.mean(self.mated_rank1)) if len(self.mated) else float("nan")

    def tpir(self, threshold: float) -> float:
        """Mated searches whose own identity is rank 1 and scores >= threshold."""
        hit = self.mated_rank1 & (self.mated_score >= np.float32(threshold))
        return float(np.mean(hit)) if len(self.mated) else float("nan")

    def fpir(self, threshold: float, *, single_only: bool = False) -> float:
        """Non-mated searches whose best gallery score is >= threshold (all images, or only
        those of identities with one image: probes whose person was never enrolled at all)."""
        best = self.nonmated_best[self.single] if single_only else self.nonmated_best
        return float(np.mean(best >= np.float32(threshold))) if len(best) else float("nan")


def open_set(vectors: np.ndarray, labels: Sequence[str] | np.ndarray, *, block: int = 2048) -> OpenSet:
    """Enrol the first row of each identity, search with every row (see the module doc)."""
    x = np.ascontiguousarray(vectors, np.float32)
    codes = _codes(labels)
    n = len(x)
    if len(codes) != n:
        raise ValueError(f"{n} vectors but {len(codes)} labels")
    identities = int(codes.max()) + 1 if n else 0
    gallery = np.full(identities, -1, np.int64)
    for i in range(n - 1, -1, -1):  # the first row of each identity wins
        gallery[codes[i]] = i
    g = x[gallery]  # column k is identity k
    is_gallery = np.zeros(n, bool)
    is_gallery[gallery] = True
    own = np.empty(n, np.float32)
    other = np.empty(n, np.float32)
    for a in range(0, n, block):
        b = min(n, a + block)
        s = x[a:b] @ g.T
        rows = np.arange(b - a)
        own[a:b] = s[rows, codes[a:b]]
        s[rows, codes[a:b]] = -np.inf  # leave the probe's identity out
        other[a:b] = s.max(axis=1) if identities > 1 else -np.inf
    mated = np.flatnonzero(~is_gallery)
    sizes = np.bincount(codes, minlength=identities)
    return OpenSet(gallery, mated, own[mated], own[mated] > other[mated], other, sizes[codes] == 1)
