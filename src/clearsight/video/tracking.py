"""Face tracks across sampled frames: one track per person, as far as the evidence allows.

A detection continues the track whose *predicted* box (the last box moved at the track's velocity)
it overlaps (IoU, :func:`clearsight.geometry.iou`), if that track was seen within ``max_gap``
samples of the current shot. Overlap alone is not trusted where it is in doubt: when another face
or track is near (people crossing, one passing in front of another), the overlap is weak, the
track was missed for a sample, the box changed shape, or the track has not been checked for
:data:`CHECK_EVERY` samples, the face is embedded and compared with the track's template first.
A face at the re-link score continues a nearby track before any face that only overlaps it; a face
below the split score never continues it. On the synthetic-truth clips (bench/video_truth.py)
nearest-last-box overlap had put one person's face on another's track 39 times in 222 detections,
then reported the track's identity on them; with predicted boxes and the checks, none.

A detection that continues no track is embedded and compared with every earlier track's template
(the mean of its best embedded faces): when the face is the same person at a high similarity (a
cut back to someone, a face that was hidden), it re-links to that track instead of starting a new
one. Each track's template holds at most :data:`MAX_EMBEDDINGS` faces, the best (size x sharpness
x frontal pose, :func:`face_quality`) of those confirmed at the re-link score; searching a
collection costs one comparison per track. The tracker's state (boxes, velocities, the embeddings
of its tracks' best faces) is checkpointed with the job and dropped when the job ends.
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

__all__ = ["CHECK_EVERY", "MAX_EMBEDDINGS", "Track", "Tracker", "colour_histogram", "face_quality", "scene_cut"]

MAX_EMBEDDINGS = 3  # faces in a track's template (what it is searched with), at most
BETTER = 1.5  # a face is embedded when its quality beats the track's best embedded one by this factor
MIN_EMBED_SIDE = 32.0  # smaller faces are not embedded (recognition fails on them): such a track waits
# for a larger face, and is not searched if none comes
RELINK_MIN_SIDE = 40.0  # faces smaller than this (box side, pixels) never re-link: their embeddings are noise
NEAR = 0.05  # IoU from which another face or track is near enough to put a continuation in doubt
FIRM = 0.5  # IoU with the predicted box below which a continuation is checked (someone else stepping in)
RESHAPED = 1.2  # a continuation whose box width or height changed by more than this factor is checked
CHECK_EVERY = 5  # samples: a face of every track is embedded at least this often (its identity checked)
CUT = 0.3  # hue-saturation histogram distance between samples from which the shot changed


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """A 16 x 8 hue-saturation histogram of the frame (sums to 1), to tell shots apart."""
    hsv = cv2.cvtColor(cv2.resize(rgb, (160, 90), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256]).ravel()
    return (hist / max(1.0, float(hist.sum()))).astype(np.float32)


def scene_cut(previous: np.ndarray | None, current: np.ndarray) -> bool:
    """Whether the shot changed between two samples (half the L1 distance of their histograms): at a
    cut no earlier track continues by overlap any more, only by re-linking (the same face)."""
    return previous is not None and 0.5 * float(np.abs(previous - current).sum()) >= CUT


def _side(box: np.ndarray) -> float:
    return math.sqrt(max(0.0, float(box[2] - box[0])) * max(0.0, float(box[3] - box[1])))


def _reshaped(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether box ``a``'s width or height differs from ``b``'s by more than :data:`RESHAPED`."""
    wa, ha = max(1e-3, float(a[2] - a[0])), max(1e-3, float(a[3] - a[1]))
    wb, hb = max(1e-3, float(b[2] - b[0])), max(1e-3, float(b[3] - b[1]))
    return max(wa / wb, wb / wa, ha / hb, hb / ha) > RESHAPED


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
    embedded: int = 0  # faces that joined the template so far (it changed when this did)
    faces: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (quality, embedding) of the best
    side: float = 0.0  # the largest embedded face's box side (pixels)
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))  # box change per sample
    checked: int = 0  # the last sample whose face was embedded (the identity confirmed there)
    compared: int = 0  # faces embedded so far: to follow and check the track, and for its template

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

    def predicted(self, sample: int) -> np.ndarray:
        """Where the face should be at ``sample``: the last box moved at the track's velocity."""
        return np.asarray(self.box + self.velocity * float(sample - self.last_sample), np.float32)

    def keep(self, quality: float, embedding: np.ndarray, side: float) -> None:
        self.embedded += 1
        self.side = max(self.side, side)
        self.faces = sorted([*self.faces, (quality, embedding)], key=lambda p: -p[0])[:MAX_EMBEDDINGS]

    def moved(self, box: np.ndarray, sample: int, timestamp: int, *, jumped: bool) -> None:
        """The face seen at ``box`` in ``sample``; ``jumped``: re-linked, not followed (no velocity)."""
        box = np.asarray(box, np.float32)
        step = sample - self.last_sample
        seen = (box - self.box) / float(max(1, step))
        if jumped or self.samples == 0 or step <= 0 or float(np.abs(seen).max()) > _side(box):
            self.velocity = np.zeros(4, np.float32)  # not followed, or a face more than its size away
        else:
            self.velocity = seen if self.samples == 1 else (0.5 * (self.velocity + seen)).astype(np.float32)
        self.samples += 1
        self.box, self.last_sample, self.last_ms = box, sample, timestamp

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "box": [float(x) for x in self.box], "last_sample": self.last_sample,
                "first_ms": self.first_ms, "last_ms": self.last_ms, "samples": self.samples,
                "embedded": self.embedded, "faces": [[q, vector_text(v)] for q, v in self.faces],
                "side": self.side, "velocity": [float(x) for x in self.velocity], "checked": self.checked,
                "compared": self.compared}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Track:
        return cls(d["index"], np.array(d["box"], np.float32), d["last_sample"], d["first_ms"], d["last_ms"],
                   d["samples"], d["embedded"], [(float(q), vector_from(v)) for q, v in d["faces"]],
                   float(d["side"]), np.array(d.get("velocity", [0.0] * 4), np.float32),
                   int(d.get("checked", d["last_sample"])), int(d.get("compared", d["embedded"])))


