"""LFW verification: the official pairs files, 10-fold protocol, ROC and TAR@FAR.

Every pair is counted. LFW labels the centred face of each image, so we take the detection
nearest the centre (at any detector score); when the detector finds nothing at all we fall back
to the centre of the image, where LFW's funneled faces sit, and align with dlib's 68 points
there. ``EvalResult.fallbacks`` says how often that happened.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidParameterException
from ..faces import Face, FaceAnalyzer
from ..images import decode
from ..models.landmarks import five_from_68


@dataclass(frozen=True)
class Pair:
    fold: int
    first: str  # path relative to the LFW folder
    second: str
    same: bool


def _image(name: str, number: str) -> str:
    return f"images/{name}/{name}_{int(number):04d}.jpg"


def read_pairs(path: Path) -> list[Pair]:
    """Read an official LFW pairs file: a header "folds pairs" (or just "pairs", one fold),
    then per fold ``pairs`` lines "name i j" (same) and ``pairs`` lines "n1 i n2 j" (different)."""
    try:
        lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    except OSError as exc:
        raise InvalidParameterException(f"cannot read pairs file {path}: {exc}") from exc
    if not lines:
        raise InvalidParameterException(f"{path} is empty")
    try:
        header = [int(v) for v in lines[0]]
    except ValueError as exc:
        raise InvalidParameterException(f"{path}: the first line must be 'folds pairs'") from exc
    folds, per = (header[0], header[1]) if len(header) == 2 else (1, header[0])
    body = lines[1:]
    if len(body) != folds * per * 2:
        raise InvalidParameterException(
            f"{path}: expected {folds * per * 2} pair lines for {folds} folds x {per} pairs, "
            f"found {len(body)}"
        )
    pairs = []
    for i, row in enumerate(body):
        fold = i // (2 * per)
        if len(row) == 3:
            pairs.append(Pair(fold, _image(row[0], row[1]), _image(row[0], row[2]), True))
        elif len(row) == 4:
            pairs.append(Pair(fold, _image(row[0], row[1]), _image(row[2], row[3]), False))
        else:
            raise InvalidParameterException(f"{path}: line {i + 2} is not a pair: {' '.join(row)}")
    return pairs


def centred_face(analyzer: FaceAnalyzer, rgb: np.ndarray) -> tuple[Face, bool]:
    """The detection nearest the image centre; (face, fell_back)."""
    h, w = rgb.shape[:2]
    centre = np.array([w / 2, h / 2], np.float32)
    dets = analyzer.detector.detect(rgb, min_confidence=0.0)
    if dets:
        d = min(dets, key=lambda d: float(np.linalg.norm((d.box[:2] + d.box[2:]) / 2 - centre)))
        return Face(d.box, d.score, d.landmarks), False
    side = 0.4 * min(w, h)
    box = np.array([centre[0] - side / 2, centre[1] - side / 2, centre[0] + side / 2,
                    centre[1] + side / 2], np.float32)
    face = Face(box, 0.0, np.zeros((5, 2), np.float32))
    analyzer.add_points68(rgb, [face])
    assert face.points68 is not None
    face.points = five_from_68(face.points68)
    return face, True


def embed_images(
    analyzer: FaceAnalyzer, root: Path, paths: Iterable[str],
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, np.ndarray], int]:
    paths = sorted(set(paths))
    out: dict[str, np.ndarray] = {}
    fallbacks = 0
    for i, rel in enumerate(paths):
        img = decode(root / rel)
        face, fell_back = centred_face(analyzer, img.rgb)
        fallbacks += fell_back
        analyzer.embed(img.rgb, [face])
        assert face.embedding is not None
        out[rel] = face.embedding
        if progress:
            progress(i + 1, len(paths))
    return out, fallbacks


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold that maximises accuracy (midpoints between sorted scores)."""
    order = np.sort(np.unique(scores))
    candidates = np.concatenate([[order[0] - 1e-6], (order[1:] + order[:-1]) / 2, [order[-1] + 1e-6]])
    # accuracy for every candidate via cumulative counts
    pos = np.sort(scores[same])
    neg = np.sort(scores[~same])
    tp = len(pos) - np.searchsorted(pos, candidates, side="left")
    tn = np.searchsorted(neg, candidates, side="left")
    acc = (tp + tn) / len(scores)
    return float(candidates[int(np.argmax(acc))])


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> tuple[float, float]:
    """(TAR, threshold) at the lowest threshold whose false-accept rate is <= far."""
    neg = np.sort(scores[~same])[::-1]
    allowed = int(np.floor(far * len(neg)))
    threshold = float(neg[allowed]) + 1e-9 if allowed < len(neg) else float(neg[-1])
    return float(np.mean(scores[same] >= threshold)), threshold


