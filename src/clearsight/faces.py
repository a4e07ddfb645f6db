"""The face pipeline: detect -> landmarks -> align -> embed, and Rekognition FaceDetails.

``FaceAnalyzer`` gets its models from the engine's :class:`ModelLoader` (each loaded once,
lazily, on first use) and turns an RGB image into :class:`Face` objects. The fused embedding
concatenates the unit MobileFaceNet and dlib ResNet vectors scaled by sqrt(weight), so its inner
product is the weighted sum of the two networks' cosine similarities and it stays a unit vector
(collections search it as is).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import geometry, quality
from .calibration import Calibration
from .errors import InvalidParameterException
from .images import DecodedImage
from .models import mesh as face_mesh
from .models.detector import Detection, YuNetDetector
from .models.embedders import DlibOnnxEmbedder, DlibResNetEmbedder, MobileFaceNetEmbedder
from .models.landmarks import ShapePredictor, five_from_68
from .models.loader import ModelLoader
from .models.mesh import FaceMesh, Iris
from .models.registry import needs
from .models.verifier import ONetVerifier
from .settings import Settings

CANDIDATE_SCORE = 0.5  # YuNet score from which a candidate goes to the O-Net verifier
YUNET_TOP = 0.95  # YuNet's scores saturate around here
# Face Mesh aspect ratios (models/mesh.py) above which eyes / mouth count as open (docs/faces.md).
# Eyes: LFW eye crops sorted by the mesh's EAR, checked by eye, are mostly closed below 0.15 and mostly
# open from 0.17 (1.5% of LFW devtrain faces fall below 0.16). The 68-point rule it replaces (EAR 0.21
# on dlib's points) called 15% of them closed. Mouth: the threshold that agrees best with the 68-point
# verdicts (MAR 0.12 on dlib's inner lips), 86% on 700 LFW faces (docs/benchmarks.md "Landmarks").
EAR_OPEN = 0.16
MAR_OPEN = 0.115


NEVER_INFERRED = ("AGE_RANGE", "GENDER", "EMOTIONS", "SMILE")
NOT_SUPPORTED = ("BEARD", "MUSTACHE", "EYEGLASSES", "SUNGLASSES", "FACE_OCCLUDED", "EYE_DIRECTION")


def parse_attributes(attributes: str | Sequence[str] | None) -> str:
    """Rekognition's Attributes ("DEFAULT", "ALL", ["EYES_OPEN"]...) -> "DEFAULT" or "ALL".

    EYES_OPEN and MOUTH_OPEN select the Face Mesh pass (like ALL). Age, gender, emotion and smile
    are refused by design; the other Rekognition attributes are not implemented and say so."""
    if attributes is None:
        return "DEFAULT"
    values = [attributes] if isinstance(attributes, str) else list(attributes)
    if not values:
        return "DEFAULT"  # Rekognition treats Attributes=[] as DEFAULT
    refused = [v for v in values if v in NEVER_INFERRED]
    if refused:
        raise InvalidParameterException(
            f"ClearSight never infers {', '.join(refused)} (by design: see docs/caveats.md); "
            "use DEFAULT or ALL")
    unknown = [v for v in values if v not in ("DEFAULT", "ALL", "EYES_OPEN", "MOUTH_OPEN")]
    if unknown or not values:
        got = ", ".join(map(str, unknown)) or "nothing"
        raise InvalidParameterException(
            f"attributes must be DEFAULT, ALL, EYES_OPEN or MOUTH_OPEN (got {got}); "
            "ClearSight never infers age, gender, emotion or ethnicity")
    return "DEFAULT" if values == ["DEFAULT"] else "ALL"


@dataclass
class Face:
    """One detected face, in pixel coordinates of the (orientation-corrected) image."""

    box: np.ndarray
    score: float
    points: np.ndarray  # (5, 2) alignment landmarks, ArcFace order
    embedding: np.ndarray | None = None
    points68: np.ndarray | None = None
    mesh: np.ndarray | None = None  # (468, 2) MediaPipe Face Mesh points (attributes=ALL, mesh alignment)


@dataclass(frozen=True)
class Probe:
    """The embedded probe face, its FaceDetail, and the image's other faces (largest first)."""

    face: Face
    detail: dict[str, Any]
    others: list[Face]


