"""Synthetic labelled video: LFW faces walking across a real background, with frame-exact truth.

``make_video`` composes a clip reproducibly (one numpy RNG from ``seed``): people enter from an
edge, cross (pairs walk towards each other at about the same height, so one face passes in front
of the other), some stop for a while, and all leave before the end. Each appearance pastes the
head region of one LFW image (an elliptical, feathered cut-out) scaled so the face is 60-120 px
wide (changing by up to 15% along the walk), with its own brightness (0.8-1.15) and motion blur
over half a frame interval; the identity's ``_0001`` image is kept out of the video for
enrolment. The clip is encoded H.264 (libx264, yuv420p) through PyAV, frame i at
``round(i * 1000 / fps)`` ms.

The truth box of a face is the median box the project's detector (YuNet) draws on LFW's
deep-funnelled images, (78, 67, 170, 188) in the 250x250 image, moved and scaled with the
cut-out: it is where a detector's box should be, not the cut-out's edge. Per frame, each face
records its box clipped to the frame, the fraction of its box outside the frame (truncated) and
the fraction of the in-frame part covered by faces in front of it (occluded); a face is
*visible* when at least 3/4 of its box is both in the frame and uncovered. An appearance's
first_ms/last_ms are its first and last visible frames.

``score`` rates a GetFaceSearch ``Persons`` list against the truth; ``score_faces`` a
GetFaceDetection ``Faces`` list. Identities of ``distractors_only`` clips come from the other
half of LFW (split by a hash of the name), so they can never be among any clip's enrolled people.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..geometry import iou

LFW_FACE_BOX = (78.0, 67.0, 170.0, 188.0)  # the detector's median box on LFW (x1, y1, x2, y2)
HEAD_CROP = (40, 20, 210, 240)  # the cut-out taken from the 250x250 LFW image: face, hair, chin
FACE_WIDTH_PX = (60.0, 120.0)  # face box widths drawn in the video
EXPOSURE = 0.5  # of a frame interval: a face moving 10 px per frame is blurred over 5 px
VISIBLE_FRACTION = 0.75  # a face is visible when this much of its box is in the frame and uncovered
# Names LFW gives to two different people (seen by eye: Jim_OBrien_0001 is another coach than 0002/0003)
LFW_MISLABELLED = frozenset({"Jim_OBrien"})
DEFAULT_BACKGROUND = "coco/images/000000007574.jpg"  # a kitchen, no people (relative to the data folder)


@dataclass
class Appearance:
    appearance_id: int
    identity: str
    image: str  # the LFW image pasted (relative to lfw_root)
    enrol_image: str | None  # another image of the identity (None in distractor-only clips)
    first_ms: int  # first and last visible frame (-1 if the face is never visible)
    last_ms: int
    boxes: list[dict[str, Any]] = field(default_factory=list)  # frame, ms, box, occluded, truncated, visible


@dataclass
class Truth:
    fps: int
    frames: int
    size: tuple[int, int]  # width, height
    seed: int
    distractors_only: bool
    lfw_root: str
    background: str
    appearances: list[Appearance]
    skipped_images: list[str] = field(default_factory=list)  # LFW images whose cut-out holds 0 or 2+ faces

    def ms(self, frame: int) -> int:
        return round(frame * 1000 / self.fps)

    def frame_at(self, ms: float) -> int:
        return round(ms * self.fps / 1000)

    def faces_at(self, frame: int) -> list[tuple[Appearance, dict[str, Any]]]:
        """The faces in ``frame``: (appearance, its box record), visible or not."""
        return self._by_frame.get(frame, [])

    @cached_property
    def _by_frame(self) -> dict[int, list[tuple[Appearance, dict[str, Any]]]]:
        out: dict[int, list[tuple[Appearance, dict[str, Any]]]] = {}
        for a in self.appearances:
            for rec in a.boxes:
                out.setdefault(rec["frame"], []).append((a, rec))
        return out

    def enrolments(self) -> dict[str, Path]:
        """identity -> enrolment image path (empty for a distractor-only clip)."""
        root = Path(self.lfw_root)
        return {a.identity: root / a.enrol_image for a in self.appearances if a.enrol_image}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Truth:
        d = json.loads(text)
        d["size"] = tuple(d["size"])
        d["appearances"] = [Appearance(**a) for a in d["appearances"]]
        return cls(**d)


# --- generation -----------------------------------------------------------------------------
@dataclass
class _Walk:
    identity: str
    image: str
    enrol: str | None
    keys: list[tuple[float, float, float]]  # (t seconds, face-centre x, y); before/after: off screen
    face_w: tuple[float, float]  # face width at the start and at the end
    bob: tuple[float, float]  # vertical bob amplitude (px), phase
    z: float  # larger is nearer (drawn later)
    gain: float  # brightness of this appearance (the light where the person walks)

    def at(self, t: float) -> tuple[float, float, float] | None:
        ts = [k[0] for k in self.keys]
        if t < ts[0] or t > ts[-1]:
            return None
        x = float(np.interp(t, ts, [k[1] for k in self.keys]))
        y = float(np.interp(t, ts, [k[2] for k in self.keys]))
        u = (t - ts[0]) / max(1e-6, ts[-1] - ts[0])
        y += self.bob[0] * math.sin(2 * math.pi * 1.8 * t + self.bob[1])
        return x, y, self.face_w[0] + u * (self.face_w[1] - self.face_w[0])


def _identities(lfw_root: Path, distractors: bool) -> list[tuple[str, list[str]]]:
    """People with >= 3 images, in the enrolled or the distractor half of LFW."""
    out = []
    for entry in sorted(os.scandir(lfw_root), key=lambda e: e.name):
        if not entry.is_dir() or entry.name in LFW_MISLABELLED:
            continue
        half = hashlib.sha256(entry.name.encode()).digest()[0] & 1
        if half != int(distractors):
            continue
        images = sorted(f.name for f in os.scandir(entry.path) if f.name.endswith(".jpg"))
        if len(images) >= 3:
            out.append((entry.name, [f"{entry.name}/{i}" for i in images]))
    if not out:
        raise FileNotFoundError(f"no LFW identity with 3 or more images under {lfw_root}")
    return out


def _schedule(rng: np.random.Generator, pool: list[tuple[str, list[str]]], *, seconds: float,
              size: tuple[int, int], people: int, distractors: bool, usable: Callable[[str], bool]) -> list[_Walk]:
    """Events one after another (overlapping): a crossing pair first, then crossings, single walks
    and walk-in/stop/walk-out visits, until the clip ends; every walk leaves before the end."""
    w, h = size
    chosen = [pool[int(i)] for i in rng.choice(len(pool), size=people, replace=False)]
    left = {name: images[1:] for name, images in chosen}  # video images not used yet (_0001 is enrolled)
    used: dict[str, int] = {}  # identity -> appearances so far
    walks: list[_Walk] = []

    def available(name: str) -> bool:
        while left[name] and not usable(left[name][0]):
            left[name].pop(0)
        return bool(left[name])

    def person(busy: set[str]) -> tuple[str, str, str | None] | None:
        free = [c for c in chosen if c[0] not in busy and available(c[0])]
        if not free:
            return None
        least = min(used.get(c[0], 0) for c in free)  # everyone once before anyone twice, ...
        fresh = [c for c in free if used.get(c[0], 0) == least]
        name, images = fresh[int(rng.integers(len(fresh)))]
        used[name] = used.get(name, 0) + 1
        return name, left[name].pop(0), None if distractors else images[0]

    def walk(who: tuple[str, str, str | None], keys: list[tuple[float, float, float]]) -> _Walk:
        fw = float(rng.uniform(*FACE_WIDTH_PX))
        return _Walk(who[0], who[1], who[2], keys, (fw, fw * float(rng.uniform(0.85, 1.15))),
                     (float(rng.uniform(1.0, 3.0)), float(rng.uniform(0, 2 * math.pi))), float(rng.random()),
                     float(rng.uniform(0.8, 1.15)))

    off = FACE_WIDTH_PX[1] * 1.3  # a face centre this far outside the frame is fully out
    t = 0.2
    first = True
    while seconds - t >= 2.0:
        busy = {wk.identity for wk in walks if wk.keys[-1][0] > t}
        kind = "cross" if first else str(rng.choice(["cross", "walk", "visit"], p=[0.45, 0.3, 0.25]))
        first = False
        dur = min(float(rng.uniform(3.5, 6.5)), seconds - t - 0.2)
        left_to_right = bool(rng.random() < 0.5)
        x0, x1 = (-off, w + off) if left_to_right else (w + off, -off)
        y = float(rng.uniform(0.3, 0.62)) * h
        a = person(busy)
        if a is None:
            t += 0.5
            continue
        if kind == "visit":
            stop = float(rng.uniform(0.25, 0.75)) * w
            t1, t2 = t + dur * 0.3, t + dur * 0.7
            back = x0 if rng.random() < 0.5 else x1
            walks.append(walk(a, [(t, x0, y), (t1, stop, y), (t2, stop + float(rng.uniform(-15, 15)), y),
                                  (t + dur, back, y)]))
        else:
            walks.append(walk(a, [(t, x0, y), (t + dur, x1, y + float(rng.uniform(-0.08, 0.08)) * h)]))
        if kind == "cross":
            b = person(busy | {a[0]})
            if b is not None:
                shift = float(rng.uniform(-0.4, 0.4)) * dur  # they meet off the centre
                tb = max(0.05, t + shift) if shift < 0 else t
                db = min(dur, seconds - tb - 0.2)
                yb = y + float(rng.uniform(-0.12, 0.12)) * FACE_WIDTH_PX[1]
                walks.append(walk(b, [(tb, x1, yb), (tb + db, x0, yb)]))
        t += dur * float(rng.uniform(0.4, 0.75))
    return walks


def _sprite(lfw_root: Path, image: str) -> tuple[np.ndarray, np.ndarray]:
    """The head cut-out of an LFW image (RGB float32) and its feathered elliptical alpha."""
    bgr = cv2.imread(str(lfw_root / image), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read LFW image {lfw_root / image}")
    x1, y1, x2, y2 = HEAD_CROP
    rgb = cv2.cvtColor(bgr[y1:y2, x1:x2], cv2.COLOR_BGR2RGB).astype(np.float32)
    ch, cw = rgb.shape[:2]
    alpha = np.zeros((ch, cw), np.float32)
    cv2.ellipse(alpha, (cw // 2, ch // 2), (int(cw * 0.41), int(ch * 0.46)), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), sigmaX=cw * 0.035)
    return rgb, alpha


def _background(path: Path, size: tuple[int, int]) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read the background image {path}")
    w, h = size
    s = max(w / bgr.shape[1], h / bgr.shape[0])
    big = cv2.resize(bgr, (math.ceil(bgr.shape[1] * s), math.ceil(bgr.shape[0] * s)), interpolation=cv2.INTER_AREA)
    y0, x0 = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return cv2.cvtColor(big[y0:y0 + h, x0:x0 + w], cv2.COLOR_BGR2RGB).astype(np.float32)


def _render(bg: np.ndarray, placed: list[tuple[int, float, float, float, float, int, np.ndarray, np.ndarray]],
            ) -> tuple[np.ndarray, list[tuple[int, list[float], float, float]]]:
    """Paste cut-outs back to front; return the frame and, per face, (walk, box, occluded, truncated)."""
    h, w = bg.shape[:2]
    frame = bg.copy()
    fx1, fy1, fx2, fy2 = LFW_FACE_BOX
    layers = []
    for k, cx, cy, face_w, gain, blur, rgb, alpha in placed:
        s = face_w / (fx2 - fx1)
        sw, sh = max(1, round(rgb.shape[1] * s)), max(1, round(rgb.shape[0] * s))
        sx, sy = sw / rgb.shape[1], sh / rgb.shape[0]
        ox = round(cx - ((fx1 + fx2) / 2 - HEAD_CROP[0]) * sx)
        oy = round(cy - ((fy1 + fy2) / 2 - HEAD_CROP[1]) * sy)
        box = [ox + (fx1 - HEAD_CROP[0]) * sx, oy + (fy1 - HEAD_CROP[1]) * sy,
               ox + (fx2 - HEAD_CROP[0]) * sx, oy + (fy2 - HEAD_CROP[1]) * sy]
        a, b = max(0, ox), max(0, oy)
        c, d = min(w, ox + sw), min(h, oy + sh)
        mask = np.zeros((h, w), bool)
        if c > a and d > b:
            img: np.ndarray = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA) * gain
            al: np.ndarray = cv2.resize(alpha, (sw, sh), interpolation=cv2.INTER_LINEAR)
            if blur >= 2:  # motion blur along the walk
                kernel = np.full((1, blur), 1.0 / blur, np.float32)
                img, al = cv2.filter2D(img, -1, kernel), cv2.filter2D(al, -1, kernel)
            img, al = img[b - oy:d - oy, a - ox:c - ox], al[b - oy:d - oy, a - ox:c - ox, None]
            frame[b:d, a:c] = frame[b:d, a:c] * (1 - al) + img * al
            mask[b:d, a:c] = al[:, :, 0] > 0.5
        layers.append((k, box, mask))
    faces = []
    covered = np.zeros((h, w), bool)
    for k, box, mask in reversed(layers):  # front to back
        area = (box[2] - box[0]) * (box[3] - box[1])
        clip = [max(0.0, box[0]), max(0.0, box[1]), min(float(w), box[2]), min(float(h), box[3])]
        inside = max(0.0, clip[2] - clip[0]) * max(0.0, clip[3] - clip[1])
        if inside > 0:
            x1, y1, x2, y2 = (round(v) for v in clip)
            region = covered[y1:y2, x1:x2]
            occluded = float(region.mean()) if region.size else 1.0
            faces.append((k, [round(v, 1) for v in clip], round(occluded, 3), round(1 - inside / area, 3)))
        covered |= mask
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8), faces[::-1]


def make_video(out_path: Path | str, lfw_root: Path | str, *, seed: int, seconds: float = 30.0,
               size: tuple[int, int] = (640, 360), fps: int = 25, people: int = 6,
               distractors_only: bool = False, background: Path | str | None = None,
               count_faces: Callable[[np.ndarray], int] | None = None) -> Truth:
    """Write the clip to ``out_path`` (H.264 in MP4) and return its ground truth.

    ``background`` defaults to a COCO kitchen photo found next to ``lfw_root``
    (<data>/lfw/images -> <data>/coco/images/000000007574.jpg). An LFW image is used only when
    ``count_faces`` (RGB -> number of faces; default: the project's detector) finds exactly one
    face in its cut-out: LFW photos often hold a second person at the edge, a face with no truth."""
    import av

    out_path, lfw_root = Path(out_path), Path(lfw_root)
    bg_path = Path(background) if background else lfw_root.parents[1] / DEFAULT_BACKGROUND
    if count_faces is None:
        from ..engine import Engine

        analyzer = Engine().faces

        def count_faces(rgb: np.ndarray) -> int:
            return len(analyzer.detect(rgb))
    skipped: list[str] = []

    def usable(image: str) -> bool:
        rgb, alpha = _sprite(lfw_root, image)
        canvas = np.full((300, 300, 3), 128.0, np.float32)
        y, x = (300 - rgb.shape[0]) // 2, (300 - rgb.shape[1]) // 2
        region = canvas[y:y + rgb.shape[0], x:x + rgb.shape[1]]
        region[:] = region * (1 - alpha[:, :, None]) + rgb * alpha[:, :, None]
        ok = count_faces(canvas.astype(np.uint8)) == 1
        if not ok:
            skipped.append(image)
        return ok

    rng = np.random.default_rng(seed)
    walks = _schedule(rng, _identities(lfw_root, distractors_only), seconds=seconds, size=size,
                      people=people, distractors=distractors_only, usable=usable)
    walks.sort(key=lambda wk: wk.keys[0][0])
    sprites = {wk.image: _sprite(lfw_root, wk.image) for wk in walks}
    bg = _background(bg_path, size)
    n = round(seconds * fps)
    apps = [Appearance(i, wk.identity, wk.image, wk.enrol, -1, -1) for i, wk in enumerate(walks)]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out_path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "fast", "threads": "1"})
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(n):
            t = i / fps
            placed = []
            for k, wk in enumerate(walks):
                at, step = wk.at(t), wk.at(t + 1 / fps) or wk.at(t - 1 / fps)
                if at is not None:
                    blur = round(abs(step[0] - at[0]) * EXPOSURE) if step else 0
                    placed.append((k, *at, wk.gain, blur, *sprites[wk.image]))
            placed.sort(key=lambda p: walks[p[0]].z)
            rgb, faces = _render(bg, placed)
            for k, box, occluded, truncated in faces:
                visible = (1 - truncated) * (1 - occluded) >= VISIBLE_FRACTION
                ms = round(i * 1000 / fps)
                apps[k].boxes.append({"frame": i, "ms": ms, "box": box, "occluded": occluded,
                                      "truncated": truncated, "visible": visible})
                if visible:
                    apps[k].first_ms = ms if apps[k].first_ms < 0 else apps[k].first_ms
                    apps[k].last_ms = ms
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    apps = [a for a in apps if a.boxes]
    for i, a in enumerate(apps):
        a.appearance_id = i
    return Truth(fps, n, size, seed, distractors_only, str(lfw_root), str(bg_path), apps, skipped)


# --- scoring --------------------------------------------------------------------------------
@dataclass
class AppearanceScore:
    appearance_id: int
    identity: str
    visible_samples: int  # sampled timestamps where the face is visible
    detected_samples: int  # ... of which one detection overlaps it (IoU >= min_iou)
    detections: int  # detections matched to this appearance (any timestamp, visible or not)
    correct: int  # ... whose best FaceMatch is this identity
    wrong: int  # ... whose best FaceMatch is another identity
    identified: bool  # correct > detections / 2
    tracks: int  # distinct Person.Index over its detections
    # how late the first detection is after the first visible frame, and how early the last one is
    # before the last visible frame; 0 when found before it (an IoU match means the face was there,
    # partly hidden or cut off); None when never detected
    start_error_ms: int | None
    end_error_ms: int | None

    @property
    def recall(self) -> float:
        return self.detected_samples / self.visible_samples if self.visible_samples else 0.0


@dataclass
class Scores:
    sample_ms: int
    similarity: float | None  # FaceMatches below it were ignored (None: all kept)
    distractors_only: bool
    appearances: list[AppearanceScore]
    identification_rate: float | None  # None for a distractor-only clip (nobody to identify)
    false_match_detections: int  # matched to a wrong identity, or any match of an unlabelled detection
    false_match_tracks: int  # distinct Person.Index among them
    false_match_appearances: int  # appearances with at least one wrong-identity detection
    tracks_per_appearance: float  # mean over the appearances with at least one detection
    tracks_spanning_appearances: int  # Person.Index values seen on two or more appearances
    max_timestamp_error_ms: int | None
    within_one_sample: float  # appearances found with both timestamp errors <= sample_ms
    detection_recall: float  # over every visible (appearance, sampled timestamp)
    unmatched_detections: int  # detections overlapping no truth face

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for a, row in zip(self.appearances, d["appearances"], strict=True):
            row["recall"] = round(a.recall, 4)
        return d


@dataclass
class _Tally:
    ms: list[int] = field(default_factory=list)
    tracks: set[int] = field(default_factory=set)
    frames: set[int] = field(default_factory=set)
    correct: int = 0
    wrong: int = 0


def _pixels(box: dict[str, float], size: tuple[int, int]) -> np.ndarray:
    w, h = size
    left, top = float(box["Left"]) * w, float(box["Top"]) * h
    return np.array([left, top, left + float(box["Width"]) * w, top + float(box["Height"]) * h])


def _match(truth: Truth, frame: int, boxes: list[np.ndarray], min_iou: float) -> dict[int, Appearance]:
    """Greedy one-to-one matching by IoU: detection index -> appearance."""
    faces = truth.faces_at(frame)
    pairs = sorted(((iou(b, np.array(rec["box"])), i, j) for i, b in enumerate(boxes)
                    for j, (_, rec) in enumerate(faces)), reverse=True)
    out: dict[int, Appearance] = {}
    taken: set[int] = set()
    for v, i, j in pairs:
        if v >= min_iou and i not in out and j not in taken:
            out[i] = faces[j][0]
            taken.add(j)
    return out


def _samples(truth: Truth, sample_ms: int) -> list[int]:
    """The frames a sampler visits every ``sample_ms`` (from 0 to the last frame)."""
    last = truth.ms(truth.frames - 1)
    return sorted({truth.frame_at(t) for t in range(0, last + 1, sample_ms)})


def score(truth: Truth, persons: list[dict[str, Any]], *, sample_ms: int, similarity: float | None = None,
          min_iou: float = 0.3) -> Scores:
    """Rate GetFaceSearch's ``Persons`` (Timestamp, Person.Index, Person.Face.BoundingBox or
    Person.BoundingBox, FaceMatches[].Face.ExternalImageId = the LFW identity) against the truth.
    A detection's identity is its best FaceMatch at or above ``similarity``."""
    by_frame: dict[int, list[tuple[dict[str, Any], np.ndarray]]] = {}
    for p in persons:
        person = p.get("Person", {})
        box = (person.get("Face") or {}).get("BoundingBox") or person.get("BoundingBox")
        if box:  # Rekognition leaves the face out when a tracked person's face is not visible
            by_frame.setdefault(truth.frame_at(float(p["Timestamp"])), []).append((p, _pixels(box, truth.size)))
    rows = {a.appearance_id: _Tally() for a in truth.appearances}
    index_apps: dict[int, set[int]] = {}
    false_tracks: set[int] = set()
    false_dets = unmatched = 0
    for frame, pairs in by_frame.items():
        matched = _match(truth, frame, [b for _, b in pairs], min_iou)
        dets = [d for d, _ in pairs]
        for i, d in enumerate(dets):
            fm = [m for m in d.get("FaceMatches") or [] if similarity is None or m["Similarity"] >= similarity]
            best = max(fm, key=lambda m: m["Similarity"])["Face"].get("ExternalImageId") if fm else None
            index = int(d["Person"].get("Index", -1))
            app = matched.get(i)
            wrong = best is not None and (app is None or best != app.identity)
            if app is None:
                unmatched += 1
            else:
                r = rows[app.appearance_id]
                r.ms.append(int(d["Timestamp"]))
                r.tracks.add(index)
                r.frames.add(frame)
                index_apps.setdefault(index, set()).add(app.appearance_id)
                r.correct += best == app.identity
                r.wrong += wrong
            if wrong:
                false_dets += 1
                false_tracks.add(index)
    sampled = set(_samples(truth, sample_ms))
    out = []
    for a in truth.appearances:
        r = rows[a.appearance_id]
        visible = {b["frame"] for b in a.boxes if b["visible"]} & sampled
        found = bool(r.ms)
        out.append(AppearanceScore(
            a.appearance_id, a.identity, len(visible), len(visible & r.frames), len(r.ms), r.correct,
            r.wrong, r.correct * 2 > len(r.ms), len(r.tracks),
            max(0, min(r.ms) - a.first_ms) if found and a.first_ms >= 0 else None,
            max(0, a.last_ms - max(r.ms)) if found and a.last_ms >= 0 else None))
    found_rows = [s for s in out if s.detections]
    errors = [e for s in found_rows for e in (s.start_error_ms, s.end_error_ms) if e is not None]
    in_one = [s for s in found_rows if s.start_error_ms is not None and s.end_error_ms is not None
              and s.start_error_ms <= sample_ms and s.end_error_ms <= sample_ms]
    visible_total = sum(s.visible_samples for s in out)
    return Scores(
        sample_ms, similarity, truth.distractors_only, out,
        None if truth.distractors_only or not out else sum(s.identified for s in out) / len(out),
        false_dets, len(false_tracks), sum(1 for s in out if s.wrong),
        sum(s.tracks for s in found_rows) / len(found_rows) if found_rows else 0.0,
        sum(1 for apps in index_apps.values() if len(apps) > 1),
        max(errors) if errors else None, len(in_one) / len(out) if out else 0.0,
        sum(s.detected_samples for s in out) / visible_total if visible_total else 0.0, unmatched)


