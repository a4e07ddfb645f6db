"""Similarity calibration: the fused embedding score mapped to Rekognition's 0-100 scale.

``Similarity = 100 * sigmoid(a * score + b)``, with ``a`` and ``b`` fitted by logistic
regression on LFW pairsDevTrain only (equal priors), so it is monotonic in the score and reads
as "the probability this is the same person when same and different pairs are equally
likely". Every Similarity value also has a measured false-match rate (FMR) and false
non-match rate (FNMR) on impostor and genuine pairs from LFW; ``fmr_at`` interpolates that
table. ``bench/calibrate.py`` writes ``calibration.json``; docs/accuracy.md shows it.
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
        return cls(data["model_version"], recipe, float(data["a"]), float(data["b"]), table,
                   data["fitted_on"])

    def similarity(self, score: np.ndarray | float) -> np.ndarray:
        """Fused cosine score(s) -> Similarity in [0, 100]."""
        z = self.a * np.asarray(score, np.float64) + self.b
        return np.asarray(100.0 / (1.0 + np.exp(-np.clip(z, -60, 60))))

    def score_for(self, similarity: float) -> float:
        """The fused score at which Similarity equals ``similarity`` (inverse of similarity)."""
        p = min(max(similarity / 100.0, 1e-12), 1 - 1e-12)
        return (math.log(p / (1 - p)) - self.b) / self.a

    def fmr_at(self, similarity: float) -> float:
        """Measured false-match rate of one comparison at this Similarity threshold."""
        sims = [r[0] for r in self.table]
        fmrs = [max(r[2], 1e-9) for r in self.table]
        return float(10 ** np.interp(similarity, sims, np.log10(fmrs)))

    def fnmr_at(self, similarity: float) -> float:
        sims = [r[0] for r in self.table]
        return float(np.interp(similarity, sims, [r[3] for r in self.table]))


def markdown_table(model: str) -> str:
    """The Similarity -> FMR / FNMR table of a face model (docs/accuracy.md is checked against it)."""
    cal = Calibration.load(model=model)
    rows = ["| Similarity | fused score | FMR (false match per comparison) | 1 in | FNMR (missed same person) |",
            "|---|---|---|---|---|"]
    for sim, score, fmr, fnmr in cal.table:
        one_in = f"{1 / fmr:,.0f}" if fmr > 0 else "-"
        rows.append(f"| {sim:g} | {score:.4f} | {fmr:.2e} | {one_in} | {100 * fnmr:.2f}% |")
    return "\n".join(rows) + "\n"
