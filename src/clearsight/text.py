"""DetectText: PP-OCR (RapidOCR's ONNX det/cls/rec models, shipped inside the ``rapidocr`` wheel)
turned into Rekognition's DetectText response.

PP-OCR finds and reads text *lines*. Words come from RapidOCR's word boxes, which it computes
from the positions of the recognised characters along the line (CTC columns); when it gives none
(or they do not spell the line), the line is split at spaces and each word gets a share of the
line's quadrilateral proportional to its number of characters. That is an approximation: with
proportional fonts a word box can be off by a character or two.

Orientation: each line is checked by the cls model (0 or 180 degrees). Whole pages turned by 90,
180 or 270 degrees are handled by reading the page again turned: when most of the text found is
in vertical lines (try 90 and 270) or the confidence is poor (try 180), the reading with the
most confident characters wins. Geometry is always given in the frame of the image as sent.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from . import params
from .errors import InvalidParameterException
from .geometry import bounding_box
from .models.loader import ModelLoader
from .models.ppocr import MAX_SIDE, PARTS, PPOcr

TEXT_MODEL_VERSION = "clearsight-text-ppocrv6-1"
MAX_WORDS = 100  # like Rekognition: DetectText returns at most 100 words per image
DET_SHORT_SIDE = 736  # PP-OCR det: the short side is scaled up to this...
DET_MAX_UPSCALE = 2.0  # ...but by at most this factor
MAX_REGIONS = 10  # Rekognition's limit on RegionsOfInterest
POOR_LINE = 0.9  # a line read with less confidence than this is "poor"
RETRY_POOR_SHARE = 0.2  # when more of the characters than this are in poor lines, also read the page turned 180
MODEL_CARDS = PARTS  # RapidOCR's slot -> card (models/registry.py)


@dataclass
class Word:
    text: str
    confidence: float  # 0-1
    quad: np.ndarray  # (4, 2) pixels: top-left, top-right, bottom-right, bottom-left of the text


@dataclass
class Line:
    text: str
    confidence: float
    quad: np.ndarray
    words: list[Word] = field(default_factory=list)


class TextReader:
    """Reads text lines and words from an RGB image. Thread-safe (one call at a time)."""

    def __init__(self, ocr: PPOcr) -> None:
        self._ocr: Any = ocr.engine
        self._lock = threading.Lock()

    @classmethod
    def from_loader(cls, models: ModelLoader) -> TextReader:
        return cls(models.get(MODEL_CARDS["rec"], PPOcr))  # rec depends on det and cls: one engine runs all three

    def read(self, rgb: np.ndarray) -> list[Line]:
        """Lines in reading order, with their words; quads in pixels of ``rgb``."""
        scale = min(1.0, MAX_SIDE / max(rgb.shape[:2]))
        small = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        with self._lock:
            lines = self._read_turned(small, 0)
            if _vertical_share(lines) > 0.5:  # a page turned by 90 or 270 degrees: read it upright
                turned = max((self._read_turned(small, turn) for turn in (1, 3)), key=_score)
                lines = turned if turned else lines
            elif _poor_share(lines) > RETRY_POOR_SHARE:  # perhaps upside down: cls only rescues some lines
                turned = self._read_turned(small, 2)
                lines = turned if _score(turned) > _score(lines) else lines
            if not lines and min(small.shape[:2]) < 400:
                lines = self._read_whole(small)  # a tight crop of one word or line
        if scale != 1.0:
            for line in lines:
                line.quad = line.quad / scale
                for word in line.words:
                    word.quad = word.quad / scale
        return lines

    def _read_turned(self, rgb: np.ndarray, turns: int) -> list[Line]:
        """Read the image turned ``turns`` x 90 degrees counter-clockwise; quads mapped back."""
        turned = np.ascontiguousarray(np.rot90(rgb, turns))
        # PP-OCR's detector scales the short side up to 736 px; a small image blown up 10x is
        # slow and reads worse, so the scale is capped (rapidocr 3.10's detector reads these
        # attributes on every call)
        detector = self._ocr._load_det_model()
        detector.limit_side_len = int(min(DET_SHORT_SIDE, DET_MAX_UPSCALE * min(rgb.shape[:2])))
        result: Any = self._ocr(turned[:, :, ::-1], use_det=True, use_cls=True, use_rec=True, return_word_box=True)
        if getattr(result, "boxes", None) is None or result.txts is None:
            return []
        h, w = rgb.shape[:2]
        word_results = result.word_results or [()] * len(result.txts)
        lines = []
        for quad, text, score, found in zip(result.boxes, result.txts, result.scores, word_results):
            text = text.strip()
            if not text:
                continue
            raw = np.asarray(quad, np.float64)
            quad = raw[[1, 2, 3, 0]] if _is_vertical(raw) else raw  # see _is_vertical
            words = _words(text, quad, list(found) if quad is raw else [])
            line = Line(text, float(score), _unturn(quad, turns, w, h),
                        [Word(x.text, x.confidence, _unturn(x.quad, turns, w, h)) for x in words])
            lines.append(line)
        return lines

    def _read_whole(self, rgb: np.ndarray) -> list[Line]:
        result: Any = self._ocr(rgb[:, :, ::-1], use_det=False, use_cls=True, use_rec=True, return_word_box=False)
        if not result.txts or not result.scores or not result.txts[0].strip() or result.scores[0] < 0.5:
            return []
        h, w = rgb.shape[:2]
        quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
        text = result.txts[0].strip()
        return [Line(text, float(result.scores[0]), quad, _split_proportionally(text, float(result.scores[0]), quad))]


def _unturn(quad: np.ndarray, turns: int, w: int, h: int) -> np.ndarray:
    """Map points from the image turned by np.rot90(k=turns) back to the original (w x h)."""
    pts = np.asarray(quad, np.float64).copy()
    for k in range(turns % 4, 0, -1):
        # np.rot90 once: original (x, y) -> (y, W - x) where W is the width before that turn
        width_before = w if (k - 1) % 2 == 0 else h
        x, y = pts[:, 1].copy(), pts[:, 0].copy()
        pts = np.stack([width_before - x, y], axis=1)
    return pts


def _words(text: str, quad: np.ndarray, found: list[Any]) -> list[Word]:
    """Words with confidences and quads: RapidOCR's own when they spell the line, else the line
    split in proportion to character counts."""
    words = [Word(str(t).strip(), float(c), np.asarray(b, np.float64)) for t, c, b in found if str(t).strip()]
    if words and [w.text for w in words] == text.split():
        return words
    mean = float(np.mean([w.confidence for w in words])) if words else 1.0
    return _split_proportionally(text, mean, quad)


def _is_vertical(quad: np.ndarray) -> bool:
    """RapidOCR reads a line box much taller than wide after turning its crop 90 degrees
    counter-clockwise, i.e. as text running top to bottom; its word boxes are then unusable and
    the reading quad starts at the box's top-right corner."""
    return bool(np.linalg.norm(quad[3] - quad[0]) >= 1.5 * np.linalg.norm(quad[1] - quad[0]))