@dataclass
class DetectionScores:
    sample_ms: int
    samples: int  # sampled frames
    true_positives: int  # visible faces at sampled frames with a detection (IoU >= min_iou)
    false_negatives: int  # visible faces at sampled frames without one
    false_positives: int  # detections overlapping no face (faces hidden or cut off count as neither)
    per_frame: list[dict[str, int]]  # ms, tp, fn, fp for each sampled frame

    @property
    def recall(self) -> float:
        total = self.true_positives + self.false_negatives
        return self.true_positives / total if total else 0.0

    @property
    def precision(self) -> float:
        total = self.true_positives + self.false_positives
        return self.true_positives / total if total else 0.0


def score_faces(truth: Truth, faces: list[dict[str, Any]], *, sample_ms: int,
                min_iou: float = 0.3) -> DetectionScores:
    """Rate GetFaceDetection's ``Faces`` (Timestamp, Face.BoundingBox) at each sampled frame."""
    by_frame: dict[int, list[np.ndarray]] = {}
    for f in faces:
        by_frame.setdefault(truth.frame_at(float(f["Timestamp"])), []).append(
            _pixels(f["Face"]["BoundingBox"], truth.size))
    per_frame = []
    for frame in _samples(truth, sample_ms):
        boxes = by_frame.get(frame, [])
        matched = _match(truth, frame, boxes, min_iou)
        visible = {a.appearance_id for a, rec in truth.faces_at(frame) if rec["visible"]}
        hit = {a.appearance_id for a in matched.values()}
        per_frame.append({"ms": truth.ms(frame), "tp": len(visible & hit), "fn": len(visible - hit),
                          "fp": len(boxes) - len(matched)})
    return DetectionScores(sample_ms, len(per_frame), sum(p["tp"] for p in per_frame),
                           sum(p["fn"] for p in per_frame), sum(p["fp"] for p in per_frame), per_frame)
