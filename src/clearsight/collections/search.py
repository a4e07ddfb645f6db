"""Face search (SearchFaces, SearchFacesByImage) with policy enforcement, an audit record per
search, and a ClearSight extension field telling the operator what a match at this threshold
is worth for a gallery of this size."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import params
from ..errors import ResourceNotFoundException
from ..images import ImageInput
from ..policy.audit import AuditRecord, audited, current_record
from ..policy.context import current
from ..policy.policies import enforce
from ..storage.base import Hit

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from ..calibration import Calibration
    from ..faces import FaceAnalyzer
    from ..images import DecodedImage
    from ..policy.audit import AuditLog
    from ..policy.policies import CollectionPolicy
    from ..storage.base import Store, VectorIndex

EXTENSION = "ClearSightAccountability"


def accountability(calibration: Calibration, threshold: float, gallery: int, found: int) -> dict[str, Any]:
    """What a result at this threshold means: the false-match rate measured on LFW per comparison,
    and the expected false matches per search of a gallery this size (boto3 ignores this field)."""
    fmr = calibration.fmr_at(threshold) if threshold > 0 else 1.0
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
        calibration: Calibration
        faces: FaceAnalyzer
        decode: Callable[[ImageInput], DecodedImage]
        store: Store
        audit: AuditLog
        _lock: threading.RLock

        def index(self, collection_id: str) -> VectorIndex: ...
        def current_index(self, collection_id: str) -> VectorIndex: ...
        def policy(self, collection_id: str) -> CollectionPolicy: ...
        def _collection_model(self, collection_id: str) -> str: ...
    def search_vector(self, collection_id: str, vector: np.ndarray, *, threshold: float, k: int,
                      exclude: set[str] | None = None) -> tuple[list[tuple[Hit, float]], int]:
        """(hit, Similarity) pairs at or above the threshold, best first, and the gallery size.
        The index is first brought up to date with changes any process logged; faces past the
        collection's retention period are never returned, purged yet or not."""
        cal = self.calibration
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

    def face_matches(self, cid: str, version: str, hits: list[tuple[Hit, float]]) -> list[dict[str, Any]]:
        """FaceMatches for search hits: each face's record (faces deleted meanwhile are left out)."""
        from .service import face_record

        rows = {r.face_id: r for r in self.store.faces(cid, face_ids=[h.face_id for h, _ in hits],
                                                        limit=len(hits))} if hits else {}
        return [{"Similarity": round(s, 5), "Face": face_record(rows[h.face_id], version)}
                for h, s in hits if h.face_id in rows]

    def checked_search(self, rec: AuditRecord, collection_id: str, threshold: float, k: int | None,
                       default_k: int) -> tuple[str, int]:
        """Pin the model and enforce the policy before a search: (model version, results to return).
        An unspecified result count defaults to the smaller of ``default_k`` and the policy's cap."""
        version = self._collection_model(collection_id)
        policy = self.policy(collection_id)
        wanted = min(default_k, policy.max_results) if k is None else k
        enforce(policy, collection=collection_id, threshold=threshold, max_results=wanted, purpose=current().purpose)
        return version, wanted

    @audited("SearchFaces")
    def search_faces(self, *, collection_id: str, face_id: str, max_faces: int | None = None,
                     face_match_threshold: float | None = None) -> dict[str, Any]:
        rec = current_record()

        fid = params.face_id(face_id)
        params.int_range("MaxFaces", max_faces, 1, 4096, 80)
        rec.threshold = t = params.threshold("FaceMatchThreshold", face_match_threshold, 80.0)
        version, k = self.checked_search(rec, collection_id, t, max_faces, 80)
        vec = self.store.face_vectors(collection_id, [fid]).get(fid)
        if vec is None:
            raise ResourceNotFoundException(f"face {fid} does not exist in collection {collection_id!r}")
        rec.results = [{"SearchedFaceId": fid}]
        hits, gallery = self.search_vector(collection_id, vec, threshold=t, k=k, exclude={fid})
        return self._finish(rec, gallery, hits, {"SearchedFaceId": fid, "FaceMatches": self.face_matches(
            collection_id, version, hits), "FaceModelVersion": version}, t)

    @audited("SearchFacesByImage")
    def search_faces_by_image(self, *, collection_id: str, image: ImageInput,
                              max_faces: int | None = None, face_match_threshold: float | None = None,
                              quality_filter: str | None = None) -> dict[str, Any]:
        rec = current_record()

        params.int_range("MaxFaces", max_faces, 1, 4096, 80)
        rec.threshold = t = params.threshold("FaceMatchThreshold", face_match_threshold, 80.0)
        version, k = self.checked_search(rec, collection_id, t, max_faces, 80)
        img = self.decode(image)
        rec.probe_sha256 = img.sha256
        probe = self.faces.probe(img, quality_filter)
        face, detail = probe.face, probe.detail
        assert face.embedding is not None
        hits, gallery = self.search_vector(collection_id, face.embedding, threshold=t, k=k)
        return self._finish(rec, gallery, hits, {
            "SearchedFaceBoundingBox": detail["BoundingBox"], "SearchedFaceConfidence": detail["Confidence"],
            "FaceMatches": self.face_matches(collection_id, version, hits), "FaceModelVersion": version}, t)

    def _finish(self, rec: AuditRecord, gallery: int, hits: list[tuple[Hit, float]],
                response: dict[str, Any], threshold: float) -> dict[str, Any]:
        """Record the search (it fails if the record cannot be written), then answer."""
        rec.gallery_size = gallery
        rec.results = rec.results + [{"FaceId": h.face_id, "Similarity": round(s, 5)} for h, s in hits]
        return self.record_and_answer(rec, response, threshold, gallery, len(hits))

    def record_and_answer(self, rec: AuditRecord, response: dict[str, Any], threshold: float, gallery: int,
                          found: int) -> dict[str, Any]:
        self.audit.append(rec)
        response[EXTENSION] = accountability(self.calibration, threshold, gallery, found)
        return response
