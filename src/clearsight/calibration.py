"""Similarity calibration: the embedding score mapped to Rekognition's 0-100 scale.

Two kinds, named by each model's ``kind`` in ``calibration.json`` (written by
``bench/calibrate.py``; docs/accuracy.md shows it):

- ``fmr-anchored`` (every shipped model): Similarity names a false-match rate. One fixed,
  model-independent target curve ``fmr_target(S)`` (the file's ``target``) says how often two
  different people may reach Similarity S; per model, a strictly increasing map score ->
  Similarity through knots ``(score_k, S_k)`` fitted on LFW pairsDevTrain only, ``score_k``
  being the score above which a fraction ``fmr_target(S_k)`` of the devtrain impostor pairs lie.
  Between knots ``logit(S/100)`` is linear in the score; beyond the end knots it continues with
  the slope ``a`` of the logistic fit (extrapolated: no FMR is measured there). The inverse
  ``score_for`` is exact.
- ``logistic`` (the files before it): ``Similarity = 100 * sigmoid(a * score + b)``, fitted by
  logistic regression on pairsDevTrain with equal priors.

Either way every Similarity value has a measured false-match rate (FMR) and false non-match rate
(FNMR) on the devtrain impostor and genuine pairs (``table``); ``fmr_at`` interpolates it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np


def available_models() -> dict[str, Any]:
    text = resources.files("clearsight").joinpath("calibration.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True)
class Recipe:
    """How the fused face embedding is made (part of the model version)."""

    weight_mobilefacenet: float  # the weight of the ArcFace-aligned net (``face_card``)
    weight_resnet: float
    align_with_68: bool
    resnet_card: str = "dlib-resnet"  # which card runs dlib's ResNet: dlib itself or "dlib-resnet-onnx"
    face_card: str = "mobilefacenet"  # the ArcFace-aligned 112x112 net: "mobilefacenet" or another embedder
    # the ArcFace-aligned net aligned on 5 points from MediaPipe Face Mesh (eye-contour centres, nose
    # tip, mouth corners) instead of the detector's; False (the detector's points) for older versions
    align_with_mesh: bool = False

    @property
    def dimension(self) -> int:
        from .models.registry import CARDS

        return int(CARDS[self.face_card].dimension or 0) + (128 if self.weight_resnet > 0 else 0)


@dataclass(frozen=True)
class Calibration:
    model_version: str
    recipe: Recipe
    a: float
    b: float
    table: tuple[tuple[float, float, float, float], ...]  # (similarity, score, fmr, fnmr)
    fitted_on: str
    kind: str = "logistic"  # or "fmr-anchored"
    knots: tuple[tuple[float, float], ...] = ()  # (score, similarity), both strictly increasing

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"calibration kind {self.kind!r}: want one of {', '.join(KINDS)}")
        if self.kind == "fmr-anchored":
            xs, ss = np.array([k[0] for k in self.knots]), np.array([k[1] for k in self.knots])
            if len(xs) < 2 or np.any(np.diff(xs) <= 0) or np.any(np.diff(ss) <= 0) or ss[0] <= 0 or ss[-1] >= 100:
                raise ValueError("fmr-anchored knots must be 2+ (score, similarity) pairs, both strictly "
                                 "increasing, similarity inside (0, 100)")
            if self.a <= 0:
                raise ValueError("fmr-anchored calibration needs a positive slope a")

    @classmethod
    def load(cls, data: dict[str, Any] | None = None, *, model: str | None = None) -> Calibration:
        """The calibration of ``model`` (a face model version; default: the file's default)."""
        if data is None:
            known = available_models()
            name = model or known["default"]
            if name not in known["models"]:
                from .errors import InvalidParameterException

                raise InvalidParameterException(
                    f"unknown face model {name!r}; choose one of {', '.join(sorted(known['models']))}"
                )
            data = known["models"][name]
        recipe = Recipe(**data["recipe"])
        table = tuple(
            (float(r["similarity"]), float(r["score"]), float(r["fmr"]), float(r["fnmr"]))
            for r in data["table"]
        )
        knots = tuple((float(s), float(v)) for s, v in data.get("knots", ()))
        return cls(data["model_version"], recipe, float(data["a"]), float(data["b"]), table,
                   data["fitted_on"], data.get("kind", "logistic"), knots)

    def _logits(self) -> tuple[np.ndarray, np.ndarray]:
        xs = np.array([k[0] for k in self.knots], np.float64)
        return xs, _logit(np.array([k[1] for k in self.knots], np.float64) / 100.0)

    def similarity(self, score: np.ndarray | float) -> np.ndarray:
        """Embedding score(s) -> Similarity in [0, 100], strictly increasing in the score."""
        s = np.asarray(score, np.float64)
        if self.kind == "logistic":
            z = self.a * s + self.b
        else:
            xs, ls = self._logits()
            z = np.interp(s, xs, ls)
            z = np.where(s < xs[0], ls[0] + self.a * (s - xs[0]), z)
            z = np.where(s > xs[-1], ls[-1] + self.a * (s - xs[-1]), z)
        return np.asarray(100.0 / (1.0 + np.exp(-np.clip(z, -60, 60))))

    def score_for(self, similarity: float) -> float:
        """The score at which Similarity equals ``similarity`` (the exact inverse of similarity)."""
        p = min(max(similarity / 100.0, 1e-12), 1 - 1e-12)
        z = math.log(p / (1 - p))
        if self.kind == "logistic":
            return (z - self.b) / self.a
        xs, ls = self._logits()
        if z < ls[0]:
            return float(xs[0] + (z - ls[0]) / self.a)
        if z > ls[-1]:
            return float(xs[-1] + (z - ls[-1]) / self.a)
        return float(np.interp(z, ls, xs))

    def fmr_at(self, similarity: float) -> float:
        """Measured false-match rate of one comparison at this Similarity threshold."""
        sims = [r[0] for r in self.table]
        fmrs = [max(r[2], 1e-9) for r in self.table]
        return float(10 ** np.interp(similarity, sims, np.log10(fmrs)))

    def fnmr_at(self, similarity: float) -> float:
        sims = [r[0] for r in self.table]
        return float(np.interp(similarity, sims, [r[3] for r in self.table]))


KINDS = ("logistic", "fmr-anchored")


def _logit(p: np.ndarray) -> np.ndarray:
    return np.asarray(np.log(p / (1.0 - p)))


def fmr_target(similarity: float | np.ndarray, target: dict[str, Any] | None = None) -> np.ndarray:
    """The promised false-match rate at Similarity S (calibration.json's ``target``): log FMR
    interpolated linearly in log(100 - S) between the target's points; beyond the first and last
    point it continues with the slope of the end segment (so it tends to 0 as S -> 100)."""
    points = (target or available_models()["target"])["points"]
    u = np.log10(100.0 - np.array([p[0] for p in points], np.float64))[::-1]  # increasing
    f = np.log10(np.array([p[1] for p in points], np.float64))[::-1]
    x = np.log10(np.maximum(100.0 - np.asarray(similarity, np.float64), 1e-12))
    y = np.interp(x, u, f)
    y = np.where(x < u[0], f[0] + (x - u[0]) * (f[1] - f[0]) / (u[1] - u[0]), y)
    y = np.where(x > u[-1], f[-1] + (x - u[-1]) * (f[-1] - f[-2]) / (u[-1] - u[-2]), y)
    return np.asarray(np.minimum(10.0 ** y, 1.0))


def fit_knots(impostor: np.ndarray, levels: list[float], target: dict[str, Any] | None = None, *,
              min_pairs: int = 10) -> list[tuple[float, float]]:
    """The (score, similarity) knots of an fmr-anchored calibration: for each Similarity level
    whose target FMR leaves at least ``min_pairs`` of the ``impostor`` scores above it, the score
    above which that fraction of them lies (the empirical quantile, interpolated between order
    statistics), so the measured FMR there is the target to within one pair. Scores are nudged
    up where two levels land on one impostor score, to keep the map strictly increasing."""
    imp = np.sort(np.asarray(impostor, np.float64))
    n = len(imp)
    knots: list[tuple[float, float]] = []
    for level in sorted(levels):
        fmr = float(fmr_target(level, target))
        if fmr * n < min_pairs:
            continue
        t = float(np.quantile(imp, 1.0 - fmr))
        if knots and t <= knots[-1][0]:
            t = float(np.nextafter(knots[-1][0], np.inf))
        knots.append((t, float(level)))
    return knots


def markdown_table(model: str) -> str:
    """The Similarity -> FMR / FNMR table of a face model (docs/accuracy.md is checked against it)."""
    cal = Calibration.load(model=model)
    target = cal.kind == "fmr-anchored"
    rows = ["| Similarity | score | " + ("target FMR | " if target else "")
            + "FMR (false match per comparison) | 1 in | FNMR (missed same person) |",
            "|---|---|---|---|" + ("---|" if target else "") + "---|"]
    for sim, score, fmr, fnmr in cal.table:
        one_in = f"{1 / fmr:,.0f}" if fmr > 0 else "-"
        goal = f"{float(fmr_target(sim)):.2e} | " if target else ""
        rows.append(f"| {sim:g} | {score:.4f} | {goal}{fmr:.2e} | {one_in} | {100 * fnmr:.2f}% |")
    return "\n".join(rows) + "\n"


TARGET_LEVELS = (50.0, 80.0, 90.0, 95.0, 99.0, 99.5, 99.9)


def target_table() -> str:
    """The target curve at a few Similarity levels (docs/accuracy.md is checked against it)."""
    rows = ["| Similarity | target FMR | 1 in |", "|---|---|---|"]
    last = max(p[0] for p in available_models()["target"]["points"])
    for sim in TARGET_LEVELS:
        fmr = float(fmr_target(sim))
        note = " (extrapolated)" if sim > last else ""
        rows.append(f"| {sim:g} | {fmr:.2e}{note} | {1 / fmr:,.0f} |")
    return "\n".join(rows) + "\n"
