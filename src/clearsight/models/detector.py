"""YuNet face detection (libfacedetection via the ``yuface`` wheel, weights compiled in).

YuNet's cost grows with the pixel count (the yuface wheel is built without AVX2: ~40 ms for a
640x480 image here), so images are downscaled so the longest side is at most ``max_side``
(640 by default: a face of 2% of the image width, Rekognition's documented minimum of 40 px in
a 1920 px image, is still 13 px there). Photos more than 2.5x larger are also scanned in
overlapping tiles at twice that resolution so small faces in big photos survive; a 320 px copy
is scanned too because faces that fill the frame score low at full size. Detections from all
passes are merged with NMS.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .. import geometry
from . import runtime as _runtime  # noqa: F401  (sets OMP_WAIT_POLICY before yuface loads)


@dataclass(frozen=True)
class Detection:
    """A face in pixel coordinates of the original image."""

    box: np.ndarray  # (4,) float32: x1, y1, x2, y2
    score: float  # 0-1
    landmarks: np.ndarray  # (5, 2) float32: eye (image left), eye (image right), nose, mouth L, R
    angle: int = 0  # clockwise rotation of the image in which the face was found upright

    @property
    def area(self) -> float:
        return float((self.box[2] - self.box[0]) * (self.box[3] - self.box[1]))


DETECT_BUFFER_SIZE = 0x9000  # libfacedetection's result buffer: int count, then 16 int16 per face
_MAX_FACES = (DETECT_BUFFER_SIZE - 4) // 32


@functools.cache
def _facedetect_cnn() -> Any:
    """``facedetect_cnn`` from the libfacedetection library that the yuface wheel ships.

    yuface's own ``detect`` (pybind11) mallocs a 36,864-byte result buffer on every call and
    never frees it (the returned array is a copy), so a long-running server grew by 36 KB per
    YuNet pass without bound. We call the same C function through ctypes with a result buffer
    we own; the numbers are the same, column for column."""
    import yuface  # loads libfacedetection and its bundled libgomp with the wheel's rpath

    lib = ctypes.CDLL(str(Path(yuface.__file__).parent / "libfacedetection.so.v0.0.3"))
    fn = lib._Z14facedetect_cnnPhS_iii  # int* facedetect_cnn(uchar* result, uchar* bgr, int w, int h, int step)
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    return fn


def _raw_detect(bgr: np.ndarray) -> np.ndarray:
    """YuNet on a BGR uint8 image -> (N, 16) float32 rows: score (0-100), x, y, w, h, 5 (x, y)
    landmarks; column 15 is padding. Not thread-safe: callers hold the detector's lock."""
    img = np.ascontiguousarray(bgr, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"YuNet needs an (H, W, 3) BGR image, got shape {img.shape}")
    result = np.zeros(DETECT_BUFFER_SIZE, np.uint8)
    h, w = img.shape[:2]
    if _facedetect_cnn()(result.ctypes.data, img.ctypes.data, w, h, int(img.strides[0])) is None:
        return np.zeros((0, 16), np.float32)
    count = min(int(result[:4].view(np.int32)[0]), _MAX_FACES)
    rows = result[4 : 4 + 32 * count].view(np.int16).reshape(count, 16)
    return rows.astype(np.float32)


def _to_detections(raw: np.ndarray, scale: float, dx: float, dy: float) -> list[Detection]:
    dets = []
    for row in raw:
        x, y, w, h = row[1:5]
        box = np.array([x, y, x + w, y + h], np.float32) / scale + np.array([dx, dy, dx, dy], np.float32)
        pts = row[5:15].reshape(5, 2) / scale + np.array([dx, dy], np.float32)
        dets.append(Detection(box, float(row[0]) / 100.0, pts.astype(np.float32)))
    return dets


def nms(dets: list[Detection], max_iou: float = 0.4) -> list[Detection]:
    """The detections geometry.nms keeps, best first."""
    return [dets[i] for i in geometry.nms([d.box for d in dets], [d.score for d in dets], max_iou)]


