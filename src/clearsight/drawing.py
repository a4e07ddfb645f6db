"""Drawing detections for humans (``--draw``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np


def output_path(base: Path, index: int, count: int) -> Path:
    """OUT.png for one image; OUT_1.png, OUT_2.png... for several."""
    return base if count == 1 else base.with_name(f"{base.stem}_{index + 1}{base.suffix or '.png'}")


def draw_faces(rgb: np.ndarray, faces: list[dict[str, Any]], out: Path) -> None:
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    h, w = img.shape[:2]
    thick = max(1, round(max(h, w) / 400))
    for i, face in enumerate(faces, 1):
        b = face["BoundingBox"]
        p1 = (int(b["Left"] * w), int(b["Top"] * h))
        p2 = (int((b["Left"] + b["Width"]) * w), int((b["Top"] + b["Height"]) * h))
        cv2.rectangle(img, p1, p2, (0, 200, 0), thick)
        for lm in face["Landmarks"]:
            cv2.circle(img, (int(lm["X"] * w), int(lm["Y"] * h)), thick + 1, (0, 0, 255), -1)
        label = f"{i}: {face['Confidence']:.0f}"
        cv2.putText(img, label, (p1[0], max(12, p1[1] - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * thick, (0, 200, 0), thick)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), img):
        from .errors import InvalidParameterException

        raise InvalidParameterException(f"cannot write {out} (use a .png or .jpg name)")