@dataclass
class EvalResult:
    accuracy: float
    accuracy_std: float
    fold_accuracies: list[float]
    tar_at_far: dict[str, float]
    accuracy_at_similarity: dict[str, float]
    pairs: int
    images: int
    fallbacks: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "accuracy": self.accuracy,
            "accuracy_std": self.accuracy_std,
            "fold_accuracies": self.fold_accuracies,
            "pairs": self.pairs,
            "images": self.images,
            "detector_fallbacks": self.fallbacks,
        }
        for k, v in self.tar_at_far.items():
            out[f"tar_at_far_{k}"] = v
        for k, v in self.accuracy_at_similarity.items():
            out[f"accuracy_at_similarity_{k}"] = v
        out.update(self.extra)
        return out


def evaluate_scores(
    scores: np.ndarray, same: np.ndarray, folds: np.ndarray, similarity: Callable[[np.ndarray], np.ndarray]
) -> EvalResult:
    accs = []
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        t = best_threshold(scores[train], same[train]) if len(np.unique(folds)) > 1 else \
            best_threshold(scores, same)
        accs.append(float(np.mean((scores[test] >= t) == same[test])))
    sims = similarity(scores)
    return EvalResult(
        accuracy=float(np.mean(accs)),
        accuracy_std=float(np.std(accs)),
        fold_accuracies=accs,
        tar_at_far={f: tar_at_far(scores, same, float(f))[0] for f in ("1e-3", "1e-4")},
        accuracy_at_similarity={
            str(s): float(np.mean((sims >= s) == same)) for s in (80, 90, 95, 99)
        },
        pairs=len(scores),
        images=0,
        fallbacks=0,
    )


def run(
    analyzer: FaceAnalyzer, root: Path, pairs: list[Pair], *, quiet: bool = False
) -> tuple[EvalResult, np.ndarray, np.ndarray]:
    def progress(i: int, n: int) -> None:
        if not quiet and (i % 250 == 0 or i == n):
            print(f"\rembedding {i}/{n} images", end="\n" if i == n else "", file=sys.stderr,
                  flush=True)

    missing = [p for p in {q.first for q in pairs} | {q.second for q in pairs} if not (root / p).is_file()]
    if missing:
        raise InvalidParameterException(
            f"{len(missing)} images of the pairs file are missing under {root}, e.g. {missing[0]}"
        )
    vecs, fallbacks = embed_images(analyzer, root, [p.first for p in pairs] + [p.second for p in pairs],
                                   progress)
    scores = np.array([float(vecs[p.first] @ vecs[p.second]) for p in pairs])
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    result = evaluate_scores(scores, same, folds, analyzer.calibration.similarity)
    result.images = len(vecs)
    result.fallbacks = fallbacks
    return result, scores, same


def roc_png(scores: np.ndarray, same: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thresholds = np.unique(scores)[::-1]
    if len(thresholds) > 20_000:  # millions of pairs: a fine grid is enough for a plot
        thresholds = np.quantile(scores, np.linspace(1, 0, 20_000))
    neg, pos = np.sort(scores[~same]), np.sort(scores[same])
    far = (len(neg) - np.searchsorted(neg, thresholds, side="left")) / max(1, len(neg))
    tar = (len(pos) - np.searchsorted(pos, thresholds, side="left")) / max(1, len(pos))
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    ax.plot(np.maximum(far, 1e-5), tar, lw=2)
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_ylim(0.8, 1.0)
    ax.set_xlabel("false match rate (FAR)")
    ax.set_ylabel("true match rate (TAR)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
