"""Moving a collection to another face model in place: FaceIds, UserIds, ExternalImageIds,
creation times (so retention) and the policy stay; only the vectors and the pinned model change.

Embeddings cannot be converted between models: each face is embedded again from the image it
was indexed from. ClearSight keeps no images, but it keeps the path of every file a folder index
(``clearsight index``) read. A face can be migrated when that file still exists (or a file of the
same name is in the folder given as ``images``) and the face is found in it again (IoU >= 0.5
with its stored box). New vectors are staged face by face, so a run that stops resumes where it
was; when every face has one, the collection switches in one transaction, recorded in the audit
chain. Faces that cannot be embedded again block the switch until their images are supplied or
the faces are deleted (``drop_missing`` deletes them through DeleteFaces, erasure included).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import params
from ..errors import ClearSightError
from ..geometry import iou
from ..policy.audit import audited, current_record
from ..storage.base import FaceRow
from .service import Collections

MATCH_IOU = 0.5  # a face found again in its image overlaps its stored box at least this much
Progress = Callable[[int, int], None]


class Migrator:
    """``clearsight collection migrate``: re-embed a collection's faces with the running model."""

    def __init__(self, collections: Collections) -> None:
        self.c = collections
        self.store = collections.store
        self.audit = collections.audit

    def _faces(self, cid: str) -> list[FaceRow]:
        rows: list[FaceRow] = []
        while batch := self.store.faces(cid, after=rows[-1].face_id if rows else "", limit=1000,
                                        include_expired=True):
            rows += batch
        return rows

    def _image_path(self, source: str | None, images: Path | None) -> Path | None:
        if source is None:
            return None
        if images is not None and (images / Path(source).name).is_file():
            return images / Path(source).name
        return Path(source) if Path(source).is_file() else None

    def _embed_again(self, path: Path, rows: list[FaceRow]) -> tuple[dict[str, np.ndarray], str | None]:
        """The new vectors of these faces of one image, and why some could not be made."""
        try:
            img = self.c.decode(path)
        except ClearSightError as exc:
            return {}, f"the image no longer decodes ({exc.code}: {exc.message})"
        found = self.c.faces.detect(img.rgb, max_faces=100)
        size = np.array([img.width, img.height, img.width, img.height], np.float64)
        pairs: dict[str, int] = {}
        for row in rows:
            b = row.bbox
            old = np.array([b["Left"], b["Top"], b["Left"] + b["Width"], b["Top"] + b["Height"]]) * size
            overlaps = [iou(old, f.box) for f in found]
            best = int(np.argmax(overlaps)) if overlaps else -1
            if best >= 0 and overlaps[best] >= MATCH_IOU and best not in pairs.values():
                pairs[row.face_id] = best
        faces = [found[i] for i in pairs.values()]
        self.c.faces.embed(img.rgb, faces)
        vectors = {fid: f.embedding for fid, f in zip(pairs, faces) if f.embedding is not None}
        return vectors, None if len(vectors) == len(rows) else "the face was not found again in its image"

    @audited("MigrateCollection")
    def migrate(self, *, collection_id: str, images: Path | None = None, drop_missing: bool = False,
                progress: Progress | None = None) -> dict[str, Any]:
        """Stage a new vector for every face not staged yet, then switch the collection if none is
        missing. The answer says what was done and lists each face that could not be migrated."""
        cid = params.collection_id(collection_id)
        rec = current_record()
        rec.collection = cid
        row = self.store.collection(cid)
        target = self.c.model_version
        out: dict[str, Any] = {"CollectionId": cid, "FromModel": row.face_model, "ToModel": target}
        if row.face_model == target:
            rec.results = [{"Status": "ALREADY_CURRENT"}]
            self.audit.append(rec)
            return {**out, "Status": "ALREADY_CURRENT", "Faces": self.store.counts(cid)[0], "Missing": []}
        faces = self._faces(cid)
        staged = self.store.staged_faces(cid, target)
        todo: dict[str, list[FaceRow]] = {}
        for f in faces:
            if f.face_id not in staged:
                todo.setdefault(f.image_id, []).append(f)
        sources = self.store.image_sources(cid)
        missing: list[dict[str, Any]] = []
        for done, (image_id, rows) in enumerate(sorted(todo.items()), 1):
            path = self._image_path(sources.get(image_id), images)
            if path is None:
                why: str | None = ("its image was sent as bytes (no file recorded)" if image_id not in sources
                                   else f"its image file is gone: {sources[image_id]}")
                vectors: dict[str, np.ndarray] = {}
            else:
                vectors, why = self._embed_again(path, rows)
                if vectors:
                    self.store.stage_vectors(cid, target, vectors)
            missing += [{"FaceId": r.face_id, "ExternalImageId": r.external_image_id, "ImageId": image_id,
                         "Source": sources.get(image_id), "Reason": why} for r in rows if r.face_id not in vectors]
            if progress:
                progress(done, len(todo))
        staged_now = len(faces) - len(missing)
        out.update(Faces=len(faces), Staged=staged_now, Missing=missing)
        if missing and drop_missing:
            gone = set(self.c.delete_faces(collection_id=cid, face_ids=[m["FaceId"] for m in missing])["DeletedFaces"])
            out["DeletedFaces"] = sorted(gone)
            missing = out["Missing"] = [m for m in missing if m["FaceId"] not in gone]  # a user's faces stay
        if missing:
            rec.results = [{"Status": "INCOMPLETE", "Staged": staged_now, "Missing": len(missing)}]
            self.audit.append(rec)
            return {**out, "Status": "INCOMPLETE"}
        rec.results = [{"Status": "MIGRATED", "FromModel": row.face_model, "ToModel": target}]
        with self.c._lock:
            n = self.store.switch_model(cid, target, self.c.calibration.recipe.dimension, audit=self.audit.hook(rec))
            self.c.forget_index(cid)
        return {**out, "Status": "MIGRATED", "Faces": n, "Missing": []}