def _split_proportionally(text: str, confidence: float, quad: np.ndarray) -> list[Word]:
    """Split a line's quad among its space-separated words by character count."""
    tokens = text.split()
    total = max(1, len(text))
    top, bottom = quad[1] - quad[0], quad[2] - quad[3]
    words, start = [], 0
    for token in tokens:
        start = text.index(token, start)
        a, b = start / total, (start + len(token)) / total
        words.append(Word(token, confidence, np.array(
            [quad[0] + a * top, quad[0] + b * top, quad[3] + b * bottom, quad[3] + a * bottom])))
        start += len(token)
    return words


def _chars(lines: Sequence[Line]) -> int:
    return sum(len(line.text) for line in lines)


def _score(lines: Sequence[Line]) -> float:
    return sum(line.confidence * len(line.text) for line in lines)


def _poor_share(lines: Sequence[Line]) -> float:
    return sum(len(line.text) for line in lines if line.confidence < POOR_LINE) / max(1, _chars(lines))


def _vertical_share(lines: Sequence[Line]) -> float:
    """Share of the characters found in lines running up or down (a page turned 90 or 270)."""
    vertical = 0
    for line in lines:
        along = line.quad[1] - line.quad[0]  # the reading direction
        if abs(along[1]) > 1.5 * abs(along[0]) and len(line.text) > 1:
            vertical += len(line.text)
    return vertical / max(1, _chars(lines))


# --- the Rekognition response ---------------------------------------------------------------------
@dataclass(frozen=True)
class TextFilters:
    min_confidence: float = 0.0  # 0-100
    min_height: float = 0.0  # ratio of the image height
    min_width: float = 0.0
    regions: tuple[np.ndarray, ...] = ()  # polygons in ratios

    @classmethod
    def parse(cls, filters: dict[str, Any] | None) -> TextFilters:
        """Rekognition's DetectTextFilters: WordFilter and RegionsOfInterest."""
        if filters is None:
            return cls()
        if not isinstance(filters, dict):
            raise InvalidParameterException("Filters must be an object with WordFilter and/or RegionsOfInterest")
        unknown = set(filters) - {"WordFilter", "RegionsOfInterest"}
        if unknown:
            raise InvalidParameterException(f"unknown Filters member(s): {', '.join(sorted(unknown))}")
        word = filters.get("WordFilter") or {}
        bad = set(word) - {"MinConfidence", "MinBoundingBoxHeight", "MinBoundingBoxWidth"}
        if bad:
            raise InvalidParameterException(f"unknown WordFilter member(s): {', '.join(sorted(bad))}")
        regions = filters.get("RegionsOfInterest") or []
        if not isinstance(regions, list) or len(regions) > MAX_REGIONS:
            raise InvalidParameterException(f"RegionsOfInterest must be a list of at most {MAX_REGIONS} regions")
        return cls(_number(word, "MinConfidence", 100.0), _number(word, "MinBoundingBoxHeight", 1.0),
                   _number(word, "MinBoundingBoxWidth", 1.0), tuple(_region(r) for r in regions))

    def keeps(self, word: dict[str, Any]) -> bool:
        box = word["Geometry"]["BoundingBox"]
        if word["Confidence"] < self.min_confidence or box["Height"] < self.min_height or box["Width"] < self.min_width:
            return False
        if not self.regions:
            return True
        quad = np.array([[p["X"], p["Y"]] for p in word["Geometry"]["Polygon"]], np.float64)
        return any(_inside_share(quad, region) > 0.5 for region in self.regions)