Embed = Callable[[list[int]], list[np.ndarray]]  # embeddings of the given detections (by position)


class Tracker:
    """``relink`` and ``split`` are fused cosine scores: a new detection re-links to an earlier track
    at or above ``relink``; a face that scores below ``split`` against a track's template never
    continues that track (a different person where the track was, or is predicted to be)."""

    def __init__(self, *, relink: float, split: float, min_iou: float = 0.3, max_gap: int = 5) -> None:
        self.relink = relink
        self.split = split
        self.min_iou = min_iou
        self.max_gap = max_gap
        self.tracks: list[Track] = []
        self.sample = 0
        self.shot = 0  # the sample the current shot began at

    def update(self, timestamp: int, boxes: list[np.ndarray], qualities: list[float], embed: Embed, *,
               cut: bool = False) -> list[int]:
        """The track index of each detection of the next sample (``cut``: the shot changed)."""
        self.sample += 1
        n = len(boxes)
        if cut:
            self.shot = self.sample  # tracks of earlier shots continue only by re-linking
        live = [t for t in self.tracks if self.sample - t.last_sample <= self.max_gap and t.last_sample >= self.shot]
        overlap = {(i, t.index): iou(boxes[i], t.predicted(self.sample)) for i in range(n) for t in live}
        sides = [_side(b) for b in boxes]
        todo = [i for i in range(n) if sides[i] >= MIN_EMBED_SIDE and self._why_embed(i, boxes, qualities, overlap)]
        vectors = dict(zip(todo, embed(todo))) if todo else {}
        templates = {t.index: t.template() for t in live}
        pairs = []  # (confirmed, overlap, detection, track): the same face first, then overlap alone
        for (i, k), ov in overlap.items():
            template = templates[k]
            s = float(vectors[i] @ template) if i in vectors and template is not None else None
            if s is not None and s >= self.relink and ov >= NEAR:
                pairs.append((1, ov, i, k))
            elif ov >= self.min_iou and (s is None or s >= self.split):
                pairs.append((0, ov, i, k))  # below split: a different person where the track is
        assigned: dict[int, int] = {}
        taken: set[int] = set()
        for _, _, i, k in sorted(pairs, reverse=True):
            if i not in assigned and k not in taken:
                assigned[i] = k
                taken.add(k)
        for i in sorted(i for i in range(n) if i not in assigned):
            assigned[i] = self._relink_or_new(vectors.get(i), sides[i], taken, timestamp)
            taken.add(assigned[i])
        for i, k in assigned.items():
            t = self.tracks[k]  # a track's index is its position
            followed = t.last_sample >= self.shot and self.sample - t.last_sample <= self.max_gap
            t.moved(boxes[i], self.sample, timestamp, jumped=not followed)
            if i in vectors:
                self._embedded(t, vectors[i], qualities[i], sides[i])
        return [assigned[i] for i in range(n)]

    def _why_embed(self, i: int, boxes: list[np.ndarray], qualities: list[float],
                   overlap: dict[tuple[int, int], float]) -> str | None:
        """Why detection ``i`` is embedded, or None: it continues no track, or only weakly (it may
        re-link, or be someone else); which track it continues is in doubt (another face or track is
        near: people crossing, one hiding another); its track reappears after a gap, or its box changed
        shape; the track's identity is due a check (every :data:`CHECK_EVERY` samples); or it is a
        clearly better face for the track's template."""
        near = [k for (j, k), ov in overlap.items() if j == i and ov >= NEAR]
        best = max(((ov, k) for (j, k), ov in overlap.items() if j == i and ov >= self.min_iou), default=None)
        if best is None:
            return "new"
        if max(best[0], iou(boxes[i], self.tracks[best[1]].box)) < FIRM:
            return "weak"  # far from where the track was and from where it should be
        if len(near) > 1 or any(j != i and ov >= NEAR for (j, k), ov in overlap.items() if k in near):
            return "crowded"
        t = self.tracks[best[1]]
        if self.sample - t.last_sample > 1:
            return "gap"
        if _reshaped(boxes[i], t.box):
            return "reshaped"
        if not t.faces or self.sample - t.checked >= CHECK_EVERY:
            return "check"
        return "better" if t.embedded < MAX_EMBEDDINGS and qualities[i] > BETTER * t.best_quality else None

    def _embedded(self, t: Track, vector: np.ndarray, quality: float, side: float) -> None:
        """A face of ``t`` was embedded: a confirmed one (or the first) joins the template when it is
        among the track's :data:`MAX_EMBEDDINGS` best."""
        t.compared += 1
        t.checked = self.sample
        template = t.template()
        if template is not None and float(vector @ template) < self.relink:
            return  # the same person (it continued the track) but not sure enough to describe them
        if len(t.faces) < MAX_EMBEDDINGS or quality > t.faces[-1][0]:
            t.keep(quality, vector, side)

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
        track = Track(len(self.tracks), np.zeros(4, np.float32), self.sample, timestamp, timestamp, samples=0,
                      checked=self.sample)
        self.tracks.append(track)
        return track.index

    def to_json(self) -> dict[str, Any]:
        return {"sample": self.sample, "shot": self.shot, "tracks": [t.to_json() for t in self.tracks]}

    def restore(self, state: dict[str, Any]) -> None:
        self.sample = int(state["sample"])
        self.shot = int(state.get("shot", 0))
        self.tracks = [Track.from_json(t) for t in state["tracks"]]
