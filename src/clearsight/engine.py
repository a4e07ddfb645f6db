"""The Engine: settings, calibration and models in one object that the CLI, the server and the
tests all build. Its methods are the operations, with Rekognition names and response shapes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .calibration import Calibration
from .errors import InvalidParameterException
from .faces import Face, FaceAnalyzer
from .images import DecodedImage, ImageInput, ImageLimits, decode
from .settings import Settings

if TYPE_CHECKING:
    from .collections.service import Collections
    from .collections.users import Users

ATTRIBUTE_CHOICES = ("DEFAULT", "ALL")


def parse_attributes(attributes: str | Sequence[str] | None) -> str:
    """"DEFAULT", "ALL", or Rekognition's list form (["ALL"], ["DEFAULT"]) -> "DEFAULT"|"ALL"."""
    if attributes is None:
        return "DEFAULT"
    values = [attributes] if isinstance(attributes, str) else list(attributes)
    bad = [v for v in values if v not in ATTRIBUTE_CHOICES]
    if bad or not values:
        raise InvalidParameterException(
            f"attributes must be DEFAULT or ALL (got {', '.join(map(str, bad)) or 'nothing'}); "
            "ClearSight never infers age, gender, emotion or ethnicity"
        )
    return "ALL" if "ALL" in values else "DEFAULT"


def check_threshold(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterException(f"{name} must be a number from 0 to 100") from exc
    if not 0.0 <= v <= 100.0:
        raise InvalidParameterException(f"{name} must be from 0 to 100, got {v}")
    return v


class Engine:
    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = settings or Settings.load(**overrides)
        self.calibration = Calibration.load(model=self.settings.face_model or None)
        self.faces = FaceAnalyzer(self.settings, self.calibration)
        self._open_lock = threading.Lock()
        self.limits = ImageLimits(
            max_bytes=self.settings.max_image_bytes,
            max_pixels=self.settings.max_image_pixels,
            min_side=self.settings.min_image_side,
        )

    @cached_property
    def collections(self) -> Collections:
        """Collections, faces and face search over the data directory (opened on first use)."""
        from .collections.service import Collections

        with self._open_lock:
            return Collections(self, Path(self.settings.data_dir))

    @cached_property
    def users(self) -> Users:
        from .collections.users import Users

        return Users(self.collections)

    def close(self) -> None:
        """Snapshot the vector indexes and close the database (if they were opened)."""
        if "collections" in self.__dict__:
            self.collections.close()

    @property
    def model_version(self) -> str:
        return self.calibration.model_version

    def decode(self, image: ImageInput) -> DecodedImage:
        return decode(image, self.limits)

    # --- operations -----------------------------------------------------------------------
    def detect_faces(
        self, image: ImageInput, attributes: str | Sequence[str] | None = "DEFAULT"
    ) -> dict[str, Any]:
        attrs = parse_attributes(attributes)
        img = self.decode(image)
        faces = self.faces.detect(img.rgb)
        return {
            "FaceDetails": [self.faces.face_detail(img.rgb, f, attrs) for f in faces],
        }

    def compare_faces(
        self, source: ImageInput, target: ImageInput, similarity_threshold: float = 80.0
    ) -> dict[str, Any]:
        threshold = check_threshold("SimilarityThreshold", similarity_threshold)
        src = self.decode(source)
        tgt = self.decode(target)
        src_faces = self.faces.detect(src.rgb, max_faces=1)
        if not src_faces:
            raise InvalidParameterException("no face was found in the source image")
        self.faces.embed(src.rgb, src_faces)
        tgt_faces = self.faces.detect(tgt.rgb)
        self.faces.embed(tgt.rgb, tgt_faces)
        sims = self.similarities(src_faces[0], tgt_faces)
        matches, unmatched = [], []
        for face, sim in sorted(zip(tgt_faces, sims, strict=False), key=lambda p: -p[1]):
            detail = self._compared_face(tgt.rgb, face)
            if sim >= threshold:
                matches.append({"Similarity": round(float(sim), 4), "Face": detail})
            else:
                unmatched.append(detail)
        s = src_faces[0]
        h, w = src.rgb.shape[:2]
        from .geometry import bounding_box

        return {
            "SourceImageFace": {
                "BoundingBox": bounding_box(s.box, w, h),
                "Confidence": round(100.0 * s.score, 3),
            },
            "FaceMatches": matches,
            "UnmatchedFaces": unmatched,
        }

    # --- helpers --------------------------------------------------------------------------
    def similarities(self, probe: Face, faces: list[Face]) -> np.ndarray:
        if not faces or probe.embedding is None:
            return np.zeros(0)
        gallery = np.stack([f.embedding for f in faces if f.embedding is not None])
        return self.calibration.similarity(gallery @ probe.embedding)

    def _compared_face(self, rgb: np.ndarray, face: Face) -> dict[str, Any]:
        detail = self.faces.face_detail(rgb, face, "DEFAULT")
        return {k: detail[k] for k in ("BoundingBox", "Confidence", "Landmarks", "Pose", "Quality")}