ROTATIONS = {  # clockwise angle -> cv2 rotate code
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


def _unrotate(points: np.ndarray, angle: int, w: int, h: int) -> np.ndarray:
    """Points in an image rotated clockwise by ``angle`` -> points in the original (w x h)."""
    x, y = points[:, 0], points[:, 1]
    if angle == 90:
        return np.stack([y, h - 1 - x], 1)
    if angle == 180:
        return np.stack([w - 1 - x, h - 1 - y], 1)
    return np.stack([w - 1 - y, x], 1)  # 270


def _unrotate_detection(d: Detection, angle: int, w: int, h: int) -> Detection:
    corners = _unrotate(d.box.reshape(2, 2), angle, w, h)
    box = np.concatenate([corners.min(0), corners.max(0)]).astype(np.float32)
    return Detection(box, d.score, _unrotate(d.landmarks, angle, w, h).astype(np.float32), angle)


class YuNetDetector:
    # Below this best score at 0 degrees, the image is also tried at 90, 180 and 270 degrees
    # (sideways or upside-down photos: YuNet finds them poorly and with wrong landmarks).
    UPRIGHT_CONFIDENCE = 0.9
    COARSE_SIDE = 320
    TILE_FROM = 2.5  # tile when the image is this many times larger than max_side

    def __init__(self, *, max_side: int = 640, min_confidence: float = 0.8) -> None:
        self.max_side = max_side
        self.min_confidence = min_confidence
        self._lock = threading.Lock()  # libfacedetection keeps per-call state: one call at a time

    def detect_any_orientation(self, rgb: np.ndarray, *, min_confidence: float | None = None) -> list[Detection]:
        """Detect at 0 degrees; if nothing is found confidently, also at 90/180/270 and keep the
        orientation whose best face scores highest. Coordinates are in the original image."""
        best = self.detect(rgb, min_confidence=0.0)
        top = max((d.score for d in best), default=0.0)
        if top < self.UPRIGHT_CONFIDENCE:
            h, w = rgb.shape[:2]
            for angle, code in ROTATIONS.items():
                found = self.detect(cv2.rotate(rgb, code), min_confidence=0.0)
                score = max((d.score for d in found), default=0.0)
                if score >= self.UPRIGHT_CONFIDENCE and score > top + 0.08:
                    top = score
                    best = [_unrotate_detection(d, angle, w, h) for d in found]
        floor = self.min_confidence if min_confidence is None else min_confidence
        return [d for d in best if d.score >= floor]

    def detect(self, rgb: np.ndarray, *, min_confidence: float | None = None) -> list[Detection]:
        floor = self.min_confidence if min_confidence is None else min_confidence
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        h, w = bgr.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        dets = self._pass(bgr, scale, 0, 0)
        confident = max((d.score for d in dets), default=0.0) >= self.UPRIGHT_CONFIDENCE
        if max(h, w) * scale > 2 * self.COARSE_SIDE and not confident:
            # faces that fill the frame score low at full size: look at a small copy too
            dets = nms(dets + self._pass(bgr, self.COARSE_SIDE / max(h, w), 0, 0))
        if scale < 1 / self.TILE_FROM:
            # big photos: also scan overlapping tiles at twice the resolution for small faces
            dets += self._tiles(bgr, min(1.0, scale * 2.0))
            dets = nms(dets)
        return [d for d in dets if d.score >= floor]

    def _pass(self, bgr: np.ndarray, scale: float, dx: int, dy: int) -> list[Detection]:
        img = bgr if scale == 1.0 else cv2.resize(
            bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
        )
        with self._lock:
            raw = _raw_detect(img)
        return _to_detections(raw, scale, dx, dy)

    def _tiles(self, bgr: np.ndarray, scale: float) -> list[Detection]:
        h, w = bgr.shape[:2]
        tile = int(self.max_side / scale)  # tile size in original pixels
        step = int(tile * 0.8)
        out: list[Detection] = []
        for y in range(0, max(1, h - tile + step), step):
            for x in range(0, max(1, w - tile + step), step):
                crop = bgr[y : y + tile, x : x + tile]
                found = self._pass(crop, scale, x, y)
                # drop faces cut by an inner tile edge; the neighbouring tile sees them whole
                out += [d for d in found if _inside(d.box, x, y, crop.shape[1], crop.shape[0], w, h)]
        return out


def _inside(box: np.ndarray, x: int, y: int, cw: int, ch: int, w: int, h: int) -> bool:
    margin = 2
    if x > 0 and box[0] <= x + margin:
        return False
    if y > 0 and box[1] <= y + margin:
        return False
    if x + cw < w and box[2] >= x + cw - margin:
        return False
    return not (y + ch < h and box[3] >= y + ch - margin)
