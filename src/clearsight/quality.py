"""QualityFilter for IndexFaces and the searches: which faces are too poor to index or search.

Levels follow Rekognition (NONE, AUTO, LOW, MEDIUM, HIGH). Each face gets every reason it fails,
in Rekognition's reason names. AUTO is MEDIUM except for yaw, which is decided by measurement:
EXTREME_POSE from the first |yaw| bin where the pose-stratified LFW evaluation (docs/accuracy.md,
"QualityFilter AUTO") found genuine pairs missed more than twice as often as the accuracy table
promises, beyond sampling doubt; where no measured bin falls short, from 60 degrees, where LFW's
measurements thin out (MEDIUM's limit). A test derives it again from the published table
(``clearsight.evaluation.pose.auto_yaw_limit``).

A face cut by the frame edge (an eye or the nose within ``CUT_MARGIN`` eye distances of the edge,
or beyond it) is LOW_FACE_QUALITY from AUTO up: measured on the 1,100 genuine pairsDevTrain pairs
with one image cut between its left eye and the nose (bench/cut_faces.py; docs/accuracy.md, "Faces
cut by the frame edge"), 89.7% reached Similarity 80 where the same pairs uncut reached 98.3%, about
six times the promised miss rate.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidParameterException

LEVELS = ("NONE", "AUTO", "LOW", "MEDIUM", "HIGH")

AUTO_MAX_YAW = 45.0  # measured: see the module docstring (60 before the fmr-anchored calibration)
UNMEASURED_YAW = 60.0  # the limit when no measured bin falls short
CUT_MARGIN = 0.2  # eye distances from the frame edge within which an eye or the nose means a cut face

# level: (max |yaw|, max |pitch|, min brightness, min sharpness, min confidence, min box side px)
_RULES: dict[str, tuple[float, float, float, float, float, float]] = {
    "LOW": (75.0, 75.0, 8.0, 5.0, 65.0, 16.0),
    "AUTO": (AUTO_MAX_YAW, 60.0, 15.0, 10.0, 75.0, 24.0),
    "MEDIUM": (60.0, 60.0, 15.0, 10.0, 75.0, 24.0),
    "HIGH": (40.0, 40.0, 25.0, 25.0, 85.0, 40.0),
}


def level(value: Any, default: str) -> str:
    if value is None:
        return default
    if value not in LEVELS:
        raise InvalidParameterException(f"QualityFilter must be one of {', '.join(LEVELS)}, got {value!r}")
    return str(value)


def reasons(detail: dict[str, Any], width: int, height: int, quality_filter: str) -> list[str]:
    if quality_filter == "NONE":
        return []
    max_yaw, max_pitch, brightness, sharpness, confidence, side = _RULES[quality_filter]
    out = []
    pose, q, box = detail["Pose"], detail["Quality"], detail["BoundingBox"]
    if abs(pose["Yaw"]) >= max_yaw:  # a bin's lower edge is inclusive
        out.append("EXTREME_POSE")
    elif abs(pose["Pitch"]) > max_pitch:
        out.append("EXTREME_POSE")
    if q["Brightness"] < brightness:
        out.append("LOW_BRIGHTNESS")
    if q["Sharpness"] < sharpness:
        out.append("LOW_SHARPNESS")
    if detail["Confidence"] < confidence:
        out.append("LOW_CONFIDENCE")
    if min(box["Width"] * width, box["Height"] * height) < side:
        out.append("SMALL_BOUNDING_BOX")
    if len(out) >= 2 or (quality_filter != "LOW" and cut_by_frame(detail.get("Landmarks", []), width, height)):
        out.append("LOW_FACE_QUALITY")
    return out


def cut_by_frame(landmarks: list[dict[str, Any]], width: int, height: int) -> bool:
    """Whether an eye or the nose lies within CUT_MARGIN eye distances of the frame edge (Landmarks
    are clamped to the image, so a point outside it reads as on the edge)."""
    points = {m["Type"]: (float(m["X"]) * width, float(m["Y"]) * height) for m in landmarks}
    if not {"eyeLeft", "eyeRight", "nose"} <= points.keys():
        return False
    (lx, ly), (rx, ry) = points["eyeLeft"], points["eyeRight"]
    margin = CUT_MARGIN * max(1.0, ((rx - lx) ** 2 + (ry - ly) ** 2) ** 0.5)
    return any(min(x, width - 1 - x, y, height - 1 - y) < margin
               for x, y in (points[k] for k in ("eyeLeft", "eyeRight", "nose")))
