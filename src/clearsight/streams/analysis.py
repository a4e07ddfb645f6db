"""What a stream processor does with each sampled frame: face search (tracked faces searched in a
collection) or connected-home labels (PERSON, PET, PACKAGE), restricted to its regions of interest.

Face search reuses the stored-video search: the frame's faces are detected and tracked
(:class:`~clearsight.video.search.FaceSearch` and its tracker), a track is embedded only when the
tracker asks (a new face, a clearly better one), and its template is searched when it changed; each
frame's record reports every face with its track's current matches, in Rekognition's
FaceSearchResponse shape. An identification (a track matched, or matched to another face) is
handed back to be audited before the record is written. The tracker is renewed after
:data:`MAX_TRACKS` tracks, so a processor running for weeks keeps a bounded memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..video.decode import Sample
from ..video.search import FaceSearch
from .source import Frame

if TYPE_CHECKING:
    from ..calibration import Calibration
    from ..collections.service import Collections
    from ..faces import FaceAnalyzer
    from ..labels import LabelAnalyzer

__all__ = ["CONNECTED_HOME", "ConnectedHome", "Identification", "LiveFaceSearch", "in_regions"]

MAX_TRACKS = 500
MATCHES_PER_FACE = 10
CONNECTED_HOME = {"PERSON": ("Person",), "PET": ("Cat", "Dog"), "PACKAGE": ()}  # PACKAGE: no shipped model knows it


def _inside(x: float, y: float, polygon: list[dict[str, float]]) -> bool:
    """Ray casting: is (x, y) inside the polygon (ratios of the frame, as Rekognition's Points)?"""
    inside = False
    pts = [(float(p["X"]), float(p["Y"])) for p in polygon]
    for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1]):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def in_regions(box: dict[str, float], regions: list[dict[str, Any]] | None) -> bool:
    """Whether a detection counts: no regions, or its box's centre lies in one of them."""
    if not regions:
        return True
    x, y = box["Left"] + box["Width"] / 2, box["Top"] + box["Height"] / 2
    for r in regions:
        b = r.get("BoundingBox")
        if b and b["Left"] <= x <= b["Left"] + b["Width"] and b["Top"] <= y <= b["Top"] + b["Height"]:
            return True
        if r.get("Polygon") and _inside(x, y, r["Polygon"]):
            return True
    return False


@dataclass
class Identification:
    track: int
    matches: list[dict[str, Any]]
    gallery: int


@dataclass
class _Known:
    embedded: int = -1
    matches: list[dict[str, Any]] = field(default_factory=list)


class LiveFaceSearch:
    def __init__(self, analyzer: FaceAnalyzer, calibration: Calibration, collections: Collections,
                 collection_id: str, threshold: float, regions: list[dict[str, Any]] | None) -> None:
        self.analyzer, self.calibration, self.collections = analyzer, calibration, collections
        self.collection_id, self.threshold, self.regions = collection_id, threshold, regions
        self.version = ""
        self.k = MATCHES_PER_FACE
        self.seq = -1
        self._renew()

    def _renew(self) -> None:
        self.search = FaceSearch(self.analyzer, self.calibration, self.collections,
                                 {"CollectionId": self.collection_id, "FaceMatchThreshold": self.threshold})
        self.known: dict[int, _Known] = {}

    def analyse(self, frame: Frame) -> tuple[list[dict[str, Any]], list[Identification]]:
        """The frame's FaceSearchResponse entries and the identifications made on it."""
        if len(self.search.tracker.tracks) > MAX_TRACKS:
            self._renew()
        seq = self.collections.store.last_change()
        if seq != self.seq:  # faces enrolled or deleted: every track is searched again (a deleted face is never
            self.seq = seq  # reported after its deletion, a newly enrolled one is found on faces already in view)
            for known in self.known.values():
                known.embedded = -1
        sample = Sample(frame.pts_ms, frame.rgb, frame.pts_ms + 1)
        rows = self.search.add(sample, self.search.prepare(sample))
        entries, found = [], []
        for _, _, item in rows:
            person = json.loads(item)["Person"]
            if not in_regions(person["BoundingBox"], self.regions):
                continue
            k = int(person["Index"])
            track = self.search.tracker.tracks[k]
            known = self.known.setdefault(k, _Known())
            template = track.template()
            if template is not None and track.embedded != known.embedded:
                known.embedded = track.embedded
                hits, gallery = self.collections.search_vector(self.collection_id, template,
                                                               threshold=self.threshold, k=self.k)
                matches = self.collections.face_matches(self.collection_id, self.version, hits)
                before = [m["Face"]["FaceId"] for m in known.matches]
                known.matches = matches
                if matches and [m["Face"]["FaceId"] for m in matches] != before:
                    found.append(Identification(k, matches, gallery))
            face = person["Face"]
            detected = {key: face[key] for key in ("BoundingBox", "Confidence", "Landmarks", "Pose", "Quality")
                        if key in face}
            entries.append({"DetectedFace": detected, "MatchedFaces": known.matches, "ClearSightTrack": k})
        return entries, found


class ConnectedHome:
    """Labels PERSON / PET / PACKAGE (or ALL) at MinConfidence (default 50), as events."""

    def __init__(self, labels: Callable[[], LabelAnalyzer], settings: dict[str, Any],
                 regions: list[dict[str, Any]] | None) -> None:
        self.labels = labels
        wanted = settings.get("Labels") or ["ALL"]
        self.wanted = list(CONNECTED_HOME) if "ALL" in wanted else list(wanted)
        self.min_confidence = float(settings.get("MinConfidence", 50.0))
        self.regions = regions

    def analyse(self, frame: Frame) -> list[dict[str, Any]]:
        from ..geometry import bounding_box

        instances, _ = self.labels().analyze(frame.rgb)
        h, w = frame.rgb.shape[:2]
        out = []
        for inst in instances:
            name = next((n for n in self.wanted if inst.name in CONNECTED_HOME[n]), None)
            confidence = float(inst.confidence)  # 0-100
            if name is None or confidence < self.min_confidence:
                continue
            box = bounding_box(np.asarray(inst.box, np.float32), w, h)
            if in_regions(box, self.regions):
                out.append({"name": name, "confidence": round(confidence, 3),
                            "boundingBox": {"left": box["Left"], "top": box["Top"], "width": box["Width"],
                                            "height": box["Height"]}})
        return out
