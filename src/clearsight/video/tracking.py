"""Face tracks across sampled frames: one track per person, as far as the evidence allows.

A detection continues the track whose last box it overlaps most (IoU, :func:`clearsight.geometry.iou`)
if that track was seen within ``max_gap`` samples. A detection that continues no track is embedded
and compared with every earlier track's template (the mean of its embedded faces): when the face is
the same person at a high similarity (a cut back to someone, a face that was hidden), it re-links
to that track instead of starting a new one. This is what keeps a person one track: overlap alone
split the 10 s Hamilton clip into 14 tracks, 6 of a single detection.

Each track embeds only a few of its faces: its first (needed to re-link) and later ones only
when they are clearly better (size x sharpness x frontal pose, :func:`face_quality`), at most
:data:`MAX_EMBEDDINGS`; searching a collection then costs one comparison per track. The tracker's
state (boxes, the embeddings of its tracks' best faces) is checkpointed with the job and dropped
when the job ends.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..geometry import iou

__all__ = ["MAX_EMBEDDINGS", "Track", "Tracker", "colour_histogram", "face_quality", "scene_cut"]

MAX_EMBEDDINGS = 3  # faces embedded per track, at most
BETTER = 1.5  # a face is embedded when its quality beats the track's best embedded one by this factor
MIN_EMBED_SIDE = 32.0  # smaller faces are not embedded (recognition fails on them): such a track waits
# for a larger face, and is not searched if none comes
RELINK_MIN_SIDE = 40.0  # faces smaller than this (box side, pixels) never re-link: their embeddings are noise
CUT = 0.3  # hue-saturation histogram distance between samples from which the shot changed


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """A 16 x 8 hue-saturation histogram of the frame (sums to 1), to tell shots apart."""
    hsv = cv2.cvtColor(cv2.resize(rgb, (160, 90), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256]).ravel()
    return (hist / max(1.0, float(hist.sum()))).astype(np.float32)


def scene_cut(previous: np.ndarray | None, current: np.ndarray) -> bool:
    """Whether the shot changed between two samples (half the L1 distance of their histograms): at a
    cut no track continues by overlap, only by re-linking (the same face)."""
    return previous is not None and 0.5 * float(np.abs(previous - current).sum()) >= CUT


def _side(box: np.ndarray) -> float:
    return math.sqrt(max(0.0, float(box[2] - box[0])) * max(0.0, float(box[3] - box[1])))


def face_quality(box: np.ndarray, sharpness: float, yaw: float, pitch: float) -> float:
    """How useful a face is for recognition: its size (pixels of the box side) x sharpness (0-100)
    x how frontal it is (cosines of yaw and pitch)."""
    side = _side(box)
    frontal = max(0.0, math.cos(math.radians(min(abs(yaw), 89.0)))) * max(0.0, math.cos(math.radians(
        min(abs(pitch), 89.0))))
    return side * (0.05 + sharpness / 100.0) * frontal


def vector_from(data: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(data), np.float32).copy()


def vector_text(v: np.ndarray) -> str:
    return base64.b64encode(np.asarray(v, np.float32).tobytes()).decode()


@dataclass
class Track:
    index: int
    box: np.ndarray
    last_sample: int
    first_ms: int
    last_ms: int
    samples: int = 1
    embedded: int = 0  # faces embedded so far (at most MAX_EMBEDDINGS)
    faces: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (quality, embedding) of the best
    side: float = 0.0  # the largest embedded face's box side (pixels)

    @property
    def best_quality(self) -> float:
        return max((q for q, _ in self.faces), default=0.0)

    def template(self) -> np.ndarray | None:
        """The unit mean of the embedded faces (what the collection is searched with)."""
        if not self.faces:
            return None
        mean = np.mean([v for _, v in self.faces], axis=0)
        norm = float(np.linalg.norm(mean))
        return (mean / norm).astype(np.float32) if norm > 0 else None

    def keep(self, quality: float, embedding: np.ndarray, side: float) -> None:
        self.embedded += 1
        self.side = max(self.side, side)
        self.faces = sorted([*self.faces, (quality, embedding)], key=lambda p: -p[0])[:MAX_EMBEDDINGS]

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "box": [float(x) for x in self.box], "last_sample": self.last_sample,
                "first_ms": self.first_ms, "last_ms": self.last_ms, "samples": self.samples,
                "embedded": self.embedded, "faces": [[q, vector_text(v)] for q, v in self.faces],
                "side": self.side}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Track:
        return cls(d["index"], np.array(d["box"], np.float32), d["last_sample"], d["first_ms"], d["last_ms"],
                   d["samples"], d["embedded"], [(float(q), vector_from(v)) for q, v in d["faces"]],
                   float(d["side"]))


Embed = Callable[[list[int]], list[np.ndarray]]  # embeddings of the given detections (by position)


class Tracker:
    """``relink`` and ``split`` are fused cosine scores: a new detection re-links to an earlier track
    at or above ``relink``; a face embedded on a track that scores below ``split`` against it starts
    a new track (an overlap across a scene cut, say)."""

    def __init__(self, *, relink: float, split: float, min_iou: float = 0.3, max_gap: int = 5) -> None:
        self.relink = relink
        self.split = split
        self.min_iou = min_iou
        self.max_gap = max_gap
        self.tracks: list[Track] = []
        self.sample = 0

    def update(self, timestamp: int, boxes: list[np.ndarray], qualities: list[float], embed: Embed, *,
               cut: bool = False) -> list[int]:
        """The track index of each detection of the next sample (``cut``: the shot changed)."""
        self.sample += 1
        n = len(boxes)
        live = [] if cut else [t for t in self.tracks if self.sample - t.last_sample <= self.max_gap]
        pairs = sorted(((iou(boxes[i], t.box), i, t.index) for i in range(n) for t in live), reverse=True)
        assigned: dict[int, int] = {}
        taken: set[int] = set()
        for overlap, i, k in pairs:
            if overlap < self.min_iou:
                break
            if i not in assigned and k not in taken:
                assigned[i] = k
                taken.add(k)
        by_index = self.tracks
        # embed: detections that start or may re-link a track, and clearly better faces of known tracks
        sides = [_side(b) for b in boxes]
        todo = [i for i in range(n) if sides[i] >= MIN_EMBED_SIDE and (i not in assigned or (
            by_index[assigned[i]].embedded < MAX_EMBEDDINGS
            and qualities[i] > BETTER * by_index[assigned[i]].best_quality))]
        vectors = dict(zip(todo, embed(todo))) if todo else {}
        for i in todo:
            if i in assigned:
                template = by_index[assigned[i]].template()
                if template is not None and float(vectors[i] @ template) < self.split:
                    taken.discard(assigned.pop(i))  # a different person where the track was
        for i in sorted(i for i in range(n) if i not in assigned):
            assigned[i] = self._relink_or_new(vectors.get(i), sides[i], taken, timestamp)
            taken.add(assigned[i])
        for i, k in assigned.items():
            t = self.tracks[k]  # a track's index is its position
            t.samples += 1
            t.box, t.last_sample, t.last_ms = np.asarray(boxes[i], np.float32), self.sample, timestamp
            if i in vectors and (t.embedded < MAX_EMBEDDINGS or not t.faces):
                t.keep(qualities[i], vectors[i], sides[i])
        return [assigned[i] for i in range(n)]

    def _relink_or_new(self, vector: np.ndarray | None, side: float, taken: set[int], timestamp: int) -> int:
        best, score = None, self.relink
        for t in self.tracks if vector is not None and side >= RELINK_MIN_SIDE else ():
            template = t.template()
            if t.index in taken or template is None or t.side < RELINK_MIN_SIDE:
                continue
            s = float(vector @ template)
            if s >= score:
                best, score = t, s
        if best is not None:
            return best.index
        track = Track(len(self.tracks), np.zeros(4, np.float32), self.sample, timestamp, timestamp, samples=0)
        self.tracks.append(track)
        return track.index

    def to_json(self) -> dict[str, Any]:
        return {"sample": self.sample, "tracks": [t.to_json() for t in self.tracks]}

    def restore(self, state: dict[str, Any]) -> None:
        self.sample = int(state["sample"])
        self.tracks = [Track.from_json(t) for t in state["tracks"]]
