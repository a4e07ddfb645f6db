"""dlib shape predictors: 5 points (for dlib's face chips) and 68 points (eyes/mouth state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _rect(box: np.ndarray) -> Any:
    import dlib

    x1, y1, x2, y2 = (round(float(v)) for v in box)
    return dlib.rectangle(x1, y1, x2, y2)


class ShapePredictor:
    def __init__(self, path: Path) -> None:
        import dlib

        self._predictor = dlib.shape_predictor(str(path))

    def shape(self, rgb: np.ndarray, box: np.ndarray) -> Any:
        """dlib's full_object_detection (what dlib.get_face_chip takes)."""
        return self._predictor(rgb, _rect(box))

    def points(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        s = self.shape(rgb, box)
        return np.array([[p.x, p.y] for p in s.parts()], dtype=np.float32)


def eye_aspect_ratio(pts68: np.ndarray) -> float:
    """Mean eye aspect ratio (Soukupova & Cech 2016) over both eyes; ~0.3 open, <0.2 closed."""

    def ear(e: np.ndarray) -> float:
        v = np.linalg.norm(e[1] - e[5]) + np.linalg.norm(e[2] - e[4])
        h = 2.0 * np.linalg.norm(e[0] - e[3])
        return float(v / h) if h > 0 else 0.0

    return (ear(pts68[36:42]) + ear(pts68[42:48])) / 2.0


def mouth_aspect_ratio(pts68: np.ndarray) -> float:
    """Inner-lip opening over mouth width; ~0 closed, >0.15 open."""
    inner = pts68[60:68]
    v = (np.linalg.norm(inner[1] - inner[7]) + np.linalg.norm(inner[2] - inner[6])
         + np.linalg.norm(inner[3] - inner[5])) / 3.0
    h = np.linalg.norm(pts68[48] - pts68[54])
    return float(v / h) if h > 0 else 0.0


def five_from_68(pts68: np.ndarray) -> np.ndarray:
    """ArcFace-order 5 points from dlib's 68: eye centres, nose tip, mouth corners."""
    return np.array(
        [pts68[36:42].mean(0), pts68[42:48].mean(0), pts68[30], pts68[48], pts68[54]], np.float32
    )
