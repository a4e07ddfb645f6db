"""Face search in a video (StartFaceSearch / GetFaceSearch): sample, detect, track, embed a few best
faces per track, search the collection once per track.

Per sampled timestamp the job stores each tracked person (Index = the track, BoundingBox, Face);
when the video is done each track's template (the mean of its best faces' embeddings) is searched
once, and the track's FaceMatches are reported at every timestamp it was seen, as Rekognition
does. Extension fields (ignored by boto3): the appearances of each track and an accountability
block saying what the matches are worth (expected false matches = tracks x gallery x FMR).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from ..collections.search import EXTENSION
from ..geometry import bounding_box
from ..policy.audit import AuditRecord
from ..storage.base import ResultRow
from .decode import Sample
from .faces import detected
from .tracking import Tracker, colour_histogram, face_quality, scene_cut, vector_from, vector_text

if TYPE_CHECKING:
    from ..calibration import Calibration
    from ..collections.service import Collections
    from ..faces import Face, FaceAnalyzer

__all__ = ["APPEARANCES", "MATCHES_PER_PERSON", "RELINK_SIMILARITY", "SPLIT_SIMILARITY", "FaceSearch"]

APPEARANCES = "ClearSightAppearances"
MATCHES_PER_PERSON = 10  # FaceMatches per person, at most (and never more than the policy's result cap)
# The tracker's thresholds were measured on the synthetic-truth clips (bench/video_truth.py) as fused scores
# 0.475 and 0.242 of the default model, Similarity 90 and 1 under the logistic calibration; under the
# fmr-anchored one the same scores are Similarity 72 and 0.01 (with 90 and 1 the scene split into 1.33
# tracks per appearance instead of 1.13).
RELINK_SIMILARITY = 72.0  # a new face re-links to an earlier track at this Similarity or above
SPLIT_SIMILARITY = 0.01  # a face below this Similarity to a track never continues it


class FaceSearch:
    """The analysis of a face search job: the tracker across chunks, then one search per track."""

    every_ms: int | None = None  # the setting video_sample_ms

    def __init__(self, analyzer: FaceAnalyzer, calibration: Calibration, collections: Collections,
                 request: dict[str, Any]) -> None:
        self.analyzer = analyzer
        self.calibration = calibration
        self.collections = collections
        self.request = request
        self.tracker = Tracker(relink=calibration.score_for(RELINK_SIMILARITY),
                               split=calibration.score_for(SPLIT_SIMILARITY))
        self.histogram: np.ndarray | None = None  # the previous sample's, to see cuts

    def prepare(self, sample: Sample) -> tuple[list[tuple[Face, dict[str, Any]]], np.ndarray]:
        """Detection and the frame's histogram: what can run ahead of the job's thread."""
        return detected(self.analyzer, sample, "DEFAULT"), colour_histogram(sample.rgb)

    def add(self, sample: Sample, prepared: tuple[list[tuple[Face, dict[str, Any]]], np.ndarray]) -> list[ResultRow]:
        found, histogram = prepared
        h, w = sample.rgb.shape[:2]
        boxes = [f.box for f, _ in found]
        qualities = [face_quality(f.box, d["Quality"]["Sharpness"], d["Pose"]["Yaw"], d["Pose"]["Pitch"])
                     for f, d in found]

        def embed(which: list[int]) -> list[Any]:
            faces = [found[i][0] for i in which]
            self.analyzer.embed(sample.rgb, faces)
            return [f.embedding for f in faces]

        cut = scene_cut(self.histogram, histogram)
        self.histogram = histogram
        tracks = self.tracker.update(sample.timestamp, boxes, qualities, embed, cut=cut)
        return [(sample.timestamp, k, json.dumps({"Timestamp": sample.timestamp, "Person": {
            "Index": k, "BoundingBox": bounding_box(f.box, w, h), "Face": d}}))
            for k, (f, d) in zip(tracks, found)]

    def flush(self) -> list[ResultRow]:
        return []

    def state(self) -> dict[str, Any]:
        return {"tracker": self.tracker.to_json(),
                "histogram": None if self.histogram is None else vector_text(self.histogram)}

    def restore(self, state: dict[str, Any]) -> None:
        self.tracker.restore(state["tracker"])
        self.histogram = None if state["histogram"] is None else vector_from(state["histogram"])

    def finish(self, rec: AuditRecord) -> dict[str, Any]:
        """Search each track once (the collection's policy is enforced again: it may have changed
        since the start) and fill the completion audit record. Returns the job summary."""
        cid = str(self.request["CollectionId"])
        threshold = float(self.request["FaceMatchThreshold"])
        version, k = self.collections.checked_search(rec, cid, threshold, None, MATCHES_PER_PERSON)
        tracks: list[dict[str, Any]] = []
        gallery = 0
        searched = 0
        for t in self.tracker.tracks:
            entry: dict[str, Any] = {"Index": t.index, "FirstTimestamp": t.first_ms, "LastTimestamp": t.last_ms,
                                     "Samples": t.samples, "EmbeddedFaces": len(t.faces), "ComparedFaces": t.compared,
                                     "FaceMatches": []}
            template = t.template()
            if template is not None:
                hits, gallery = self.collections.search_vector(cid, template, threshold=threshold, k=k)
                searched += 1
                entry["FaceMatches"] = self.collections.face_matches(cid, version, hits)
            if entry["FaceMatches"]:
                best = entry["FaceMatches"][0]
                entry["FaceId"], entry["BestSimilarity"] = best["Face"]["FaceId"], best["Similarity"]
                if "UserId" in best["Face"]:
                    entry["UserId"] = best["Face"]["UserId"]
            tracks.append(entry)
        if searched == 0:
            gallery = len(self.collections.current_index(cid))
        rec.gallery_size = gallery
        rec.results = [{"Track": e["Index"], "FaceId": m["Face"]["FaceId"], "Similarity": m["Similarity"]}
                       for e in tracks for m in e["FaceMatches"]]
        return {"CollectionId": cid, "FaceModelVersion": version, "Tracks": tracks,
                "Accountability": self.accountability(threshold, gallery, searched, len(rec.results))}

    def accountability(self, threshold: float, gallery: int, tracks: int, found: int) -> dict[str, Any]:
        fmr = self.calibration.fmr_at(threshold) if threshold > 0 else 1.0
        expected = tracks * gallery * fmr
        return {"GallerySize": gallery, "TracksSearched": tracks, "Threshold": threshold,
                "FalseMatchRatePerComparison": fmr, "ExpectedFalseMatches": expected,
                "Purpose": self.request.get("Purpose"),
                "Summary": f"{found} match(es) at Similarity >= {threshold:g} for {tracks} tracked face(s) searched "
                           f"against {gallery:,} enrolled faces; about {expected:.2g} false matches expected "
                           f"(tracks x gallery x false-match rate {fmr:.2g} per comparison, measured on LFW)"}


def summary_fields(summary: dict[str, Any] | None) -> dict[str, Any]:
    """The extension fields of a GetFaceSearch page (boto3 ignores them)."""
    if summary is None:
        return {}
    keys = ("Index", "FirstTimestamp", "LastTimestamp", "Samples", "EmbeddedFaces", "ComparedFaces", "BestSimilarity",
            "FaceId", "UserId")
    return {APPEARANCES: [{k: t[k] for k in keys if k in t} for t in summary["Tracks"]],
            EXTENSION: summary["Accountability"]}
