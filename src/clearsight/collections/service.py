"""Collection operations with Rekognition semantics: collections, faces and face search.

``Collections`` owns the SQLite store and the vector indexes. Arguments are Rekognition's
request fields in snake_case (the HTTP layer converts names and nothing else); results are
Rekognition-shaped dicts. Users are in :mod:`.users`.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidParameterException, ResourceNotFoundException
from ..faces import Face
from ..geometry import bounding_box
from ..images import ImageInput
from . import quality, validation
from .index import ExactIndex, Hit, IvfIndex, load_index
from .store import FaceRow, NewFace, Store

if TYPE_CHECKING:
    from ..engine import Engine

ARN_PREFIX = "arn:aws:rekognition:local:000000000000:collection/"
SNAPSHOT_EVERY = 20_000  # changes between index snapshots


def face_record(row: FaceRow, model_version: str) -> dict[str, Any]:
    face: dict[str, Any] = {"FaceId": row.face_id, "BoundingBox": row.bbox, "ImageId": row.image_id,
                            "Confidence": row.confidence, "IndexFacesModelVersion": model_version}
    if row.external_image_id is not None:
        face["ExternalImageId"] = row.external_image_id
    if row.user_id is not None:
        face["UserId"] = row.user_id
    return face


class Collections:
    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self.engine = engine
        self.data_dir = data_dir
        self.store = Store(data_dir / "clearsight.db")
        self.paginator = validation.Paginator(self._secret())
        self._indexes: dict[str, ExactIndex | IvfIndex] = {}
        self.ann_threshold = int(engine.settings.ann_threshold)
        self.ann_nprobe = int(engine.settings.ann_nprobe)
        self._lock = threading.RLock()  # guards _indexes and orders write + index update
        self._since_snapshot = 0

    def _secret(self) -> bytes:
        path = self.data_dir / "token.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(32))
        return path.read_bytes()

    # --- index lifecycle ------------------------------------------------------------------
    def _index_path(self, collection_id: str) -> Path:
        return self.data_dir / "index" / f"{collection_id}.idx"

    def index(self, collection_id: str) -> ExactIndex | IvfIndex:
        """The collection's index: from its snapshot caught up with the change log, or rebuilt."""
        with self._lock:
            idx = self._indexes.get(collection_id)
            if idx is not None:
                return idx
            row = self.store.collection(collection_id)
            idx = load_index(self._index_path(collection_id), collection_id, row.dimension)
            last = self.store.last_change()
            if idx is None or idx.seq > last or idx.seq < self.store.compacted_upto():
                ids, mat, seq = self.store.all_vectors(collection_id)
                idx = self._new_index(row.dimension, ids, mat)
                idx.seq = seq
            else:
                self._catch_up(collection_id, idx)
            self._indexes[collection_id] = idx
            return idx

    def _new_index(self, dimension: int, ids: list[str], mat: np.ndarray) -> ExactIndex | IvfIndex:
        """Exact search while it is fast enough; faiss IVF above ``ann_threshold`` faces."""
        if len(ids) >= self.ann_threshold:
            return IvfIndex.build(ids, mat, nprobe=self.ann_nprobe)
        exact = ExactIndex(dimension)
        exact.add(ids, mat)
        return exact

    def _maybe_switch(self, collection_id: str) -> None:
        idx = self._indexes.get(collection_id)
        if isinstance(idx, ExactIndex) and len(idx) >= self.ann_threshold:
            ivf = IvfIndex.build(list(idx.ids), idx.matrix.copy(), nprobe=self.ann_nprobe)
            ivf.seq = idx.seq
            self._indexes[collection_id] = ivf
            ivf.save(self._index_path(collection_id), collection_id)

    def _catch_up(self, collection_id: str, idx: ExactIndex | IvfIndex) -> None:
        changes = [c for c in self.store.changes_since(idx.seq) if c[1] == collection_id]
        adds = [c[2] for c in changes if c[3] == "add"]
        vectors = self.store.face_vectors(collection_id, adds)
        for seq, _, face_id, op in changes:
            if op == "add" and face_id in vectors:
                idx.add([face_id], vectors[face_id][None, :])
            elif op == "del":
                idx.remove([face_id])
            idx.seq = seq
        idx.seq = max(idx.seq, self.store.last_change())

    def snapshot(self) -> None:
        """Persist every loaded index, then drop change-log entries all snapshots cover."""
        with self._lock:
            for cid, idx in self._indexes.items():
                idx.save(self._index_path(cid), cid)
            self._since_snapshot = 0
            floor = min((i.seq for i in self._indexes.values()), default=self.store.last_change())
            if len(self._indexes) == len(self.store.collection_ids(limit=1_000_000)):
                self.store.compact_changes(floor)

    def close(self) -> None:
        self.snapshot()
        self.store.close()

    def _changed(self, collection_id: str, n: int) -> None:
        idx = self._indexes.get(collection_id)
        if idx is not None:
            idx.seq = self.store.last_change()
        self._maybe_switch(collection_id)
        self._since_snapshot += n
        if self._since_snapshot >= SNAPSHOT_EVERY:
            self.snapshot()

    # --- collections ----------------------------------------------------------------------
    def create_collection(self, *, collection_id: str, tags: dict[str, str] | None = None) -> dict[str, Any]:
        cid = validation.collection_id(collection_id)
        version = self.engine.model_version
        with self._lock:
            self.store.create_collection(cid, version, self.engine.calibration.recipe.dimension, tags)
            self._indexes.pop(cid, None)
            self._index_path(cid).unlink(missing_ok=True)
        return {"StatusCode": 200, "CollectionArn": ARN_PREFIX + cid, "FaceModelVersion": version}

    def describe_collection(self, *, collection_id: str) -> dict[str, Any]:
        row = self.store.collection(validation.collection_id(collection_id))
        faces, users = self.store.counts(row.collection_id)
        return {"FaceCount": faces, "FaceModelVersion": row.face_model, "CollectionARN": ARN_PREFIX + row.collection_id,
                "CreationTimestamp": row.created, "UserCount": users}

    def list_collections(self, *, max_results: int | None = None, next_token: str | None = None) -> dict[str, Any]:
        limit = validation.int_range("MaxResults", max_results, 0, 4096, 1000)
        after = self.paginator.after("collections", next_token)
        ids = self.store.collection_ids(after, limit + 1)
        out: dict[str, Any] = {"CollectionIds": ids[:limit],
                               "FaceModelVersions": [self.store.collection(c).face_model for c in ids[:limit]]}
        if len(ids) > limit and limit > 0:
            out["NextToken"] = self.paginator.token("collections", ids[limit - 1])
        return out

    def delete_collection(self, *, collection_id: str) -> dict[str, Any]:
        cid = validation.collection_id(collection_id)
        with self._lock:
            self.store.delete_collection(cid)
            self._indexes.pop(cid, None)
            self._index_path(cid).unlink(missing_ok=True)
        return {"StatusCode": 200}

    def _collection_model(self, collection_id: str) -> str:
        row = self.store.collection(validation.collection_id(collection_id))
        if row.face_model != self.engine.model_version:
            raise InvalidParameterException(
                f"collection {collection_id!r} holds {row.face_model} embeddings but this server runs "
                f"{self.engine.model_version}; start it with CLEARSIGHT_FACE_MODEL={row.face_model}")
        return row.face_model

    # --- faces ----------------------------------------------------------------------------
    def index_faces(self, *, collection_id: str, image: ImageInput, external_image_id: str | None = None,
                    detection_attributes: list[str] | None = None, max_faces: int | None = None,
                    quality_filter: str | None = None, source: str | None = None) -> dict[str, Any]:
        version = self._collection_model(collection_id)
        ext = validation.external_image_id(external_image_id)
        limit = validation.int_range("MaxFaces", max_faces, 1, 100, 100)
        qf = quality.level(quality_filter, "MEDIUM")
        from ..engine import parse_attributes

        attrs = parse_attributes(detection_attributes or ["DEFAULT"])
        img = self.engine.decode(image)
        faces = self.engine.faces.detect(img.rgb)
        details = [self.engine.faces.face_detail(img.rgb, f, attrs) for f in faces]
        unindexed: list[dict[str, Any]] = []
        keep: list[tuple[Face, dict[str, Any]]] = []
        for face, detail in zip(faces, details):
            why = quality.reasons(detail, img.width, img.height, qf)
            if why:
                unindexed.append({"Reasons": why, "FaceDetail": detail})
            elif len(keep) >= limit:  # faces come largest first: the largest are kept
                unindexed.append({"Reasons": ["EXCEEDS_MAX_FACES"], "FaceDetail": detail})
            else:
                keep.append((face, detail))
        self.engine.faces.embed(img.rgb, [f for f, _ in keep])
        image_id = str(uuid.uuid4())
        new = [NewFace(str(uuid.uuid4()), image_id, ext, bounding_box(f.box, img.width, img.height),
                       round(100.0 * f.score, 3), f.embedding) for f, _ in keep if f.embedding is not None]
        with self._lock:
            idx = self.index(collection_id)
            self.store.add_faces(collection_id, new, source=source, image_id=image_id)
            if new:
                idx.add([n.face_id for n in new], np.stack([n.vector for n in new]).astype(np.float32))
            self._changed(collection_id, len(new))
        records = [{"Face": face_record(FaceRow(n.face_id, collection_id, image_id, ext, n.bbox, n.confidence,
                                                None, 0.0), version), "FaceDetail": detail}
                   for n, (_, detail) in zip(new, keep)]
        return {"FaceRecords": records, "FaceModelVersion": version, "UnindexedFaces": unindexed}

    def list_faces(self, *, collection_id: str, next_token: str | None = None, max_results: int | None = None,
                   user_id: str | None = None, face_ids: list[str] | None = None) -> dict[str, Any]:
        cid = validation.collection_id(collection_id)
        row = self.store.collection(cid)
        limit = validation.int_range("MaxResults", max_results, 0, 4096, 1000)
        uid = validation.user_id(user_id) if user_id is not None else None
        fids = validation.face_ids(face_ids) if face_ids else None
        listing = f"faces:{cid}:{uid}:{','.join(fids or [])}"
        after = self.paginator.after(listing, next_token)
        rows = self.store.faces(cid, after=after, limit=limit + 1, user_id=uid, face_ids=fids)
        out: dict[str, Any] = {"Faces": [face_record(r, row.face_model) for r in rows[:limit]],
                               "FaceModelVersion": row.face_model}
        if len(rows) > limit and limit > 0:
            out["NextToken"] = self.paginator.token(listing, rows[limit - 1].face_id)
        return out

    def delete_faces(self, *, collection_id: str, face_ids: list[str]) -> dict[str, Any]:
        cid = validation.collection_id(collection_id)
        fids = validation.face_ids(face_ids)
        with self._lock:
            self.store.collection(cid)
            existing = {r.face_id: r for r in self.store.faces(cid, face_ids=fids, limit=len(fids))}
            unsuccessful = []
            deletable = []
            for f in fids:
                row = existing.get(f)
                if row is None:
                    unsuccessful.append({"FaceId": f, "Reasons": ["FACE_NOT_FOUND"]})
                elif row.user_id is not None:
                    unsuccessful.append({"FaceId": f, "UserId": row.user_id,
                                         "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"]})
                else:
                    deletable.append(f)
            idx = self.index(cid)
            deleted = self.store.delete_faces(cid, deletable)
            idx.remove(deleted)
            self._changed(cid, len(deleted))
        return {"DeletedFaces": deleted, "UnsuccessfulFaceDeletions": unsuccessful}

    # --- search ---------------------------------------------------------------------------
    def search_vector(self, collection_id: str, vector: np.ndarray, *, threshold: float, k: int,
                      exclude: set[str] | None = None) -> list[tuple[Hit, float]]:
        """(hit, Similarity) pairs at or above the Similarity threshold, best first."""
        cal = self.engine.calibration
        min_score = cal.score_for(threshold) if threshold > 0 else -1.0
        extra = len(exclude) if exclude else 0
        with self._lock:
            idx = self.index(collection_id)
        hits = idx.search(vector, k=k + extra, min_score=min_score)
        out = [(h, float(cal.similarity(h.score))) for h in hits if not exclude or h.face_id not in exclude]
        return [(h, s) for h, s in out if s >= threshold][:k]

    def _matches(self, cid: str, version: str, hits: list[tuple[Hit, float]]) -> list[dict[str, Any]]:
        rows = {r.face_id: r for r in self.store.faces(cid, face_ids=[h.face_id for h, _ in hits],
                                                        limit=len(hits))} if hits else {}
        return [{"Similarity": round(s, 5), "Face": face_record(rows[h.face_id], version)}
                for h, s in hits if h.face_id in rows]

    def search_faces(self, *, collection_id: str, face_id: str, max_faces: int | None = None,
                     face_match_threshold: float | None = None) -> dict[str, Any]:
        version = self._collection_model(collection_id)
        fid = validation.face_id(face_id)
        k = validation.int_range("MaxFaces", max_faces, 1, 4096, 80)
        t = validation.threshold("FaceMatchThreshold", face_match_threshold, 80.0)
        vec = self.store.face_vectors(collection_id, [fid]).get(fid)
        if vec is None:
            raise ResourceNotFoundException(f"face {fid} does not exist in collection {collection_id!r}")
        hits = self.search_vector(collection_id, vec, threshold=t, k=k, exclude={fid})
        return {"SearchedFaceId": fid, "FaceMatches": self._matches(collection_id, version, hits),
                "FaceModelVersion": version}

    def probe(self, image: ImageInput, quality_filter: str | None) -> tuple[Any, Any, dict[str, Any], list[Any]]:
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

    def search_faces_by_image(self, *, collection_id: str, image: ImageInput, max_faces: int | None = None,
                              face_match_threshold: float | None = None,
                              quality_filter: str | None = None) -> dict[str, Any]:
        version = self._collection_model(collection_id)
        k = validation.int_range("MaxFaces", max_faces, 1, 4096, 80)
        t = validation.threshold("FaceMatchThreshold", face_match_threshold, 80.0)
        _, face, detail, _ = self.probe(image, quality_filter)
        hits = self.search_vector(collection_id, face.embedding, threshold=t, k=k)
        return {"SearchedFaceBoundingBox": detail["BoundingBox"], "SearchedFaceConfidence": detail["Confidence"],
                "FaceMatches": self._matches(collection_id, version, hits), "FaceModelVersion": version}
