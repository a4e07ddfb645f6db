"""Detection recall on hand-labelled sets: dlib's imglab boxes (IoU >= 0.4), CompreFace's
nose points (a face is found when one detected box contains its point, one box per point) and
tests/data/face_boxes.json (boxes verified by eye, each with a yaw bin and whether it is
"findable": both eyes, or one eye and the nose, visible), scored per yaw bin and face size."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..geometry import clip_box, iou

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


# --- tests/data/face_boxes.json: recall by pose and size ----------------------------------------
YAW_BINS = ("frontal", "three-quarter", "profile")  # |yaw| < 30, 30-60, > 60 degrees, judged by eye
SIZE_EDGES = (24, 48, 96)  # shorter side of the box, pixels: <24, 24-48, 48-96, >=96
SIZE_BINS = ("<24", "24-48", "48-96", ">=96")
GOAL_MIN_SIZE = 24  # the goal: every findable face from 24 px on


@dataclass(frozen=True)
class LabelledFace:
    box: np.ndarray  # x1, y1, x2, y2 pixels of the EXIF-oriented image
    yaw: str  # one of YAW_BINS
    findable: bool  # both eyes visible, or one eye and the nose
    note: str = ""

    @property
    def size(self) -> float:
        return float(min(self.box[2] - self.box[0], self.box[3] - self.box[1]))

    @property
    def size_bin(self) -> str:
        return size_bin(self.size)

    @property
    def in_goal(self) -> bool:
        return self.findable and self.size >= GOAL_MIN_SIZE


@dataclass(frozen=True)
class LabelledImage:
    path: str  # relative to the shared data folder
    width: int
    height: int
    faces: tuple[LabelledFace, ...]
    ignore: tuple[np.ndarray, ...]  # detections centred here are neither hits nor false positives
    notes: str


def size_bin(size: float) -> str:
    for edge, name in zip(SIZE_EDGES, SIZE_BINS, strict=False):
        if size < edge:
            return name
    return SIZE_BINS[-1]


def face_boxes(path: Path) -> list[LabelledImage]:
    """Read tests/data/face_boxes.json (format: its README field)."""
    data = json.loads(path.read_text())
    out = []
    for im in data["images"]:
        faces = tuple(LabelledFace(np.array(f["box"], float), str(f["yaw"]), bool(f["findable"]),
                                   str(f.get("note", ""))) for f in im["faces"])
        out.append(LabelledImage(str(im["path"]), int(im["width"]), int(im["height"]), faces,
                                 tuple(np.array(b, float) for b in im.get("ignore", [])), str(im.get("notes", ""))))
    return out


@dataclass
class FaceOutcome:
    image: str
    face: LabelledFace
    found: bool
    best_iou: float


@dataclass
class PoseSizeRecall:
    """Per-face outcomes; recall over any subset, per yaw bin and per size bin."""

    outcomes: list[FaceOutcome]
    false_positives: int
    images: int

    def recall(self, *, yaw: str | None = None, size: str | None = None, findable: bool = True,
               min_size: float = 0.0) -> Recall:
        """Recall over the faces of one yaw bin and/or size bin (findable ones only by default)."""
        sel = [o for o in self.outcomes
               if (yaw is None or o.face.yaw == yaw) and (size is None or o.face.size_bin == size)
               and (not findable or o.face.findable) and o.face.size >= min_size]
        return Recall(sum(o.found for o in sel), len(sel), self.false_positives, self.images)

    def goal(self, *, yaw: str | None = None) -> Recall:
        """The goal: findable faces of at least GOAL_MIN_SIZE px (of one yaw bin, or all)."""
        return self.recall(yaw=yaw, min_size=GOAL_MIN_SIZE)

    def missed(self, *, goal: bool = True) -> list[FaceOutcome]:
        return [o for o in self.outcomes if not o.found and (not goal or o.face.in_goal)]


def pose_size_recall(folder: Path, truth: list[LabelledImage], detect: Detector,
                     min_iou: float = 0.4) -> PoseSizeRecall:
    """Match detections to labelled faces greedily by IoU (>= min_iou, one detection per face,
    best pairs first). Every labelled face (findable or not) can take a detection, so a detector
    is not charged a false positive for finding a face the goal does not require; a detection
    matching no face counts as a false positive unless its centre lies in an ignore region.
    Detections are compared as BoundingBox reports them: clamped to the image (a face cut by the
    frame edge can have a box reaching outside it; the labelled boxes stop at the edge)."""
    outcomes: list[FaceOutcome] = []
    fps = 0
    for im in truth:
        dets = [clip_box(d, im.width, im.height) for d in detect(folder / im.path)]
        pairs = sorted(((iou(f.box, d), i, j) for i, f in enumerate(im.faces) for j, d in enumerate(dets)),
                       reverse=True)
        face_hit: dict[int, float] = {}
        used: set[int] = set()
        for v, i, j in pairs:
            if v < min_iou:
                break
            if i not in face_hit and j not in used:
                face_hit[i] = v
                used.add(j)
        for i, f in enumerate(im.faces):
            best = max((iou(f.box, d) for d in dets), default=0.0)
            outcomes.append(FaceOutcome(im.path, f, i in face_hit, face_hit.get(i, best)))
        for j, d in enumerate(dets):
            if j in used:
                continue
            cx, cy = (d[0] + d[2]) / 2, (d[1] + d[3]) / 2
            if not any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in im.ignore):
                fps += 1
    return PoseSizeRecall(outcomes, fps, len(truth))
