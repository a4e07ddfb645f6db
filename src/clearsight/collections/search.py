"""Face search (SearchFaces, SearchFacesByImage) with policy enforcement, an audit record per
search, and a ClearSight extension field telling the operator what a match at this threshold
is worth for a gallery of this size."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidParameterException, ResourceNotFoundException
from ..images import DecodedImage, ImageInput
from ..policy.audit import AuditRecord
from ..policy.context import current
from ..policy.policies import enforce
from ..storage.base import Hit
from . import quality, validation

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from ..engine import Engine
    from ..faces import Face
    from ..policy.audit import AuditLog
    from ..policy.policies import CollectionPolicy
    from ..storage.base import Store, VectorIndex

EXTENSION = "ClearSightAccountability"


def accountability(engine: Engine, threshold: float, gallery: int, found: int) -> dict[str, Any]:
    """What a result at this threshold means: the false-match rate measured on LFW per comparison,
    and the expected false matches per search of a gallery this size (boto3 ignores this field)."""
    fmr = engine.calibration.fmr_at(threshold) if threshold > 0 else 1.0
    expected = fmr * gallery
    every = f"about 1 false match every {1 / expected:,.0f} searches" if 0 < expected < 1 else \
        f"about {expected:,.2f} false matches per search"
    return {
        "GallerySize": gallery, "Threshold": threshold, "FalseMatchRatePerComparison": fmr,
        "ExpectedFalseMatchesPerSearch": expected, "Purpose": current().purpose, "RequestId": current().request_id,
        "Summary": f"{found} candidate(s) at Similarity >= {threshold:g} among {gallery:,} faces; at this threshold "
                   f"{every} of a gallery this size (false-match rate {fmr:.2g} per comparison, measured on LFW)",
    }


class SearchOps:
    """Search operations of :class:`~.service.Collections` (which provides these attributes)."""

    if TYPE_CHECKING:
        engine: Engine
        store: Store
        audit: AuditLog
        _lock: threading.RLock

        def index(self, collection_id: str) -> VectorIndex: ...
        def current_index(self, collection_id: str) -> VectorIndex: ...
        def policy(self, collection_id: str) -> CollectionPolicy: ...
        def _collection_model(self, collection_id: str) -> str: ...
        def audited(self, rec: AuditRecord, run: Callable[[], dict[str, Any]]) -> dict[str, Any]: ...
    def search_vector(self, collection_id: str, vector: np.ndarray, *, threshold: float, k: int,
                      exclude: set[str] | None = None) -> tuple[list[tuple[Hit, float]], int]:
        """(hit, Similarity) pairs at or above the threshold, best first, and the gallery size.
        The index is first brought up to date with changes any process logged; faces past the
        collection's retention period are never returned, purged yet or not."""
        cal = self.engine.calibration
        min_score = cal.score_for(threshold) if threshold > 0 else -1.0
        idx = self.current_index(collection_id)
        retention = self.store.has_retention(collection_id)
        want = k + (len(exclude) if exclude else 0)
        while True:
            hits = idx.search(vector, k=want, min_score=min_score)
            hidden = set(exclude or ()) | (self.store.expired_among(collection_id, [h.face_id for h in hits])
                                           if retention else set())
            kept = [h for h in hits if h.face_id not in hidden]
            if len(kept) >= k or len(hits) < want or want >= len(idx):
                break
            want *= 2  # expired faces took places: look further
        out = [(h, float(cal.similarity(h.score))) for h in kept]
        return [(h, s) for h, s in out if s >= threshold][:k], len(idx)

    def _matches(self, cid: str, version: str, hits: list[tuple[Hit, float]]) -> list[dict[str, Any]]:
        from .service import face_record

        rows = {r.face_id: r for r in self.store.faces(cid, face_ids=[h.face_id for h, _ in hits],
                                                        limit=len(hits))} if hits else {}
        return [{"Similarity": round(s, 5), "Face": face_record(rows[h.face_id], version)}
                for h, s in hits if h.face_id in rows]

    def probe(self, image: ImageInput, quality_filter: str | None
              ) -> tuple[DecodedImage, Face, dict[str, Any], list[Face]]:
        """The largest face of an image, embedded: (decoded, face, detail, other faces)."""
        qf = quality.level(quality_filter, "NONE")
        img = self.engine.decode(image)
        faces = self.engine.faces.detect(img.rgb)
        if not faces:
            raise InvalidParameterException("no face was found in the image")
        detail = self.engine.faces.face_detail(img.rgb, faces[0], "DEFAULT")
        why = quality.reasons(detail, img.width, img.height, qf)
        if why:
            raise InvalidParameterException(
                f"the largest face does not pass QualityFilter {quality_filter}: {', '.join(why)}")
        self.engine.faces.embed(img.rgb, faces[:1])
        return img, faces[0], detail, faces[1:]

    def checked_search(self, rec: AuditRecord, collection_id: str, threshold: float, k: int | None,
                       default_k: int) -> tuple[str, int]:
        """Pin the model and enforce the policy before a search: (model version, results to return).
        An unspecified result count defaults to the smaller of ``default_k`` and the policy's cap."""
        version = self._collection_model(collection_id)
        policy = self.policy(collection_id)
        wanted = min(default_k, policy.max_results) if k is None else k
        enforce(policy, collection=collection_id, threshold=threshold, max_results=wanted, purpose=current().purpose)
        return version, wanted

    def search_faces(self, *, collection_id: str, face_id: str, max_faces: int | None = None,
                     face_match_threshold: float | None = None) -> dict[str, Any]:
        rec = AuditRecord("SearchFaces", collection_id)

        def run() -> dict[str, Any]:
            fid = validation.face_id(face_id)
            validation.int_range("MaxFaces", max_faces, 1, 4096, 80)
            rec.threshold = t = validation.threshold("FaceMatchThreshold", face_match_threshold, 80.0)
            version, k = self.checked_search(rec, collection_id, t, max_faces, 80)
            vec = self.store.face_vectors(collection_id, [fid]).get(fid)
            if vec is None:
                raise ResourceNotFoundException(f"face {fid} does not exist in collection {collection_id!r}")
            rec.results = [{"SearchedFaceId": fid}]
            hits, gallery = self.search_vector(collection_id, vec, threshold=t, k=k, exclude={fid})
            return self._finish(rec, gallery, hits, {"SearchedFaceId": fid, "FaceMatches": self._matches(
                collection_id, version, hits), "FaceModelVersion": version}, t)

        return self.audited(rec, run)

    def search_faces_by_image(self, *, collection_id: str, image: ImageInput,
                              max_faces: int | None = None, face_match_threshold: float | None = None,
                              quality_filter: str | None = None) -> dict[str, Any]:
        rec = AuditRecord("SearchFacesByImage", collection_id)

        def run() -> dict[str, Any]:
            validation.int_range("MaxFaces", max_faces, 1, 4096, 80)
            rec.threshold = t = validation.threshold("FaceMatchThreshold", face_match_threshold, 80.0)
            version, k = self.checked_search(rec, collection_id, t, max_faces, 80)
            img, face, detail, _ = self.probe(image, quality_filter)
            rec.probe_sha256 = img.sha256
            assert face.embedding is not None
            hits, gallery = self.search_vector(collection_id, face.embedding, threshold=t, k=k)
            return self._finish(rec, gallery, hits, {
                "SearchedFaceBoundingBox": detail["BoundingBox"], "SearchedFaceConfidence": detail["Confidence"],
                "FaceMatches": self._matches(collection_id, version, hits), "FaceModelVersion": version}, t)

        return self.audited(rec, run)

    def _finish(self, rec: AuditRecord, gallery: int, hits: list[tuple[Hit, float]],
                response: dict[str, Any], threshold: float) -> dict[str, Any]:
        """Record the search (it fails if the record cannot be written), then answer."""
        rec.gallery_size = gallery
        rec.results = rec.results + [{"FaceId": h.face_id, "Similarity": round(s, 5)} for h, s in hits]
        return self.record_and_answer(rec, response, threshold, gallery, len(hits))

    def record_and_answer(self, rec: AuditRecord, response: dict[str, Any], threshold: float, gallery: int,
                          found: int) -> dict[str, Any]:
        self.audit.append(rec)
        response[EXTENSION] = accountability(self.engine, threshold, gallery, found)
        return response