class FaceAnalyzer:
    def __init__(self, settings: Settings, calibration: Calibration, models: ModelLoader | None = None) -> None:
        self.settings = settings
        self.calibration = calibration
        self.models = models or ModelLoader.from_settings(settings)
        self._lock = threading.Lock()  # dlib objects (shape predictors, dlib's ResNet) are not thread-safe

    @property
    def model_names(self) -> tuple[str, ...]:
        """The cards this face model version runs, dependencies first: its embedders (from the
        calibration's recipe) and what they depend on (the cards' depends_on). The Face Mesh for
        attributes=ALL loads on first use unless the recipe aligns with it; dlib's 68-point
        predictor only when a recipe aligns with it."""
        recipe = self.calibration.recipe
        roots = [recipe.face_card]  # embed() always runs it (its weight scales its part)
        if recipe.weight_resnet > 0:
            roots.append(recipe.resnet_card)
        if recipe.align_with_68:
            roots.append("dlib-shape68")
        if recipe.align_with_mesh:
            roots.append("mediapipe-face-mesh")
        return needs("mtcnn-onet", *roots)  # detection and verification first, whatever the recipe

    # --- models, each loaded once on first use (by the loader) --------------------------------
    @property
    def detector(self) -> YuNetDetector:
        return self.models.get("yunet", YuNetDetector)

    @property
    def verifier(self) -> ONetVerifier:
        return self.models.get("mtcnn-onet", ONetVerifier)

    @property
    def shape5(self) -> ShapePredictor:
        return self.models.get("dlib-shape5", ShapePredictor)

    @property
    def shape68(self) -> ShapePredictor:
        return self.models.get("dlib-shape68", ShapePredictor)

    @property
    def mesh(self) -> FaceMesh:
        return self.models.get("mediapipe-face-mesh", FaceMesh)

    @property
    def iris(self) -> Iris:
        return self.models.get("mediapipe-iris", Iris)

    @property
    def mobilefacenet(self) -> MobileFaceNetEmbedder:
        """The recipe's ArcFace-aligned net (``face_card``: MobileFaceNet unless the recipe names another)."""
        return self.models.get(self.calibration.recipe.face_card, MobileFaceNetEmbedder)

    @property
    def resnet(self) -> DlibResNetEmbedder | DlibOnnxEmbedder:
        """dlib's ResNet as the recipe's ``resnet_card`` runs it (dlib itself, or onnxruntime)."""
        card = self.calibration.recipe.resnet_card
        kind: type[DlibResNetEmbedder] | type[DlibOnnxEmbedder] = (
            DlibOnnxEmbedder if card == "dlib-resnet-onnx" else DlibResNetEmbedder)
        return self.models.get(card, kind)

    # --- pipeline -------------------------------------------------------------------------
    def detect(self, rgb: np.ndarray, *, max_faces: int | None = None, video: bool = False) -> list[Face]:
        """Faces, largest first, at most ``max_faces`` (default: the max_faces setting).

        YuNet proposes candidates; O-Net verifies them. A face's confidence is the mean of the
        two (YuNet's score rescaled to 0-1, O-Net's face probability). ``video`` frames skip the
        rotated retries (they are made upright from their rotation metadata) and the mirrored
        border for faces cut by the frame edge: on the synthetic-truth clips the half faces of
        people entering the frame started short tracks of their own."""
        limit = self.settings.max_faces if max_faces is None else max_faces
        if video:
            candidates: list[Detection] = self.detector.detect(rgb, min_confidence=CANDIDATE_SCORE,
                                                               mirror_edges=False)
        else:
            candidates = self.detector.detect_any_orientation(rgb, min_confidence=CANDIDATE_SCORE)
        probs = self.verifier.face_probability(rgb, [d.box for d in candidates], [d.angle for d in candidates])
        faces = []
        for d, p in zip(candidates, probs):
            confidence = (min(1.0, d.score / YUNET_TOP) + float(p)) / 2
            if confidence >= self.settings.detection_min_confidence:
                faces.append(Face(d.box, confidence, d.landmarks))
        faces.sort(key=lambda f: -float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))
        return faces[:limit]

    def add_points68(self, rgb: np.ndarray, faces: list[Face]) -> None:
        with self._lock:
            for f in faces:
                if f.points68 is None:
                    f.points68 = self.shape68.points(rgb, f.box)

    def add_mesh(self, rgb: np.ndarray, faces: list[Face]) -> None:
        """Fill ``face.mesh`` (468 image points) for the faces without one, one batch."""
        todo = [f for f in faces if f.mesh is None]
        if todo:
            points = self.mesh.points(rgb, [f.box for f in todo], [f.points[:2] for f in todo])
            for f, p in zip(todo, points, strict=True):
                f.mesh = p

    def embed(self, rgb: np.ndarray, faces: list[Face]) -> None:
        """Fill ``face.embedding`` (the fused unit vector) for every face, one batch per network."""
        todo = [f for f in faces if f.embedding is None]
        if not todo:
            return
        recipe = self.calibration.recipe
        if recipe.align_with_68:
            self.add_points68(rgb, todo)
            points = [five_from_68(f.points68) for f in todo if f.points68 is not None]
        elif recipe.align_with_mesh:
            self.add_mesh(rgb, todo)
            points = [face_mesh.five_points(f.mesh) for f in todo if f.mesh is not None]
        else:
            points = [f.points for f in todo]
        parts = [np.sqrt(recipe.weight_mobilefacenet) * self.mobilefacenet.embed(rgb, points)]
        if recipe.weight_resnet > 0:
            resnet = self.resnet
            with self._lock:  # dlib's shape predictor is not thread-safe (nor is dlib's own ResNet)
                shapes = [self.shape5.shape(rgb, f.box) for f in todo]
                vecs = None if isinstance(resnet, DlibOnnxEmbedder) else resnet.embed(rgb, shapes)
            if vecs is None:  # the ONNX ResNet runs outside the lock (onnxruntime sessions are thread-safe)
                vecs = resnet.embed(rgb, shapes)
            parts.append(np.sqrt(recipe.weight_resnet) * vecs)
        fused = np.concatenate(parts, axis=1).astype(np.float32)
        for f, v in zip(todo, fused, strict=False):
            f.embedding = v

    def probe(self, img: DecodedImage, quality_filter: str | None, *, what: str = "image",
              others: bool = True) -> Probe:
        """The face an operation compares or searches with: the largest face of the image, checked
        against QualityFilter (default NONE) and embedded (CompareFaces' source, SearchFacesByImage,
        SearchUsersByImage). ``others`` also returns the image's other faces, unembedded."""
        level = quality.level(quality_filter, "NONE")
        faces = self.detect(img.rgb, max_faces=None if others else 1)
        if not faces:
            raise InvalidParameterException(f"no face was found in the {what}")
        detail = self.face_detail(img.rgb, faces[0], "DEFAULT")
        why = quality.reasons(detail, img.width, img.height, level)
        if why:
            raise InvalidParameterException(
                f"the largest face of the {what} does not pass QualityFilter {level}: {', '.join(why)}")
        self.embed(img.rgb, faces[:1])
        return Probe(faces[0], detail, faces[1:])

    # --- Rekognition shapes ---------------------------------------------------------------
    def face_detail(self, rgb: np.ndarray, face: Face, attributes: str) -> dict[str, Any]:
        h, w = rgb.shape[:2]
        detail: dict[str, Any] = {
            "BoundingBox": geometry.bounding_box(face.box, w, h),
            "Landmarks": geometry.landmarks(face.points, w, h),
            "Pose": geometry.pose(face.points),
            "Quality": geometry.quality(rgb, face.box),
            "Confidence": round(100.0 * face.score, 3),
        }
        if attributes == "ALL":
            self.add_mesh(rgb, [face])
            assert face.mesh is not None
            named = np.stack([face_mesh.points_of(face.mesh, i) for i in face_mesh.LANDMARKS.values()])
            types = tuple(face_mesh.LANDMARKS)
            pupils = self.iris.pupils(rgb, [face.mesh])[0]  # MediaPipe Iris's centres, image-left eye first
            named[types.index("leftPupil")], named[types.index("rightPupil")] = pupils
            detail["Landmarks"] = geometry.landmarks(named, w, h, types)
            detail.update(open_state(face.mesh))
        return detail


def open_state(mesh: np.ndarray) -> dict[str, Any]:
    """EyesOpen / MouthOpen from Face Mesh aspect ratios, with a margin-based confidence (50 at
    the threshold, rising towards 100 with distance from it)."""
    ear = face_mesh.eye_aspect_ratio(mesh)
    mar = face_mesh.mouth_aspect_ratio(mesh)

    def verdict(value: float, threshold: float, spread: float) -> dict[str, Any]:
        margin = min(1.0, abs(value - threshold) / spread)
        return {"Value": bool(value > threshold), "Confidence": round(50.0 + 50.0 * margin, 3)}

    return {
        "EyesOpen": verdict(ear, EAR_OPEN, 0.1),
        "MouthOpen": verdict(mar, MAR_OPEN, 0.15),
    }
