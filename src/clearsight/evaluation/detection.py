"""Detection recall on hand-labelled sets: dlib's imglab boxes (IoU >= 0.4) and CompreFace's
nose points (a face is found when one detected box contains its point, one box per point)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..geometry import iou

Detector = Callable[[Path], list[np.ndarray]]  # image path -> boxes x1,y1,x2,y2 in pixels


@dataclass
class Recall:
    found: int
    total: int
    false_positives: int
    images: int

    @property
    def recall(self) -> float:
        return self.found / self.total if self.total else 0.0




def imglab_boxes(*xml_files: Path) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    for xml in xml_files:
        for image in ET.parse(xml).getroot().iter("image"):
            boxes = out.setdefault(image.attrib["file"], [])
            for b in image.iter("box"):
                if b.attrib.get("ignore") == "1":
                    continue
                x, y = float(b.attrib["left"]), float(b.attrib["top"])
                boxes.append(np.array([x, y, x + float(b.attrib["width"]), y + float(b.attrib["height"])]))
    return out


def box_recall(folder: Path, truth: dict[str, list[np.ndarray]], detect: Detector,
               min_iou: float = 0.4) -> Recall:
    found = total = fps = 0
    for name, boxes in truth.items():
        dets = detect(folder / name)
        used: set[int] = set()
        for t in boxes:
            total += 1
            best = max(((iou(t, d), i) for i, d in enumerate(dets) if i not in used), default=(0.0, -1))
            if best[0] >= min_iou:
                found += 1
                used.add(best[1])
        fps += len(dets) - len(used)
    return Recall(found, total, fps, len(truth))


def nose_points(labels: Path) -> dict[str, list[tuple[float, float]]]:
    data = json.loads(labels.read_text())["nose_points_xy_pixels"]
    return {name: [(float(x), float(y)) for x, y in pts] for name, pts in data.items()}


def point_recall(folder: Path, truth: dict[str, list[tuple[float, float]]], detect: Detector) -> Recall:
    found = total = fps = 0
    for name, points in truth.items():
        dets = detect(folder / name)
        used: set[int] = set()
        for x, y in points:
            total += 1
            for i, d in enumerate(dets):
                if i not in used and d[0] <= x <= d[2] and d[1] <= y <= d[3]:
                    found += 1
                    used.add(i)
                    break
        fps += len(dets) - len(used)
    return Recall(found, total, fps, len(truth))