def _number(values: dict[str, Any], name: str, top: float) -> float:
    return params.number(name, values.get(name, 0.0), 0.0, top)


def _region(region: Any) -> np.ndarray:
    if not isinstance(region, dict) or not ({"BoundingBox", "Polygon"} & set(region)):
        raise InvalidParameterException("each RegionsOfInterest item needs a BoundingBox or a Polygon")
    try:
        if "Polygon" in region:
            pts = np.array([[float(p["X"]), float(p["Y"])] for p in region["Polygon"]], np.float64)
            if len(pts) < 3:
                raise InvalidParameterException("a region Polygon needs at least 3 points")
            return pts
        b = region["BoundingBox"]
        left, top, width, height = (float(b[k]) for k in ("Left", "Top", "Width", "Height"))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidParameterException("a region BoundingBox needs numeric Left, Top, Width and Height; "
                                        "a Polygon needs points with X and Y") from exc
    return np.array([[left, top], [left + width, top], [left + width, top + height], [left, top + height]])


def _inside_share(quad: np.ndarray, region: np.ndarray, cells: int = 128) -> float:
    """Share of the word's area inside the region (both in ratios): exact for convex regions
    (every BoundingBox), by rasterising both shapes over the word's box otherwise."""
    word = quad.astype(np.float32)
    area = abs(float(cv2.contourArea(word)))
    if area <= 0:
        return 0.0
    shape = region.astype(np.float32)
    if cv2.isContourConvex(shape):
        if cv2.contourArea(shape, oriented=True) < 0:
            shape = shape[::-1].copy()
        inter, _ = cv2.intersectConvexConvex(np.ascontiguousarray(word), np.ascontiguousarray(shape))
        return float(inter) / area
    lo, size = quad.min(axis=0), np.maximum(np.ptp(quad, axis=0), 1e-9)

    def to_px(pts: np.ndarray) -> np.ndarray:
        px: np.ndarray = np.round((pts - lo) / size * (cells - 1)).astype(np.int32)
        return px

    word_mask = np.zeros((cells, cells), np.uint8)
    region_mask = np.zeros_like(word_mask)
    cv2.fillPoly(word_mask, [to_px(quad)], 1)
    cv2.fillPoly(region_mask, [to_px(region)], 1)
    return float((word_mask & region_mask).sum()) / max(1, int(word_mask.sum()))


def _geometry(quad: np.ndarray, width: int, height: int) -> dict[str, Any]:
    xs, ys = np.clip(quad[:, 0], 0, width), np.clip(quad[:, 1], 0, height)
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()])
    return {"BoundingBox": bounding_box(box, width, height),
            "Polygon": [{"X": round(float(x) / width, 6), "Y": round(float(y) / height, 6)} for x, y in zip(xs, ys)]}


def response(lines: Sequence[Line], width: int, height: int, filters: TextFilters) -> dict[str, Any]:
    """Rekognition's DetectText response: LINE detections first, then WORD detections with ParentId."""
    kept: list[tuple[Line, list[dict[str, Any]]]] = []
    budget = MAX_WORDS
    for line in lines:
        words: list[dict[str, Any]] = []
        for word in line.words:
            detection: dict[str, Any] = {"DetectedText": word.text, "Type": "WORD",
                                         "Confidence": round(100 * word.confidence, 3),
                                         "Geometry": _geometry(word.quad, width, height)}
            if budget > 0 and filters.keeps(detection):
                words.append(detection)
                budget -= 1
        if words:
            kept.append((line, words))
    detections: list[dict[str, Any]] = []
    for line_id, (line, words) in enumerate(kept):
        if len(words) == len(line.words):
            text, geometry = line.text, _geometry(line.quad, width, height)
        else:  # some words were filtered out: the line is what is left of it
            text = " ".join(w["DetectedText"] for w in words)
            geometry = _geometry(_union(words, width, height), width, height)
        detections.append({"DetectedText": text, "Type": "LINE", "Id": line_id,
                           "Confidence": round(100 * line.confidence, 3), "Geometry": geometry})
    for line_id, (_, words) in enumerate(kept):
        for kept_word in words:
            detections.append({**kept_word, "Id": len(detections), "ParentId": line_id})
    return {"TextDetections": detections, "TextModelVersion": TEXT_MODEL_VERSION}


def _union(words: list[dict[str, Any]], width: int, height: int) -> np.ndarray:
    pts = np.array([[p["X"] * width, p["Y"] * height] for w in words for p in w["Geometry"]["Polygon"]])
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
