"""LFW verification by pose: pairs binned by the larger |yaw| of their two faces.

Yaw comes from :func:`clearsight.geometry.pose` on each centred face's 5 landmarks (an average
face's proportions, not a 3D fit: expect errors of 10-15 degrees, more at extreme poses), so the
bins are coarse. Per bin:

- accuracy with the protocol's own 10-fold thresholds: each fold's threshold is chosen on the
  other 9 folds (all pairs, every pose), as :func:`clearsight.evaluation.lfw.evaluate_scores`
  does, and each pair is then counted in its bin;
- TAR at a global threshold: the one for FAR=1e-3 over all impostor pairs of the protocol, the
  genuine pairs of the bin counted against it (and the bin's impostor false-accept rate there);
- the genuine-pair match rate at Similarity 80 and 99 (the calibrated score the API reports).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import lfw

YAW_EDGES: tuple[float, ...] = (15.0, 30.0, 45.0)
SIMILARITIES: tuple[int, ...] = (80, 99)


def bin_labels(edges: Sequence[float] = YAW_EDGES) -> list[str]:
    """``<15``, ``15-30``, ``30-45``, ``>=45`` for the default edges (lower edge inclusive)."""
    e = [f"{v:g}" for v in edges]
    return [f"<{e[0]}"] + [f"{a}-{b}" for a, b in itertools.pairwise(e)] + [f">={e[-1]}"]


def pair_yaw(yaw_first: np.ndarray, yaw_second: np.ndarray) -> np.ndarray:
    """The larger |yaw| of each pair's two faces (NaN when either is unknown)."""
    a, b = np.abs(np.asarray(yaw_first, np.float64)), np.abs(np.asarray(yaw_second, np.float64))
    return np.where(np.isfinite(a) & np.isfinite(b), np.maximum(a, b), np.nan)


def yaw_bins(abs_yaw: np.ndarray, edges: Sequence[float] = YAW_EDGES) -> np.ndarray:
    """Bin index per pair: 0 below edges[0], i for edges[i-1] <= |yaw| < edges[i], len(edges) at or
    above the last edge; -1 where the yaw is not finite."""
    abs_yaw = np.asarray(abs_yaw, np.float64)
    idx = np.searchsorted(np.asarray(edges, np.float64), np.nan_to_num(abs_yaw, nan=0.0), side="right")
    return np.where(np.isfinite(abs_yaw), idx, -1)


def fold_correct(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Per pair: is it classified right by its fold's threshold, chosen on the other folds?"""
    correct = np.zeros(len(scores), bool)
    ks = np.unique(folds)
    for k in ks:
        test = folds == k
        train = ~test if len(ks) > 1 else test
        t = lfw.best_threshold(scores[train], same[train])
        correct[test] = (scores[test] >= t) == same[test]
    return correct


@dataclass
class PoseBin:
    label: str
    genuine: int
    impostor: int
    accuracy: float  # NaN for an empty bin
    tar: float  # genuine pairs at or above the global FAR threshold; NaN without genuine pairs
    far: float  # the bin's impostors at or above it; NaN without impostors
    genuine_match: dict[int, float] = field(default_factory=dict)  # Similarity -> genuine match rate

    @property
    def pairs(self) -> int:
        return self.genuine + self.impostor


@dataclass
class PoseResult:
    bins: list[PoseBin]
    overall: PoseBin
    far: float
    threshold: float  # the global score threshold for ``far``
    edges: tuple[float, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def row(b: PoseBin) -> dict[str, Any]:
            out: dict[str, Any] = {"bin": b.label, "pairs": b.pairs, "genuine": b.genuine, "impostor": b.impostor,
                                   "accuracy": b.accuracy, "tar": b.tar, "far": b.far}
            out.update({f"genuine_match_at_similarity_{s}": v for s, v in b.genuine_match.items()})
            return out

        return {"far": self.far, "threshold": self.threshold, "yaw_edges": list(self.edges),
                "bins": [row(b) for b in self.bins], "overall": row(self.overall), **self.extra}


def _mean(v: np.ndarray) -> float:
    return float(np.mean(v)) if len(v) else float("nan")


def _bin(label: str, mask: np.ndarray, same: np.ndarray, correct: np.ndarray, accepted: np.ndarray,
         sims: np.ndarray, similarities: Sequence[int]) -> PoseBin:
    gen, imp = mask & same, mask & ~same
    return PoseBin(label, int(gen.sum()), int(imp.sum()), _mean(correct[mask]), _mean(accepted[gen]),
                   _mean(accepted[imp]), {s: _mean(sims[gen] >= s) for s in similarities})


def evaluate_by_pose(
    scores: np.ndarray, same: np.ndarray, folds: np.ndarray, abs_yaw: np.ndarray,
    similarity: Callable[[np.ndarray], np.ndarray], *, edges: Sequence[float] = YAW_EDGES,
    far: float = 1e-3, similarities: Sequence[int] = SIMILARITIES,
) -> PoseResult:
    """Per-|yaw|-bin figures for the pairs' ``scores`` (see the module docstring). Pairs whose yaw
    is unknown get an ``unknown`` bin, listed only when there are some."""
    scores, same, folds = np.asarray(scores, np.float64), np.asarray(same, bool), np.asarray(folds)
    correct = fold_correct(scores, same, folds)
    _, threshold = lfw.tar_at_far(scores, same, far)
    accepted = scores >= threshold
    sims = np.asarray(similarity(scores), np.float64)
    idx = yaw_bins(abs_yaw, edges)
    labels = bin_labels(edges)
    bins = [_bin(lab, idx == i, same, correct, accepted, sims, similarities) for i, lab in enumerate(labels)]
    if np.any(idx < 0):
        bins.append(_bin("unknown", idx < 0, same, correct, accepted, sims, similarities))
    overall = _bin("all", np.ones(len(scores), bool), same, correct, accepted, sims, similarities)
    return PoseResult(bins, overall, far, float(threshold), tuple(float(e) for e in edges))


def wilson_lower(k: int, n: int, z: float = 1.96) -> float:
    """The lower end of the Wilson score interval of a rate of k in n (95% for z = 1.96)."""
    if n == 0:
        return 0.0
    p = k / n
    centre = p + z * z / (2 * n)
    margin = z * float(np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)))
    return max(0.0, (centre - margin) / (1 + z * z / n))


def auto_yaw_limit(result: PoseResult, promised_miss: dict[int, float], *, factor: float = 2.0) -> float | None:
    """QualityFilter AUTO's EXTREME_POSE limit, decided from the measured table: the lower edge of
    the first |yaw| bin whose genuine pairs are missed at Similarity ``s`` more than ``factor``
    times as often as ``promised_miss[s]`` (the FNMR the accuracy table publishes), for any ``s``,
    beyond doubt: the lower end of the 95% interval of the bin's miss rate must be above that. None
    when no bin falls short. The bins are ordered by yaw; "unknown" is ignored."""
    lower = (0.0, *result.edges)
    for edge, b in zip(lower, result.bins, strict=False):
        if b.label == "unknown" or not b.genuine:
            continue
        for s, miss in promised_miss.items():
            missed = round((1.0 - b.genuine_match.get(s, 1.0)) * b.genuine)
            if wilson_lower(missed, b.genuine) > factor * miss:
                return edge
    return None
