"""All drawing for humans (``--draw``): faces, labels, text."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import InvalidParameterException


def output_path(base: Path, index: int, count: int) -> Path:
    """OUT.png for one image; OUT_1.png, OUT_2.png... for several."""
    return base if count == 1 else base.with_name(f"{base.stem}_{index + 1}{base.suffix or '.png'}")


def draw_faces(rgb: np.ndarray, faces: list[dict[str, Any]], out: Path) -> None:
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    _faces_on(img, faces)
    _write(img, out)


def _faces_on(img: np.ndarray, faces: list[dict[str, Any]]) -> None:
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


def draw_video_faces(frames: Iterable[tuple[int, np.ndarray]], faces: list[dict[str, Any]], out: Path,
                     fps: float) -> None:
    """The sampled frames with their faces (GetFaceDetection's Faces), as an H.264 video at ``fps``."""
    import av

    at: dict[int, list[dict[str, Any]]] = {}
    for f in faces:
        at.setdefault(f["Timestamp"], []).append(f["Face"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), "w") as container:
        stream = None
        for timestamp, rgb in frames:
            if stream is None:
                stream = container.add_stream("libx264", rate=max(1, round(fps)))
                stream.width, stream.height = rgb.shape[1] // 2 * 2, rgb.shape[0] // 2 * 2
                stream.pix_fmt = "yuv420p"
            img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            _faces_on(img, at.get(timestamp, []))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[: stream.height, : stream.width], np.uint8),
                                               format="bgr24")
            container.mux(stream.encode(frame))
        if stream is not None:
            container.mux(stream.encode(None))


def draw_labels(rgb: np.ndarray, labels: list[dict[str, Any]], out: Path) -> None:
    """Instance boxes with their label and confidence; the other labels listed in the corner."""
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    h, w = img.shape[:2]
    thick = max(1, round(max(h, w) / 500))
    for i, label in enumerate(labels):
        color = _color(i)
        for inst in label["Instances"]:
            b = inst["BoundingBox"]
            p1 = (int(b["Left"] * w), int(b["Top"] * h))
            p2 = (int((b["Left"] + b["Width"]) * w), int((b["Top"] + b["Height"]) * h))
            cv2.rectangle(img, p1, p2, color, thick)
            _caption(img, f"{label['Name']} {inst['Confidence']:.0f}", (p1[0], max(12, p1[1] - 4)), color, thick)
    boxless = [f"{lb['Name']} {lb['Confidence']:.0f}" for lb in labels if not lb["Instances"]]
    for row, text in enumerate(boxless[:12]):
        _caption(img, text, (4, 16 * thick * (row + 1)), (255, 255, 255), thick)
    _write(img, out)


def draw_text(rgb: np.ndarray, detections: list[dict[str, Any]], out: Path) -> None:
    """Word polygons in green, line polygons in blue, each line's text above it."""
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    h, w = img.shape[:2]
    thick = max(1, round(max(h, w) / 800))
    for d in detections:
        pts = np.array([[p["X"] * w, p["Y"] * h] for p in d["Geometry"]["Polygon"]], np.int32)
        color = (255, 120, 0) if d["Type"] == "LINE" else (0, 200, 0)
        cv2.polylines(img, [pts], True, color, thick)
        along = pts[1] - pts[0]
        if d["Type"] == "LINE" and abs(int(along[1])) <= abs(int(along[0])):  # captions on level lines only
            text = d["DetectedText"].encode("ascii", "replace").decode()
            _caption(img, text, (int(pts[0][0]), max(12, int(pts[0][1]) - 3)), color, thick)
    _write(img, out)


def _write(img: np.ndarray, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), img):
        raise InvalidParameterException(f"cannot write {out} (use a .png or .jpg name)")


def _caption(img: np.ndarray, text: str, origin: tuple[int, int], color: tuple[int, int, int], thick: int) -> None:
    cv2.putText(img, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45 * thick, (0, 0, 0), thick + 2)
    cv2.putText(img, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45 * thick, color, thick)


def _color(i: int) -> tuple[int, int, int]:
    palette = ((0, 200, 0), (0, 140, 255), (255, 80, 80), (200, 0, 200), (0, 220, 220), (255, 200, 0))
    return palette[i % len(palette)]
