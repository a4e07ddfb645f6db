"""The Engine: settings, calibration and models (one :class:`ModelLoader`) in one object that the
CLI, the server and the tests all build. Its methods are the operations, with Rekognition names and response shapes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import params
from .calibration import Calibration
from .faces import Face, FaceAnalyzer, parse_attributes
from .images import DecodedImage, ImageInput, ImageLimits, decode
from .models.loader import ModelLoader
from .policy.audit import audited, current_record
from .settings import Settings

if TYPE_CHECKING:
    from .collections.migrate import Migrator
    from .collections.service import Collections
    from .collections.users import Users
    from .labels import LabelAnalyzer
    from .policy.audit import AuditLog
    from .storage.base import Store
    from .storage.objects import ObjectStore
    from .streams.service import StreamProcessors
    from .text import TextReader
    from .video.service import VideoService





class Engine:
    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = settings or Settings.load(**overrides)
        self.calibration = Calibration.load(model=self.settings.face_model or None)
        self.models = ModelLoader.from_settings(self.settings)  # every model, loaded once on first use
        self.faces = FaceAnalyzer(self.settings, self.calibration, self.models)
        self._open_lock = threading.Lock()
        self.limits = ImageLimits(
            max_bytes=self.settings.max_image_bytes,
            max_pixels=self.settings.max_image_pixels,
            min_side=self.settings.min_image_side,
            max_compression_ratio=self.settings.max_compression_ratio,
        )

    @cached_property
    def collections(self) -> Collections:
        """Collections, faces and face search over the data directory (opened on first use)."""
        with self._open_lock:
            return self.open_collections(Path(self.settings.data_dir))

    def open_collections(self, data_dir: Path) -> Collections:
        """Collections over ``data_dir``, sharing this engine's models (tests and tools open several)."""
        from .collections.service import Collections

        return Collections(data_dir, settings=self.settings, faces=self.faces, calibration=self.calibration,
                           decode=self.decode)

    @cached_property
    def store(self) -> Store:
        """The store of record (metadata, audit, change log, request tokens) of the data directory."""
        return self.collections.store

    @cached_property
    def audit(self) -> AuditLog:
        """The audit trail (kept in the collections' database, written in their transactions)."""
        return self.collections.audit

    @cached_property
    def objects(self) -> ObjectStore:
        """S3Object {Bucket, Name} -> files under the object root (setting s3_root)."""
        from .storage.objects import ObjectStore

        root = Path(self.settings.s3_root) if self.settings.s3_root else Path(self.settings.data_dir) / "s3"
        return ObjectStore(root, max_bytes=self.limits.max_object_bytes)

    @cached_property
    def users(self) -> Users:
        from .collections.users import Users

        return Users(self.collections)

    @cached_property
    def migrator(self) -> Migrator:
        """Moves collections to this engine's face model (``clearsight collection migrate``)."""
        from .collections.migrate import Migrator

        return Migrator(self.collections)

    @cached_property
    def text(self) -> TextReader:
        """PP-OCR text reading (built on first use)."""
        from .text import TextReader

        with self._open_lock:
            return TextReader.from_loader(self.models)

    @cached_property
    def labels(self) -> LabelAnalyzer:
        """Object detector + scene classifier for DetectLabels (built on first use)."""
        from .labels import LabelAnalyzer

        with self._open_lock:
            return LabelAnalyzer.from_loader(self.models)

    @cached_property
    def video(self) -> VideoService:
        """Stored-video jobs (Start*/Get*) and their runner (started by `serve` and `worker`)."""
        from .video.service import VideoService

        return VideoService(settings=self.settings, collections=self.collections, faces=self.faces,
                            calibration=self.calibration, objects=self.objects, executor=self.executor,
                            labels=lambda: self.labels, text=lambda: self.text)

    @cached_property
    def streams(self) -> StreamProcessors:
        """Stream processors (live cameras) and their runner (started by `serve`)."""
        from .streams.service import StreamProcessors

        return StreamProcessors(settings=self.settings, collections=self.collections, faces=self.faces,
                                calibration=self.calibration, executor=self.executor, s3_root=self.objects.root,
                                labels=lambda: self.labels)

    @cached_property
    def executor(self) -> ThreadPoolExecutor:
        """The one pool that runs operations (decoding and inference) off the caller's thread: the
        server's requests, batch CLI work and video jobs share it (setting ``workers``)."""
        workers = int(self.settings.workers) or self.settings.cpu_threads
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inference")

    def close(self) -> None:
        """Stop the stream processors and video jobs (they resume at the next start), snapshot the vector
        indexes and close the database (if they were opened)."""
        if "streams" in self.__dict__:
            self.streams.runner.stop()  # released RUNNING: the next start resumes them
        if "video" in self.__dict__:
            self.video.runner.stop()
        if "executor" in self.__dict__:
            self.executor.shutdown(wait=True)
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

    @audited("CompareFaces", collection=None)
    def compare_faces(
        self, source_image: ImageInput, target_image: ImageInput, similarity_threshold: float | None = 80.0,
        quality_filter: str | None = None,
    ) -> dict[str, Any]:
        """CompareFaces: the largest face of the source against every face of the target (audited)."""
        return self._compare_faces(current_record(), source_image, target_image, similarity_threshold,
                                   quality_filter)

    def _compare_faces(self, rec: Any, source_image: ImageInput, target_image: ImageInput,
                       similarity_threshold: float | None, quality_filter: str | None) -> dict[str, Any]:
        from . import quality
        from .geometry import bounding_box

        rec.threshold = threshold = params.threshold("SimilarityThreshold", similarity_threshold, 80.0)
        level = quality.level(quality_filter, "NONE")
        src = self.decode(source_image)
        tgt = self.decode(target_image)
        rec.probe_sha256 = src.sha256
        source = self.faces.probe(src, quality_filter, what="source image", others=False)
        src_faces = [source.face]
        details = [(f, self._compared_face(tgt.rgb, f)) for f in self.faces.detect(tgt.rgb)]
        details = [(f, d) for f, d in details if not quality.reasons(d, tgt.width, tgt.height, level)]
        tgt_faces = [f for f, _ in details]
        self.faces.embed(tgt.rgb, tgt_faces)
        sims = self.similarities(src_faces[0], tgt_faces)
        matches, unmatched = [], []
        for (_, detail), sim in sorted(zip(details, sims), key=lambda p: -p[1]):
            if sim >= threshold:
                matches.append({"Similarity": round(float(sim), 4), "Face": detail})
            else:
                unmatched.append(detail)
        s = src_faces[0]
        rec.gallery_size = len(tgt_faces)
        rec.results = [{"TargetSha256": tgt.sha256, "Similarity": round(float(x), 4)} for x in sorted(sims)[::-1]]
        self.audit.append(rec)  # the comparison is recorded before it is answered
        return {
            "SourceImageFace": {
                "BoundingBox": bounding_box(s.box, src.width, src.height),
                "Confidence": round(100.0 * s.score, 3),
            },
            "FaceMatches": matches,
            "UnmatchedFaces": unmatched,
        }

    def detect_text(self, image: ImageInput, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        """DetectText: LINEs and WORDs (at most 100 words, like Rekognition); see text.py."""
        from .text import TextFilters, response

        parsed = TextFilters.parse(filters)
        img = self.decode(image)
        return response(self.text.read(img.rgb), img.width, img.height, parsed)

    def detect_labels(
        self, image: ImageInput, max_labels: int | None = None, min_confidence: float | None = None,
        features: Sequence[str] | None = None, settings: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """DetectLabels: objects with Instances, animals, scenes, parents; IMAGE_PROPERTIES on request."""
        from .labels import LabelRequest

        request = LabelRequest.parse(max_labels, min_confidence, features, settings)
        img = self.decode(image)
        return self.labels.detect_labels(img.rgb, request)

    # --- helpers --------------------------------------------------------------------------
    def similarities(self, probe: Face, faces: list[Face]) -> np.ndarray:
        if not faces or probe.embedding is None:
            return np.zeros(0)
        gallery = np.stack([f.embedding for f in faces if f.embedding is not None])
        return self.calibration.similarity(gallery @ probe.embedding)

    def _compared_face(self, rgb: np.ndarray, face: Face) -> dict[str, Any]:
        detail = self.faces.face_detail(rgb, face, "DEFAULT")
        return {k: detail[k] for k in ("BoundingBox", "Confidence", "Landmarks", "Pose", "Quality")}
