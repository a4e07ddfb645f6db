"""User operations: a user is a set of up to 100 faces of one person in a collection.

Searching users scores each user by its best-matching face (the maximum Similarity over the
user's faces), so a user with several enrolled photos is found from any of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import params
from ..errors import (
    AccessDeniedException,
    InvalidParameterException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
)
from ..images import ImageInput
from ..policy.audit import AuditRecord, audited, current_record
from ..policy.context import current
from ..policy.policies import enforce
from ..storage.base import Hit
from .service import Collections

MAX_FACES_PER_USER = 100


class Users:
    def __init__(self, collections: Collections) -> None:
        self.c = collections
        self.store = collections.store
        self.audit = collections.audit

    def create_user(self, *, collection_id: str, user_id: str, client_request_token: str | None = None
                    ) -> dict[str, Any]:
        cid, uid = params.collection_id(collection_id), params.user_id(user_id)
        self.store.create_user(cid, uid)
        return {}

    @audited("DeleteUser")
    def delete_user(self, *, collection_id: str, user_id: str, client_request_token: str | None = None
                    ) -> dict[str, Any]:
        cid, uid = params.collection_id(collection_id), params.user_id(user_id)
        rec = current_record()
        rec.collection = cid
        rec.results = [{"UserId": uid}]

        self.store.delete_user(cid, uid, audit=self.c.audit.hook(rec))
        return {}

    @audited("ListUsers")
    def list_users(self, *, collection_id: str, max_results: int | None = None, next_token: str | None = None
                   ) -> dict[str, Any]:
        """ListUsers discloses who is enrolled: audited, with the UserIds listed (as pseudonyms)."""
        cid = params.collection_id(collection_id)
        rec = current_record()
        rec.collection = cid

        self.store.collection(cid)
        limit = params.int_range("MaxResults", max_results, 1, 500, 500)
        listing = f"users:{cid}"
        rows = self.store.users(cid, after=self.c.paginator.after(listing, next_token), limit=limit + 1)
        out: dict[str, Any] = {"Users": [{"UserId": u, "UserStatus": "ACTIVE"} for u in rows[:limit]]}
        if len(rows) > limit:
            out["NextToken"] = self.c.paginator.token(listing, rows[limit - 1])
        rec.results = [{"UserId": u} for u in rows[:limit]]
        self.c.audit.append(rec)  # recorded before it is answered
        return out

    def _require_user(self, cid: str, uid: str) -> None:
        self.store.collection(cid)
        if not self.store.user_exists(cid, uid):
            raise ResourceNotFoundException(f"user {uid!r} does not exist in collection {cid!r}")

    @audited("AssociateFaces")
    def associate_faces(self, *, collection_id: str, user_id: str, face_ids: list[str],
                        user_match_threshold: float | None = None, client_request_token: str | None = None
                        ) -> dict[str, Any]:
        cid, uid = params.collection_id(collection_id), params.user_id(user_id)
        rec = current_record()
        rec.collection = cid
        rec.results = [{"UserId": uid}]
        return self._associate(rec, cid, uid, face_ids, user_match_threshold)

    def _score_gate(self, cid: str, threshold: float) -> None:
        """Comparing a face with the user's faces discloses a similarity (the Confidence of
        LOW_MATCH_CONFIDENCE, or that the face matched): the search gates apply, refused never adjusted."""
        caller = current()
        if not caller.scopes & {"search", "admin"}:
            raise AccessDeniedException(
                f"access key {caller.access_key_id} may not compare faces with a user's faces: AssociateFaces on a "
                "user who has faces discloses a similarity, which needs the search scope")
        enforce(self.c.policy(cid), collection=cid, threshold=threshold, max_results=1, purpose=caller.purpose)

    def _associate(self, rec: AuditRecord, cid: str, uid: str, face_ids: list[str],
                   user_match_threshold: float | None) -> dict[str, Any]:
        fids = params.face_ids(face_ids, most=100)
        rec.threshold = threshold = params.threshold("UserMatchThreshold", user_match_threshold, 75.0)
        with self.c._lock:
            self._require_user(cid, uid)
            current_faces = self.store.faces(cid, user_id=uid, limit=MAX_FACES_PER_USER + 1)
            rows = {r.face_id: r for r in self.store.faces(cid, face_ids=fids, limit=len(fids))}
            vectors = self.store.face_vectors(cid, [r.face_id for r in current_faces] + list(rows))
            user_vecs = [vectors[r.face_id] for r in current_faces if r.face_id in vectors]
            if user_vecs and any(f in rows and rows[f].user_id is None for f in fids):
                self._score_gate(cid, threshold)
            rec.gallery_size = len(user_vecs)
            associated: list[str] = []
            failed: list[dict[str, Any]] = []
            scores: dict[str, float] = {}
            for f in fids:
                row = rows.get(f)
                if row is None:
                    failed.append({"FaceId": f, "UserId": uid, "Reasons": ["FACE_NOT_FOUND"]})
                    continue
                if row.user_id == uid:
                    associated.append(f)
                    continue
                if row.user_id is not None:
                    failed.append({"FaceId": f, "UserId": uid, "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"]})
                    continue
                if user_vecs:
                    sim = float(np.max(self.c.calibration.similarity(np.array(user_vecs) @ vectors[f])))
                    scores[f] = round(sim, 3)
                    if sim < threshold:
                        failed.append({"FaceId": f, "UserId": uid, "Confidence": scores[f],
                                       "Reasons": ["LOW_MATCH_CONFIDENCE"]})
                        continue
                associated.append(f)
                user_vecs.append(vectors[f])
            new = [f for f in associated if rows[f].user_id != uid]
            # every disclosed score is recorded, with what it decided
            rec.results = [{"UserId": uid, "FaceId": f, **({"Similarity": scores[f]} if f in scores else {})}
                           for f in new] + [{"UserId": uid, "FaceId": x["FaceId"], "Similarity": x["Confidence"],
                                             "Reasons": x["Reasons"]} for x in failed if "Confidence" in x]
            if len(current_faces) + len(new) > MAX_FACES_PER_USER:
                raise ServiceQuotaExceededException(
                    f"user {uid!r} would have {len(current_faces) + len(new)} faces; the limit is "
                    f"{MAX_FACES_PER_USER}")
            self.store.set_face_users(cid, new, uid, audit=self.c.audit.hook(rec))
        return {"AssociatedFaces": [{"FaceId": f} for f in associated], "UnsuccessfulFaceAssociations": failed,
                "UserStatus": "ACTIVE"}

    @audited("DisassociateFaces")
    def disassociate_faces(self, *, collection_id: str, user_id: str, face_ids: list[str],
                           client_request_token: str | None = None) -> dict[str, Any]:
        cid, uid = params.collection_id(collection_id), params.user_id(user_id)
        rec = current_record()
        rec.collection = cid
        rec.results = [{"UserId": uid}]
        return self._disassociate(rec, cid, uid, face_ids)

    def _disassociate(self, rec: AuditRecord, cid: str, uid: str, face_ids: list[str]) -> dict[str, Any]:
        fids = params.face_ids(face_ids, most=100)
        with self.c._lock:
            self._require_user(cid, uid)
            rows = {r.face_id: r for r in self.store.faces(cid, face_ids=fids, limit=len(fids))}
            done, failed = [], []
            for f in fids:
                row = rows.get(f)
                if row is None:
                    failed.append({"FaceId": f, "UserId": uid, "Reasons": ["FACE_NOT_FOUND"]})
                elif row.user_id != uid:
                    failed.append({"FaceId": f, "UserId": uid, "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"]})
                else:
                    done.append(f)
            rec.results = [{"UserId": uid, "FaceId": f} for f in done]
            self.store.set_face_users(cid, done, None, audit=self.c.audit.hook(rec))
        return {"DisassociatedFaces": [{"FaceId": f} for f in done], "UnsuccessfulFaceDisassociations": failed,
                "UserStatus": "ACTIVE"}

    def _user_matches(self, cid: str, queries: list[np.ndarray], threshold: float, max_users: int,
                      exclude_user: str | None) -> tuple[list[dict[str, Any]], int]:
        best: dict[str, float] = {}
        gallery = 0
        for q in queries:
            hits: list[tuple[Hit, float]]
            hits, gallery = self.c.search_vector(cid, q, threshold=threshold, k=4096)
            rows = {r.face_id: r for r in self.store.faces(cid, face_ids=[h.face_id for h, _ in hits],
                                                            limit=len(hits))} if hits else {}
            for h, sim in hits:
                row = rows.get(h.face_id)
                if row is None or row.user_id is None or row.user_id == exclude_user:
                    continue
                best[row.user_id] = max(best.get(row.user_id, 0.0), sim)
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:max_users]
        return [{"Similarity": round(s, 5), "User": {"UserId": u, "UserStatus": "ACTIVE"}} for u, s in ranked], gallery

    def _answer(self, rec: AuditRecord, out: dict[str, Any], matches: list[dict[str, Any]], threshold: float,
                gallery: int) -> dict[str, Any]:
        rec.gallery_size = gallery
        rec.results = rec.results + [{"UserId": m["User"]["UserId"], "Similarity": m["Similarity"]} for m in matches]
        out["UserMatches"] = matches
        return self.c.record_and_answer(rec, out, threshold, gallery, len(matches))

    @audited("SearchUsers")
    def search_users(self, *, collection_id: str, user_id: str | None = None, face_id: str | None = None,
                     user_match_threshold: float | None = None, max_users: int | None = None) -> dict[str, Any]:
        cid = params.collection_id(collection_id)
        rec = current_record()
        rec.collection = cid
        return self._search_users(rec, cid, user_id, face_id, user_match_threshold,
                                                              max_users)

    def _search_users(self, rec: AuditRecord, cid: str, user_id: str | None, face_id: str | None,
                      user_match_threshold: float | None, max_users: int | None) -> dict[str, Any]:
        if (user_id is None) == (face_id is None):
            raise InvalidParameterException("give exactly one of UserId or FaceId")
        rec.threshold = threshold = params.threshold("UserMatchThreshold", user_match_threshold, 80.0)
        params.int_range("MaxUsers", max_users, 1, 500, 500)
        version, k = self.c.checked_search(rec, cid, threshold, max_users, 500)
        out: dict[str, Any] = {"FaceModelVersion": version}
        if face_id is not None:
            fid = params.face_id(face_id)
            vec = self.store.face_vectors(cid, [fid]).get(fid)
            if vec is None:
                raise ResourceNotFoundException(f"face {fid} does not exist in collection {cid!r}")
            queries, exclude = [vec], None
            out["SearchedFace"] = {"FaceId": fid}
            rec.results = [{"SearchedFaceId": fid}]
        else:
            uid = params.user_id(user_id)
            self._require_user(cid, uid)
            faces = self.store.faces(cid, user_id=uid, limit=MAX_FACES_PER_USER)
            queries = list(self.store.face_vectors(cid, [r.face_id for r in faces]).values())
            exclude = uid
            out["SearchedUser"] = {"UserId": uid}
            rec.results = [{"SearchedUserId": uid}]
        matches, gallery = self._user_matches(cid, queries, threshold, k, exclude)
        return self._answer(rec, out, matches, threshold, gallery)

    @audited("SearchUsersByImage")
    def search_users_by_image(self, *, collection_id: str, image: ImageInput, user_match_threshold: float | None = None,
                              max_users: int | None = None, quality_filter: str | None = None) -> dict[str, Any]:
        cid = params.collection_id(collection_id)
        rec = current_record()
        rec.collection = cid

        rec.threshold = threshold = params.threshold("UserMatchThreshold", user_match_threshold, 80.0)
        params.int_range("MaxUsers", max_users, 1, 500, 500)
        version, k = self.c.checked_search(rec, cid, threshold, max_users, 500)
        img = self.c.decode(image)
        rec.probe_sha256 = img.sha256
        probe = self.c.faces.probe(img, quality_filter)
        face, detail, others = probe.face, probe.detail, probe.others
        assert face.embedding is not None
        matches, gallery = self._user_matches(cid, [face.embedding], threshold, k, None)
        unsearched = [{"FaceDetails": self.c.faces.face_detail(img.rgb, f, "DEFAULT"),
                       "Reasons": ["FACE_NOT_LARGEST"]} for f in others]
        out = {"FaceModelVersion": version, "SearchedFace": {"FaceDetail": detail}, "UnsearchedFaces": unsearched}
        return self._answer(rec, out, matches, threshold, gallery)
