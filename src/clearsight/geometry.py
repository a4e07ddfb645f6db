"""Pure helpers: Rekognition ratio coordinates, pose from 5 landmarks, image quality.

Pose conventions (degrees, camera as reference, estimated from 5 landmarks with an average
face's proportions: expect errors of 10-15 degrees, more for extreme poses):
- Roll > 0 when the head tilts clockwise in the image (right eye in the image lower).
- Yaw > 0 when the face turns towards the image's right (the subject turns to their left).
- Pitch > 0 when the face looks up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

LANDMARK_TYPES = ("eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight")

# Nose tip height between the eye line (0) and the mouth line (1) on a frontal face: the median
# over YuNet's landmarks on LFW (mostly frontal portraits).
_FRONTAL_NOSE_T = 0.5625
# Ratios of face geometry to nose protrusion (average adult face): half the eye distance is
# about the nose depth; the eye-to-mouth distance about twice it.
_EYE_TO_DEPTH = 1.0
_HEIGHT_TO_DEPTH = 2.0


def clamp01(v: float) -> float:
    return min(1.0, max(0.0, v))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    ix = max(0.0, min(float(a[2]), float(b[2])) - max(float(a[0]), float(b[0])))
    iy = max(0.0, min(float(a[3]), float(b[3])) - max(float(a[1]), float(b[1])))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def nms(boxes: Sequence[np.ndarray], scores: Sequence[float], max_iou: float) -> list[int]:
    """Greedy non-maximum suppression: the indices kept, best score first (ties keep input order);
    a box is dropped when its IoU with a kept box reaches ``max_iou``."""
    kept: list[int] = []
    for i in sorted(range(len(boxes)), key=lambda k: -scores[k]):
        if all(iou(boxes[i], boxes[j]) < max_iou for j in kept):
            kept.append(i)
    return kept


def clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """An x1, y1, x2, y2 box cut to the image."""
    return np.array([max(float(box[0]), 0.0), max(float(box[1]), 0.0), min(float(box[2]), width),
                     min(float(box[3]), height)], np.float32)


def outside_share(box: np.ndarray, width: int, height: int) -> float:
    """The share of an x1, y1, x2, y2 box's area that lies outside the image (0 for a box inside it)."""
    area = float((box[2] - box[0]) * (box[3] - box[1]))
    if area <= 0:
        return 0.0
    c = clip_box(box, width, height)
    inside = max(0.0, float(c[2] - c[0])) * max(0.0, float(c[3] - c[1]))
    return 1.0 - inside / area


def bounding_box(box: np.ndarray, width: int, height: int) -> dict[str, float]:
    """Pixel x1,y1,x2,y2 -> Rekognition BoundingBox ratios, clamped to the image."""
    x1, y1 = clamp01(float(box[0]) / width), clamp01(float(box[1]) / height)
    x2, y2 = clamp01(float(box[2]) / width), clamp01(float(box[3]) / height)
    return {"Width": x2 - x1, "Height": y2 - y1, "Left": x1, "Top": y1}


def landmarks(points: np.ndarray, width: int, height: int,
              types: Sequence[str] = LANDMARK_TYPES) -> list[dict[str, float | str]]:
    """Pixel points -> Rekognition Landmarks (ratios, clamped), one per type in ``types``."""
    return [
        {"Type": t, "X": clamp01(float(p[0]) / width), "Y": clamp01(float(p[1]) / height)}
        for t, p in zip(types, points, strict=False)
    ]


def pose(points: np.ndarray) -> dict[str, float]:
    eye_l, eye_r, nose, mouth_l, mouth_r = (np.asarray(p, np.float64) for p in points)
    d = eye_r - eye_l
    roll = math.degrees(math.atan2(d[1], d[0]))
    # undo roll around the eye midpoint, then read yaw and pitch off the nose position
    c, s = math.cos(-math.radians(roll)), math.sin(-math.radians(roll))
    rot = np.array([[c, -s], [s, c]])
    centre = (eye_l + eye_r) / 2
    el, er, n, ml, mr = ((rot @ (p - centre)) for p in (eye_l, eye_r, nose, mouth_l, mouth_r))
    half_iod = max(1e-6, (er[0] - el[0]) / 2)
    mouth = (ml + mr) / 2
    axis_x = (mouth[0] + 0.0) / 2  # midline between eye centre (0) and mouth centre
    # the nose moves by depth*sin(angle) while the eye (or eye-mouth) span shrinks by cos(angle)
    yaw = math.degrees(math.atan((n[0] - axis_x) / half_iod * _EYE_TO_DEPTH))
    face_h = max(1e-6, mouth[1])
    t = n[1] / face_h
    pitch = math.degrees(math.atan((_FRONTAL_NOSE_T - t) * _HEIGHT_TO_DEPTH))
    return {"Roll": round(roll, 3), "Yaw": round(yaw, 3), "Pitch": round(pitch, 3)}


def quality(rgb: np.ndarray, box: np.ndarray) -> dict[str, float]:
    """Brightness: mean luminance of the face, 0-100. Sharpness: variance of the Laplacian of
    the face resized to 112 px, mapped to 0-100 by 100*(1-exp(-var/200))."""
    h, w = rgb.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(w, math.ceil(box[2])), min(h, math.ceil(box[3]))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return {"Brightness": 0.0, "Sharpness": 0.0}
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[y1:y2, x1:x2]), cv2.COLOR_RGB2GRAY)
    brightness = float(grey.mean()) / 255.0 * 100.0
    small = cv2.resize(grey, (112, 112), interpolation=cv2.INTER_AREA)
    var = float(cv2.Laplacian(small, cv2.CV_64F).var())
    sharpness = 100.0 * (1.0 - math.exp(-var / 200.0))
    return {"Brightness": round(brightness, 3), "Sharpness": round(sharpness, 3)}
