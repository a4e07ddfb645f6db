"""Face detection in a video (StartFaceDetection / GetFaceDetection): every sampled frame's faces as
Rekognition FaceDetails, nothing identified, nothing embedded."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..faces import parse_attributes
from ..storage.base import ResultRow
from .decode import Sample

if TYPE_CHECKING:
    from ..faces import Face, FaceAnalyzer

__all__ = ["FaceDetection", "detected"]


def detected(analyzer: FaceAnalyzer, sample: Sample, attributes: str) -> list[tuple[Face, dict[str, Any]]]:
    """The sample's faces (video detection: no rotated retries, no mirrored border) with their FaceDetails."""
    faces = analyzer.detect(sample.rgb, video=True)
    return [(f, analyzer.face_detail(sample.rgb, f, attributes)) for f in faces]


class FaceDetection:
    """The analysis of a face detection job, chunk by chunk; it keeps no state between samples."""

    every_ms: int | None = None  # the setting video_sample_ms

    def __init__(self, analyzer: FaceAnalyzer, request: dict[str, Any]) -> None:
        self.analyzer = analyzer
        self.attributes = parse_attributes(request.get("FaceAttributes") or "DEFAULT")

    def prepare(self, sample: Sample) -> list[tuple[Face, dict[str, Any]]]:
        """What can run ahead of the job's thread (see :func:`~.decode.prefetched`)."""
        return detected(self.analyzer, sample, self.attributes)

    def add(self, sample: Sample, found: list[tuple[Face, dict[str, Any]]]) -> list[ResultRow]:
        return [(sample.timestamp, i, json.dumps({"Timestamp": sample.timestamp, "Face": detail}))
                for i, (_, detail) in enumerate(found)]

    def flush(self) -> list[ResultRow]:
        return []

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        pass
