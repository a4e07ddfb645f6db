"""Collection operations with Rekognition semantics: collections, faces and face search.

``Collections`` owns the store of record and the vector indexes. Arguments are Rekognition's
request fields in snake_case (the HTTP layer converts names and nothing else); results are
Rekognition-shaped dicts. Users are in :mod:`.users`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import params, quality
from ..datadir import other_server_running, process_alive, secure
from ..errors import AccessDeniedException, ClearSightError, InvalidParameterException
from ..faces import Face, parse_attributes
from ..geometry import bounding_box
from ..images import ImageInput
from ..policy.audit import AuditLog, AuditRecord, audited, current_record
from ..policy.context import current
from ..policy.policies import TAG_PREFIX, CollectionPolicy
from ..policy.scopes import may_use
from ..storage.backends import open_store
from ..storage.base import FaceRow, NewFace, Store, VectorIndex
from ..storage.index import ExactIndex, FastScanIndex, ScanIndex, load_index, snapshot_name, snapshot_path
from .search import SearchOps

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..calibration import Calibration
    from ..faces import FaceAnalyzer
    from ..images import DecodedImage
    from ..settings import Settings

log = logging.getLogger("clearsight.collections")

ARN_PREFIX = "arn:aws:rekognition:local:000000000000:collection/"
SNAPSHOT_EVERY = 20_000  # changes between index snapshots
MIN_SCAN_FACES = 1_000  # the compressed scan's PCA needs a real sample; below this exact search is instant


def _in_progress(path: Path) -> bool:
    """A snapshot temporary file that a live process is still writing (``<name>.<pid>.<hex>.tmp``)."""
    parts = path.name.split(".")
    if path.suffix != ".tmp" or len(parts) < 4 or not parts[-3].isdigit():
        return False
    pid = int(parts[-3])
    if pid == os.getpid():
        return False  # this process writes snapshots under the lock held by the caller
    return process_alive(pid)


def face_record(row: FaceRow, model_version: str) -> dict[str, Any]:
    face: dict[str, Any] = {"FaceId": row.face_id, "BoundingBox": row.bbox, "ImageId": row.image_id,
                            "Confidence": row.confidence, "IndexFacesModelVersion": model_version}
    if row.external_image_id is not None:
        face["ExternalImageId"] = row.external_image_id
    if row.user_id is not None:
        face["UserId"] = row.user_id
    return face


class Collections(SearchOps):
    """Collections, faces and face search over one data directory. Built by the Engine
    (:meth:`~clearsight.engine.Engine.open_collections`), which hands it what it needs: settings,
    the face pipeline, the calibration and the image decoder; ``store`` is the store of record
    (default: the one ``storage_url`` names, SQLite in the data directory unless set; the in-memory
    double plugs in here too)."""

    def __init__(self, data_dir: Path, *, settings: Settings, faces: FaceAnalyzer, calibration: Calibration,
                 decode: Callable[[ImageInput], DecodedImage], store: Store | None = None) -> None:
        self.settings = settings
        self.faces = faces
        self.calibration = calibration
        self.decode = decode
        self.data_dir = data_dir
        secure(data_dir)  # 0700, every file in it 0600 (a directory made by an older version too)
        self.store: Store = store if store is not None else open_store(settings.storage_url, data_dir)
        self.audit = AuditLog(self.store, settings, data_dir=data_dir)
        self.paginator = params.Paginator(self._secret())
        self._indexes: dict[str, VectorIndex] = {}
        self.ann_threshold = int(settings.ann_threshold)
        self.ivf_threshold = int(settings.ivf_threshold)  # from here FastScanIndex: int8 ranking, rows on disk
        self.ann_candidates = int(settings.ann_candidates)
        self.erase_after = float(settings.erase_after)
        self._lock = threading.RLock()  # guards _indexes and orders write + index update (all mutations)
        self._since_snapshot = 0
        self._eraser: threading.Timer | None = None

    @property
    def model_version(self) -> str:
        """The face model version this process embeds with (collections are pinned to theirs)."""
        return self.calibration.model_version

    @property
    def erasure_pending(self) -> bool:
        """Whether a deletion (by this process or another) is not yet erased from every file."""
        return self.store.pending_erasures() > 0

    def _secret(self) -> bytes:
        path = self.data_dir / "token.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(32))
        return path.read_bytes()

    # --- index lifecycle ------------------------------------------------------------------
    def forget_index(self, collection_id: str) -> None:
        """Drop the collection's index and its snapshot (rebuilt from the store when next used)."""
        self._indexes.pop(collection_id, None)
        self._index_path(collection_id).unlink(missing_ok=True)

    def _index_path(self, collection_id: str) -> Path:
        return snapshot_path(self.data_dir / "index", collection_id)  # bounded: long ids are hashed

    def index(self, collection_id: str) -> VectorIndex:
        """The collection's index, current with the change log whoever wrote it (this process, a CLI
        command beside the server...): from memory or its snapshot, caught up; else rebuilt."""
        with self._lock:
            idx = self._indexes.get(collection_id)
            if idx is None:
                idx = self._load(collection_id)
            idx = self._indexes[collection_id] = self._catch_up(collection_id, idx)
            self._maybe_switch(collection_id)
            return self._indexes[collection_id]

    def current_index(self, collection_id: str) -> VectorIndex:
        """For searches: the loaded index if no process logged a change since it (one cheap query,
        no lock, so a snapshot or an erasure in progress does not stall searches), else caught up."""
        idx = self._indexes.get(collection_id)
        if idx is not None and self.store.last_change() == idx.seq:
            return idx
        with self._lock:
            return self.index(collection_id)

    def _load(self, collection_id: str) -> VectorIndex:
        row = self.store.collection(collection_id)
        native = self.store.vector_index(collection_id, candidates=self.ann_candidates)
        if native is not None:  # the database keeps the index itself (PostgreSQL): nothing to load
            return native
        idx = load_index(self._index_path(collection_id), collection_id, row.dimension,
                         max_count=self.store.faces_ever())
        if idx is None or idx.seq > self.store.last_change():
            return self._rebuild(collection_id)
        return idx

    def _rebuild(self, collection_id: str) -> VectorIndex:
        row = self.store.collection(collection_id)
        native = self.store.vector_index(collection_id, candidates=self.ann_candidates)
        if native is not None:
            return native
        ids, mat, seq = self.store.all_vectors(collection_id)
        idx = self._new_index(row.dimension, ids, mat)
        idx.seq = seq
        if isinstance(idx, FastScanIndex):  # its float32 rows go to the snapshot, out of RAM
            idx.save(self._index_path(collection_id), collection_id)
        return idx

    def _new_index(self, dimension: int, ids: list[str], mat: np.ndarray) -> VectorIndex:
        """Exact search while it is fast enough; a compressed scan with exact re-scoring above
        ``ann_threshold`` faces; 4-bit fast-scan codes with float32 rows on disk above ``ivf_threshold``."""
        if len(ids) >= max(self.ann_threshold, self.ivf_threshold):
            return FastScanIndex.build(ids, mat, candidates=self.ann_candidates)
        if len(ids) >= max(self.ann_threshold, MIN_SCAN_FACES):
            return ScanIndex.build(ids, mat, candidates=self.ann_candidates)
        exact = ExactIndex(dimension)
        exact.add(ids, mat)
        return exact

    def _maybe_switch(self, collection_id: str) -> None:
        idx = self._indexes.get(collection_id)
        if isinstance(idx, ExactIndex) and len(idx) >= max(self.ann_threshold, MIN_SCAN_FACES):
            ivf = ScanIndex.build(list(idx.ids), idx.matrix.copy(), candidates=self.ann_candidates)
            ivf.seq = idx.seq
            self._indexes[collection_id] = ivf
            ivf.save(self._index_path(collection_id), collection_id)
        elif isinstance(idx, ScanIndex) and len(idx) >= max(self.ann_threshold, self.ivf_threshold):
            big = FastScanIndex.build(list(idx.ids), idx.exact.matrix.copy(), candidates=self.ann_candidates)
            big.seq = idx.seq
            self._indexes[collection_id] = big
            big.save(self._index_path(collection_id), collection_id)  # maps the rows: the RAM copy goes

    def _catch_up(self, collection_id: str, idx: VectorIndex) -> VectorIndex:
        """Apply the changes logged after the index's seq (by any process). When the log was
        compacted past it (another process snapshotted), reconcile with the faces table instead;
        when the collection was dropped and maybe recreated, or the database is older than the
        index (restored from a backup), rebuild."""
        changes, last, floor = self.store.log_after(idx.seq, collection_id)
        if last == idx.seq:
            return idx
        if last < idx.seq or any(op == "del" and not face_id for _, face_id, op in changes):
            return self._rebuild(collection_id)
        if floor > idx.seq:
            return self._reconcile(collection_id, idx)
        vectors = self.store.face_vectors(collection_id, [f for _, f, op in changes if op == "add" and f not in idx])
        for _, face_id, op in changes:
            if op == "add" and face_id in vectors:
                idx.add([face_id], vectors[face_id][None, :])
            elif op == "del":
                idx.remove([face_id])
        idx.seq = last  # changes and last come from one state of the database
        return idx

    def _reconcile(self, collection_id: str, idx: VectorIndex) -> VectorIndex:
        ids, seq = self.store.face_ids(collection_id)
        have = set(idx.ids)
        idx.remove(sorted(have - ids))
        vectors = self.store.face_vectors(collection_id, sorted(ids - have))
        if vectors:
            idx.add(list(vectors), np.stack(list(vectors.values())).astype(np.float32))
        idx.seq = seq
        return idx

    def snapshot(self, *, compact: bool | None = None) -> None:
        """Persist every loaded index, then drop change-log entries all snapshots cover. While another
        process serves this directory, a CLI command leaves the log alone (unless erasing), so the
        server catches up from the log rather than reconciling with the faces table."""
        with self._lock:
            for cid, idx in self._indexes.items():
                idx.save(self._index_path(cid), cid)
            self._since_snapshot = 0
            floor = min((i.seq for i in self._indexes.values()), default=self.store.last_change())
            if compact is None:
                compact = not other_server_running(self.data_dir)
            if compact and len(self._indexes) == len(self.store.collection_ids(limit=1_000_000)):
                self.store.compact_changes(floor)

    def close(self) -> None:
        if self._eraser is not None:
            self._eraser.cancel()
        self.snapshot()
        self.store.close()

    def _changed(self, collection_id: str, n: int) -> None:
        """After this process wrote: follow the log (its own changes and any other process's)."""
        idx = self._indexes.get(collection_id)
        if idx is not None:
            self._indexes[collection_id] = self._catch_up(collection_id, idx)
        self._maybe_switch(collection_id)
        self._since_snapshot += n
        if self._since_snapshot >= SNAPSHOT_EVERY:
            self.snapshot()

    # --- accountability -------------------------------------------------------------------
    def policy(self, collection_id: str) -> CollectionPolicy:
        return CollectionPolicy.from_json(self.store.policy_json(collection_id))

    @audited("SetCollectionPolicy")
    def set_policy(self, collection_id: str, **changes: Any) -> CollectionPolicy:
        """Change a collection's policy: admin keys only; the change is audited."""
        cid = params.collection_id(collection_id)
        rec = current_record()
        rec.collection = cid

        if "admin" not in current().scopes:
            raise AccessDeniedException("only an admin-scoped key may change a collection's policy")
        new = self.policy(cid).with_changes(**changes)
        rec.results = [{"Policy": new.to_json()}]
        self.store.set_policy_json(cid, new.to_json(), audit=self.audit.hook(rec))
        return self.policy(cid)

    def purge_expired(self, now: float | None = None) -> dict[str, list[str]]:
        """Delete faces older than their collection's retention period (audited), then erase."""
        now = time.time() if now is None else now
        purged: dict[str, list[str]] = {}
        for cid in self.store.collection_ids(limit=1_000_000):
            days = self.policy(cid).retention_days
            if days <= 0:
                continue
            expired = self.store.expired_faces(cid, now - days * 86400)
            if not expired:
                continue
            rec = AuditRecord("RetentionPurge", cid, detail=f"retention {days:g} days")
            with self._lock:
                idx = self.index(cid)
                self.store.set_face_users(cid, expired, None)
                deleted = self.store.delete_faces(cid, expired, audit=self.audit.delete_hook(rec),
                                                  receipt=str(uuid.uuid4()), operation="RetentionPurge")
                idx.remove(deleted)
                self._changed(cid, len(deleted))
            purged[cid] = deleted
        if purged:
            self.complete_erasure()
        return purged

    def complete_erasure(self) -> None:
        """Leave nothing recoverable of deleted faces: bring every index up to date and rewrite its
        snapshot (deleted vectors are not in them), drop snapshots of deleted collections and stale
        temporary files, drop the change log (it names deleted faces; every index here has applied
        it, another process's index reconciles), then VACUUM the database and truncate its WAL (with
        secure_delete on, freed pages were already zeroed), and only then mark the receipts done."""
        with self._lock:
            upto = self.store.pending_erasures()
            live = set(self.store.collection_ids(limit=1_000_000))
            keep = {snapshot_name(cid) for cid in live}
            for cid in list(self._indexes):
                if cid not in live:
                    del self._indexes[cid]
            for cid in live:
                self.index(cid)
            self.snapshot(compact=True)
            for path in (self.data_dir / "index").glob("*"):
                if path.name in keep or _in_progress(path):
                    continue
                path.unlink(missing_ok=True)
            self.store.vacuum()
            if upto:
                self.store.complete_erasures(upto, time.time())

    def erasure_receipt(self, receipt_id: str) -> dict[str, Any]:
        """What became of a deletion: the ClearSightErasure receipt, now."""
        row = self.store.erasure(receipt_id)
        if row is None:
            raise InvalidParameterException(f"no erasure receipt {receipt_id!r}")
        out: dict[str, Any] = {
            "ReceiptId": row["receipt_id"], "Operation": row["operation"], "CollectionId": row["collection_id"],
            "FaceCount": row["faces"], "RequestedAt": row["requested"], "Complete": row["completed"] is not None}
        if row["completed"] is not None:
            out["CompletedAt"] = row["completed"]
            out["Note"] = ("the deleted faces' vectors and identifiers are gone from the database, its WAL and the "
                           "index files (index snapshots rewritten, change log dropped, VACUUM, WAL truncated); "
                           "the audit trail keeps its record of the operation")
        else:
            out["Note"] = ("the deleted faces are gone from every search and listing now; their bytes are erased "
                           "from the files in the background (ask again with this ReceiptId, or run "
                           "`clearsight erase`)")
        return out

    def _after_delete(self, receipt: str | None) -> dict[str, Any]:
        """Erase now when the database is small (erase_sync_bytes), else in the background
        (erase_after seconds later, coalescing deletions) and at the server's maintenance."""
        if receipt is None or self.store.erasure(receipt) is None:
            return {"Complete": True, "Note": "no face was deleted: nothing to erase"}
        if self.store.size_bytes() <= int(self.settings.erase_sync_bytes):
            try:
                self.complete_erasure()
            except (ClearSightError, OSError):  # the deletion is committed: answer it, erase later
                log.exception("erasure after a deletion failed; it is retried in the background")
                self._schedule_erasure()
        else:
            self._schedule_erasure()
        return self.erasure_receipt(receipt)

    def _schedule_erasure(self) -> None:
        with self._lock:
            if self.erase_after <= 0 or (self._eraser is not None and self._eraser.is_alive()):
                return
            self._eraser = threading.Timer(self.erase_after, self._erase_in_background)
            self._eraser.daemon = True
            self._eraser.start()

    def _erase_in_background(self) -> None:
        try:
            self.complete_erasure()
        except ClearSightError:  # retried by the next deletion, the maintenance loop or `clearsight erase`
            log.exception("background erasure failed")

    # --- collections ----------------------------------------------------------------------
    @audited("CreateCollection")
    def create_collection(self, *, collection_id: str, tags: dict[str, str] | None = None) -> dict[str, Any]:
        cid = params.collection_id(collection_id)
        rec = current_record()
        rec.collection = cid

        policy_tags = sorted(k for k in tags or {} if k.startswith(TAG_PREFIX))
        if policy_tags and "admin" not in current().scopes:
            raise AccessDeniedException(
                f"only an admin-scoped key may set a collection's policy; the tag(s) {', '.join(policy_tags)} "
                "set one (create the collection without them)")
        version = self.model_version
        policy = CollectionPolicy.from_tags(tags)
        with self._lock:
            self.store.create_collection(cid, version, self.calibration.recipe.dimension, tags)
            if policy != CollectionPolicy():
                rec.operation, rec.results = "SetCollectionPolicy", [{"Policy": policy.to_json()}]
                self.store.set_policy_json(cid, policy.to_json(), audit=self.audit.hook(rec))
            self.forget_index(cid)
        return {"StatusCode": 200, "CollectionArn": ARN_PREFIX + cid, "FaceModelVersion": version}

    def describe_collection(self, *, collection_id: str) -> dict[str, Any]:
        """Counts, model and ARN only: no identity is disclosed, so nothing is audited (ListFaces and
        ListUsers, which name the enrolled, are)."""
        row = self.store.collection(params.collection_id(collection_id))
        faces, users = self.store.counts(row.collection_id)
        return {"FaceCount": faces, "FaceModelVersion": row.face_model, "CollectionARN": ARN_PREFIX + row.collection_id,
                "CreationTimestamp": row.created, "UserCount": users}

    def list_collections(self, *, max_results: int | None = None, next_token: str | None = None) -> dict[str, Any]:
        """The collections the caller's key may use (its collection patterns), paginated over those only."""
        limit = params.int_range("MaxResults", max_results, 0, 4096, 1000)
        caller = current()

        def visible(after: str, n: int) -> list[str]:
            """The first ``n`` collection ids after ``after`` that the caller's key covers."""
            ids: list[str] = []
            while len(ids) < n:
                batch = self.store.collection_ids(after, 1000)
                if not batch:
                    break
                ids += [c for c in batch if may_use(caller, c)]
                after = batch[-1]
            return ids[:n]

        ids, token = self.paginator.page("collections", next_token, limit, visible, lambda c: c)
        out: dict[str, Any] = {"CollectionIds": ids,
                               "FaceModelVersions": [self.store.collection(c).face_model for c in ids]}
        if token is not None:
            out["NextToken"] = token
        return out

    @audited("DeleteCollection")
    def delete_collection(self, *, collection_id: str) -> dict[str, Any]:
        cid = params.collection_id(collection_id)
        rec = current_record()
        rec.collection = cid

        receipt = str(uuid.uuid4())
        with self._lock:
            rec.results = [{"DeletedFaceCount": self.store.counts(cid)[0]}]
            n = self.store.delete_collection(cid, audit=self.audit.hook(rec), receipt=receipt)
            self.forget_index(cid)
        return {"StatusCode": 200, "ClearSightErasure": {"DeletedFaces": n, **self._after_delete(receipt)}}

    def _collection_model(self, collection_id: str) -> str:
        row = self.store.collection(params.collection_id(collection_id))
        if row.face_model != self.model_version:
            raise InvalidParameterException(
                f"collection {collection_id!r} holds {row.face_model} embeddings but this server runs "
                f"{self.model_version}; start it with CLEARSIGHT_FACE_MODEL={row.face_model}, or move the "
                f"collection to {self.model_version} with `clearsight collection migrate {collection_id}` "
                "(docs/accuracy.md, 'Changing the face model')")
        return row.face_model

    # --- faces ----------------------------------------------------------------------------
    @audited("IndexFaces")
    def index_faces(self, *, collection_id: str, image: ImageInput, external_image_id: str | None = None,
                    detection_attributes: list[str] | None = None, max_faces: int | None = None,
                    quality_filter: str | None = None, source: str | None = None) -> dict[str, Any]:
        rec = current_record()
        return self._index_faces(rec, collection_id, image, external_image_id,
                                                           detection_attributes, max_faces, quality_filter, source)

    def _index_faces(self, rec: AuditRecord, collection_id: str, image: ImageInput, external_image_id: str | None,
                     detection_attributes: list[str] | None, max_faces: int | None, quality_filter: str | None,
                     source: str | None) -> dict[str, Any]:
        version = self._collection_model(collection_id)
        ext = params.external_image_id(external_image_id)
        limit = params.int_range("MaxFaces", max_faces, 1, 100, 100)
        qf = quality.level(quality_filter, "AUTO")
        attrs = parse_attributes(detection_attributes or ["DEFAULT"])
        img = self.decode(image)
        faces = self.faces.detect(img.rgb)
        details = [self.faces.face_detail(img.rgb, f, attrs) for f in faces]
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
        self.faces.embed(img.rgb, [f for f, _ in keep])
        image_id = str(uuid.uuid4())
        rec.probe_sha256 = img.sha256
        new = [NewFace(str(uuid.uuid4()), image_id, ext, bounding_box(f.box, img.width, img.height),
                       round(100.0 * f.score, 3), f.embedding) for f, _ in keep if f.embedding is not None]
        with self._lock:
            idx = self.index(collection_id)
            rec.gallery_size = len(idx)
            rec.results = [{"FaceId": n.face_id, "ExternalImageId": ext} for n in new]
            self.store.add_faces(collection_id, new, source=source, image_id=image_id, audit=self.audit.hook(rec))
            if new:
                idx.add([n.face_id for n in new], np.stack([n.vector for n in new]).astype(np.float32))
            self._changed(collection_id, len(new))
        records = [{"Face": face_record(FaceRow(n.face_id, collection_id, image_id, ext, n.bbox, n.confidence,
                                                None, 0.0), version), "FaceDetail": detail}
                   for n, (_, detail) in zip(new, keep)]
        return {"FaceRecords": records, "FaceModelVersion": version, "UnindexedFaces": unindexed}

    @audited("ListFaces")
    def list_faces(self, *, collection_id: str, next_token: str | None = None, max_results: int | None = None,
                   user_id: str | None = None, face_ids: list[str] | None = None) -> dict[str, Any]:
        """ListFaces discloses who is enrolled (ExternalImageIds are often names): audited, with the
        ids listed (as pseudonyms)."""
        cid = params.collection_id(collection_id)
        rec = current_record()
        rec.collection = cid

        row = self.store.collection(cid)
        limit = params.int_range("MaxResults", max_results, 0, 4096, 1000)
        uid = params.user_id(user_id) if user_id is not None else None
        fids = params.face_ids(face_ids) if face_ids else None
        listing = f"faces:{cid}:{uid}:{','.join(fids or [])}"
        after = self.paginator.after(listing, next_token)
        rows = self.store.faces(cid, after=after, limit=limit + 1, user_id=uid, face_ids=fids)
        faces = [face_record(r, row.face_model) for r in rows[:limit]]
        out: dict[str, Any] = {"Faces": faces, "FaceModelVersion": row.face_model}
        if len(rows) > limit and limit > 0:
            out["NextToken"] = self.paginator.token(listing, rows[limit - 1].face_id)
        rec.results = [{k: f[k] for k in ("FaceId", "ExternalImageId", "UserId") if k in f} for f in faces]
        self.audit.append(rec)  # recorded before it is answered
        return out

    @audited("DeleteFaces")
    def delete_faces(self, *, collection_id: str, face_ids: list[str]) -> dict[str, Any]:
        cid = params.collection_id(collection_id)
        rec = current_record()
        rec.collection = cid
        return self._delete_faces(rec, cid, face_ids)

    def _delete_faces(self, rec: AuditRecord, cid: str, face_ids: list[str]) -> dict[str, Any]:
        fids = params.face_ids(face_ids)
        with self._lock:
            self.store.collection(cid)
            existing = {r.face_id: r for r in self.store.faces(cid, face_ids=fids, limit=len(fids),
                                                               include_expired=True)}
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
            receipt = str(uuid.uuid4())
            deleted = self.store.delete_faces(cid, deletable, audit=self.audit.delete_hook(rec), receipt=receipt)
            idx.remove(deleted)  # O(1) a face: the vector is overwritten in memory at once
            self._changed(cid, len(deleted))
        return {"DeletedFaces": deleted, "UnsuccessfulFaceDeletions": unsuccessful,
                "ClearSightErasure": self._after_delete(receipt if deleted else None)}

