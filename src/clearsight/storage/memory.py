"""``MemoryStore``: a public in-memory double of :class:`~.base.Store`, with SQLite's answers.

For tests of code built on the store (``Collections(engine, data_dir, store=MemoryStore())``)
and as the reference a new backend is compared with: ``tests/storage/test_congruence.py`` runs
the same operation sequence on it and on SQLite and demands identical answers. Same ordering
(ids in code-point order, the change log by a seq never reused), same errors, same change log
and compaction floor, same retention rule, same erasure receipts and request tokens. Each write
is a transaction: the state's tables are copied before it and restored if the write or its
audit hook raises, so a failing audit record rolls the write back as it does in SQLite.
Nothing is persisted; ``vacuum`` and ``checkpoint`` have nothing to do.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import (
    ConflictException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    StorageError,
)
from .base import (
    TOKEN_TTL,
    AuditHook,
    CollectionRow,
    DeleteAuditHook,
    FaceRow,
    JobRow,
    NewFace,
    ProcessorRow,
    ResultRow,
    VectorIndex,
    retention_days,
    scrub_summary,
)
from .memory_processors import MemoryProcessors

__all__ = ["MemoryStore", "MemoryTx"]

WRITE_FAILED = "database write failed, nothing was written"  # what SQLite's constraint failures say


@dataclass(frozen=True)
class _Face:
    seq: int
    row: FaceRow
    vector: np.ndarray


@dataclass
class _State:
    collections: dict[str, CollectionRow] = field(default_factory=dict)
    faces: dict[str, _Face] = field(default_factory=dict)  # face_id -> face (ids are unique across collections)
    users: dict[tuple[str, str], float] = field(default_factory=dict)
    changes: list[tuple[int, str, str, str]] = field(default_factory=list)
    sources: dict[tuple[str, str], str] = field(default_factory=dict)
    policies: dict[str, tuple[str, float]] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    erasures: list[dict[str, Any]] = field(default_factory=list)  # in rowid order (rowid = position + 1)
    audit: list[tuple[int, str, str, str]] = field(default_factory=list)
    tokens: dict[tuple[str, str, str], tuple[str, str, float]] = field(default_factory=dict)
    jobs: dict[str, JobRow] = field(default_factory=dict)
    results: dict[tuple[str, int, int], str] = field(default_factory=dict)  # (job, Timestamp, index) -> item
    processors: dict[str, ProcessorRow] = field(default_factory=dict)
    staged: dict[str, tuple[str, str, np.ndarray]] = field(default_factory=dict)  # face_id -> (collection, model, v)
    face_seq: int = 0  # AUTOINCREMENT counters: never reused
    change_seq: int = 0

    def copy(self) -> _State:
        return _State(**{name: copy.copy(value) for name, value in vars(self).items()})


class MemoryTx:
    """An open write transaction of a MemoryStore (:class:`~.base.AuditTx`)."""

    def __init__(self, state: _State) -> None:
        self._state = state

    def audit_head(self) -> tuple[int, str] | None:
        return (self._state.audit[-1][0], self._state.audit[-1][3]) if self._state.audit else None

    def append_audit(self, seq: int, record: str, prev_hash: str, hash: str) -> None:
        if any(r[0] == seq for r in self._state.audit[-1:]):  # the head: the only seq a chain can repeat
            raise StorageError(f"{WRITE_FAILED}: UNIQUE constraint failed: audit.seq")
        self._state.audit.append((seq, record, prev_hash, hash))


class MemoryStore(MemoryProcessors):
    def __init__(self) -> None:
        self.clock: Callable[[], float] = time.time
        self._state = _State()
        self._lock = threading.RLock()

    # --- transactions -----------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[_State]:
        with self._lock:
            saved = self._state.copy()
            try:
                yield self._state
            except BaseException:
                self._state = saved
                raise

    @contextmanager
    def transaction(self) -> Iterator[MemoryTx]:
        with self._write() as s:
            yield MemoryTx(s)

    def close(self) -> None:
        pass

    def size_bytes(self) -> int:
        return 0

    def _change(self, s: _State, collection_id: str, face_id: str, op: str) -> None:
        s.change_seq += 1
        s.changes.append((s.change_seq, collection_id, face_id, op))

    @staticmethod
    def _require_collection(s: _State, collection_id: str) -> CollectionRow:
        row = s.collections.get(collection_id)
        if row is None:
            raise ResourceNotFoundException(f"collection {collection_id!r} does not exist")
        return row

    def _require_user(self, s: _State, collection_id: str, user_id: str) -> None:
        self._require_collection(s, collection_id)
        if (collection_id, user_id) not in s.users:
            raise ResourceNotFoundException(f"user {user_id!r} does not exist in {collection_id!r}")

    def _faces_of(self, collection_id: str) -> list[_Face]:
        return [f for f in self._state.faces.values() if f.row.collection_id == collection_id]

    def _expired(self, f: _Face, now: float) -> bool:
        policy = self._state.policies.get(f.row.collection_id)
        days = retention_days(policy[0]) if policy else 0.0
        return days > 0 and f.row.created < now - days * 86400

    # --- collections ----------------------------------------------------------------------
    def create_collection(self, collection_id: str, face_model: str, dimension: int,
                          tags: dict[str, str] | None = None) -> CollectionRow:
        with self._write() as s:
            if collection_id in s.collections:
                raise ResourceAlreadyExistsException(f"collection {collection_id!r} already exists")
            row = s.collections[collection_id] = CollectionRow(collection_id, face_model, dimension, time.time(),
                                                               dict(tags or {}))
        return row

    def collection(self, collection_id: str) -> CollectionRow:
        with self._lock:
            row = self._require_collection(self._state, collection_id)
            return replace(row, tags=dict(row.tags))

    def collection_ids(self, after: str = "", limit: int = 1000) -> list[str]:
        with self._lock:
            return sorted(c for c in self._state.collections if c > after)[:limit]

    def delete_collection(self, collection_id: str, *, audit: AuditHook | None = None,
                          receipt: str | None = None) -> int:
        with self._write() as s:
            self._require_collection(s, collection_id)
            gone = [f for f, face in s.faces.items() if face.row.collection_id == collection_id]
            for f in gone:
                del s.faces[f]
            s.users = {k: v for k, v in s.users.items() if k[0] != collection_id}
            s.sources = {k: v for k, v in s.sources.items() if k[0] != collection_id}
            s.staged = {k: v for k, v in s.staged.items() if v[0] != collection_id}
            s.changes = [c for c in s.changes if c[1] != collection_id]
            s.policies.pop(collection_id, None)
            del s.collections[collection_id]
            self._scrub_jobs(s, collection_id, None, set())
            self._change(s, collection_id, "", "del")
            if receipt is not None:
                self._receipt(s, receipt, "DeleteCollection", collection_id, len(gone))
            if audit:
                audit(MemoryTx(s))
        return len(gone)

    def counts(self, collection_id: str) -> tuple[int, int]:
        with self._lock:
            return len(self._faces_of(collection_id)), sum(1 for c, _ in self._state.users if c == collection_id)

    # --- faces ----------------------------------------------------------------------------
    def add_faces(self, collection_id: str, faces: Sequence[NewFace], *, source: str | None = None,
                  image_id: str = "", audit: AuditHook | None = None) -> None:
        now = self.clock()
        with self._write() as s:
            self._require_collection(s, collection_id)
            for f in faces:
                if f.face_id in s.faces:
                    raise StorageError(f"{WRITE_FAILED}: UNIQUE constraint failed: faces.face_id")
                s.face_seq += 1
                row = FaceRow(f.face_id, collection_id, f.image_id, f.external_image_id, dict(f.bbox), f.confidence,
                              None, now)
                s.faces[f.face_id] = _Face(s.face_seq, row, np.array(f.vector, np.float32))
            for f in faces:
                self._change(s, collection_id, f.face_id, "add")
            if source is not None:
                s.sources[(collection_id, source)] = image_id
            if audit:
                audit(MemoryTx(s))

    def sources(self, collection_id: str) -> set[str]:
        with self._lock:
            return {src for c, src in self._state.sources if c == collection_id}

    def image_sources(self, collection_id: str) -> dict[str, str]:
        with self._lock:
            return {image: src for (c, src), image in self._state.sources.items() if c == collection_id}

    def stage_vectors(self, collection_id: str, face_model: str, vectors: Mapping[str, np.ndarray]) -> None:
        with self._write() as s:
            self._require_collection(s, collection_id)
            s.staged = {k: v for k, v in s.staged.items() if v[0] != collection_id or v[1] == face_model}
            for f, v in vectors.items():
                face = s.faces.get(f)
                if face is not None and face.row.collection_id == collection_id:
                    s.staged[f] = (collection_id, face_model, np.array(v, np.float32))

    def staged_faces(self, collection_id: str, face_model: str) -> set[str]:
        with self._lock:
            return {f for f, (c, m, _) in self._state.staged.items() if c == collection_id and m == face_model}

    def switch_model(self, collection_id: str, face_model: str, dimension: int, *,
                     audit: AuditHook | None = None) -> int:
        with self._write() as s:
            row = self._require_collection(s, collection_id)
            ids = sorted(f for f, face in s.faces.items() if face.row.collection_id == collection_id)
            missing = [f for f in ids if s.staged.get(f, ("", "", None))[:2] != (collection_id, face_model)]
            if missing:
                raise ConflictException(
                    f"{len(missing)} face(s) of collection {collection_id!r} have no {face_model} vector staged")
            for f in ids:
                s.faces[f] = replace(s.faces[f], vector=s.staged.pop(f)[2])
                self._change(s, collection_id, f, "del")
                self._change(s, collection_id, f, "add")
            s.collections[collection_id] = replace(row, face_model=face_model, dimension=dimension)
            s.staged = {k: v for k, v in s.staged.items() if v[0] != collection_id}
            if audit:
                audit(MemoryTx(s))
        return len(ids)

    def delete_faces(self, collection_id: str, face_ids: Sequence[str], *, audit: DeleteAuditHook | None = None,
                     receipt: str | None = None, operation: str = "DeleteFaces") -> list[str]:
        with self._write() as s:
            wanted = set(face_ids)
            found_faces = sorted((f for f in s.faces.values() if f.row.collection_id == collection_id
                                  and f.row.face_id in wanted), key=lambda f: f.row.face_id)
            found = [f.row.face_id for f in found_faces]
            for f in found:
                del s.faces[f]
                s.staged.pop(f, None)
            for f in found:
                self._change(s, collection_id, f, "del")
            images = {f.row.image_id for f in found_faces}
            left = {f.row.image_id for f in s.faces.values() if f.row.collection_id == collection_id}
            s.sources = {k: v for k, v in s.sources.items()
                         if not (k[0] == collection_id and v in images and v not in left)}
            if receipt is not None and found:
                self._receipt(s, receipt, operation, collection_id, len(found))
            if found:
                self._scrub_jobs(s, collection_id, set(found), set())
            if audit:
                audit(MemoryTx(s), found)
        return found

    def faces(self, collection_id: str, *, after: str = "", limit: int = 1000, user_id: str | None = None,
              face_ids: Sequence[str] | None = None, include_expired: bool = False) -> list[FaceRow]:
        now = self.clock()
        wanted = set(face_ids) if face_ids else None
        with self._lock:
            rows = [f for f in self._faces_of(collection_id) if f.row.face_id > after
                    and (include_expired or not self._expired(f, now))
                    and (user_id is None or f.row.user_id == user_id)
                    and (wanted is None or f.row.face_id in wanted)]
        return [replace(f.row, bbox=dict(f.row.bbox)) for f in sorted(rows, key=lambda f: f.row.face_id)[:limit]]

    def expired_faces(self, collection_id: str, before: float) -> list[str]:
        with self._lock:
            return sorted(f.row.face_id for f in self._faces_of(collection_id) if f.row.created < before)

    def expired_among(self, collection_id: str, face_ids: Sequence[str]) -> set[str]:
        now = self.clock()
        with self._lock:
            return {f for f in face_ids if (face := self._state.faces.get(f)) is not None
                    and face.row.collection_id == collection_id and self._expired(face, now)}

    def face_vectors(self, collection_id: str, face_ids: Sequence[str]) -> dict[str, np.ndarray]:
        with self._lock:
            faces = [self._state.faces.get(f) for f in dict.fromkeys(face_ids)]
            return {f.row.face_id: f.vector.copy() for f in sorted((f for f in faces if f is not None and
                                                                     f.row.collection_id == collection_id),
                                                                    key=lambda f: f.seq)}

    def all_vectors(self, collection_id: str) -> tuple[list[str], np.ndarray, int]:
        with self._lock:
            row = self._state.collections.get(collection_id)
            d = row.dimension if row else 0
            faces = sorted(self._faces_of(collection_id), key=lambda f: f.seq)
            mat = np.stack([f.vector for f in faces]).astype(np.float32) if faces else np.zeros((0, d), np.float32)
            return [f.row.face_id for f in faces], mat, self._state.change_seq

    # --- policies -------------------------------------------------------------------------
    def policy_json(self, collection_id: str) -> str | None:
        with self._lock:
            found = self._state.policies.get(collection_id)
            return found[0] if found else None

    def set_policy_json(self, collection_id: str, policy: str, *, audit: AuditHook | None = None) -> None:
        with self._write() as s:
            self._require_collection(s, collection_id)
            s.policies[collection_id] = (policy, time.time())
            if audit:
                audit(MemoryTx(s))

    def has_retention(self, collection_id: str) -> bool:
        return retention_days(self.policy_json(collection_id)) > 0

    # --- users ----------------------------------------------------------------------------
    def create_user(self, collection_id: str, user_id: str) -> None:
        with self._write() as s:
            self._require_collection(s, collection_id)
            if (collection_id, user_id) in s.users:
                raise ConflictException(f"user {user_id!r} already exists in {collection_id!r}")
            s.users[(collection_id, user_id)] = time.time()

    def delete_user(self, collection_id: str, user_id: str, *, audit: AuditHook | None = None) -> None:
        with self._write() as s:
            self._require_user(s, collection_id, user_id)
            self._set_users(s, collection_id, [f.row.face_id for f in s.faces.values()
                                               if f.row.collection_id == collection_id and f.row.user_id == user_id],
                            None)
            del s.users[(collection_id, user_id)]
            self._scrub_jobs(s, collection_id, set(), {user_id})
            if audit:
                audit(MemoryTx(s))

    def users(self, collection_id: str, *, after: str = "", limit: int = 1000) -> list[str]:
        with self._lock:
            return sorted(u for c, u in self._state.users if c == collection_id and u > after)[:limit]

    def user_exists(self, collection_id: str, user_id: str) -> bool:
        with self._lock:
            return (collection_id, user_id) in self._state.users

    @staticmethod
    def _set_users(s: _State, collection_id: str, face_ids: Sequence[str], user_id: str | None) -> None:
        for f in face_ids:
            face = s.faces.get(f)
            if face is not None and face.row.collection_id == collection_id:
                s.faces[f] = replace(face, row=replace(face.row, user_id=user_id))

    def set_face_users(self, collection_id: str, face_ids: Sequence[str], user_id: str | None, *,
                       audit: AuditHook | None = None) -> None:
        with self._write() as s:
            self._set_users(s, collection_id, face_ids, user_id)
            if audit:
                audit(MemoryTx(s))

    # --- change log -----------------------------------------------------------------------
    def changes_since(self, seq: int) -> list[tuple[int, str, str, str]]:
        with self._lock:
            return [c for c in self._state.changes if c[0] > seq]

    def log_after(self, seq: int, collection_id: str) -> tuple[list[tuple[int, str, str]], int, int]:
        with self._lock:
            rows = [(c[0], c[2], c[3]) for c in self._state.changes if c[0] > seq and c[1] == collection_id]
            return rows, self._state.change_seq, self.compacted_upto()

    def face_ids(self, collection_id: str) -> tuple[set[str], int]:
        with self._lock:
            return {f.row.face_id for f in self._faces_of(collection_id)}, self._state.change_seq

    def faces_ever(self) -> int:
        return self._state.face_seq

    def last_change(self) -> int:
        return self._state.change_seq

    def compacted_upto(self) -> int:
        return int(self._state.meta.get("compacted_upto", 0))

    def compact_changes(self, upto: int) -> None:
        with self._write() as s:
            s.changes = [c for c in s.changes if c[0] > upto]
            s.meta["compacted_upto"] = str(max(int(s.meta.get("compacted_upto", 0)), upto))

    # --- erasure --------------------------------------------------------------------------
    @staticmethod
    def _receipt(s: _State, receipt: str, operation: str, collection_id: str, faces: int) -> None:
        if any(e["receipt_id"] == receipt for e in s.erasures):
            raise StorageError(f"{WRITE_FAILED}: UNIQUE constraint failed: erasures.receipt_id")
        s.erasures.append({"receipt_id": receipt, "operation": operation, "collection_id": collection_id,
                           "faces": faces, "requested": time.time(), "completed": None})

    def erasure(self, receipt_id: str) -> dict[str, Any] | None:
        with self._lock:
            return next((dict(e) for e in self._state.erasures if e["receipt_id"] == receipt_id), None)

    def pending_erasures(self) -> int:
        with self._lock:
            return max((i + 1 for i, e in enumerate(self._state.erasures) if e["completed"] is None), default=0)

    def complete_erasures(self, upto: int, when: float) -> None:
        with self._write() as s:
            s.erasures = [{**e, "completed": when} if e["completed"] is None and i + 1 <= upto else e
                          for i, e in enumerate(s.erasures)]

    def vacuum(self) -> None:
        pass

    def checkpoint(self) -> None:
        pass

    def vector_index(self, collection_id: str, *, candidates: int) -> VectorIndex | None:
        return None  # Collections keeps the index, from the change log

    # --- the audit chain's rows -------------------------------------------------------------
    def audit_rows(self, after: int = 0) -> Iterator[tuple[int, str, str, str]]:
        with self._lock:
            rows = [r for r in self._state.audit if r[0] > after]
        yield from rows

    def audit_hash(self, seq: int) -> str | None:
        with self._lock:
            return next((r[3] for r in self._state.audit if r[0] == seq), None)

    def audit_last_record(self) -> str | None:
        with self._lock:
            return self._state.audit[-1][1] if self._state.audit else None

    # --- stored-video jobs ------------------------------------------------------------------
    @staticmethod
    def _scrub_jobs(s: _State, collection_id: str, face_ids: set[str] | None, user_ids: set[str]) -> None:
        for job_id, job in s.jobs.items():
            if job.collection_id == collection_id and job.summary is not None:
                scrubbed = scrub_summary(job.summary, collection_id, face_ids, user_ids)
                if scrubbed != job.summary:
                    s.jobs[job_id] = replace(job, summary=scrubbed)

    def create_job(self, job: JobRow, *, max_active: int, audit: AuditHook | None = None) -> JobRow:
        with self._write() as s:
            if job.job_id in s.jobs:
                return s.jobs[job.job_id]
            active = sum(1 for j in s.jobs.values() if j.status == "IN_PROGRESS")
            if active >= max_active:
                raise LimitExceededException(
                    f"{active} video jobs are queued or running, the most allowed (setting video_max_jobs); "
                    "retry when one has finished")
            s.jobs[job.job_id] = job
            if audit:
                audit(MemoryTx(s))
        return job

    def job(self, job_id: str) -> JobRow | None:
        with self._lock:
            return self._state.jobs.get(job_id)

    def jobs(self, *, status: str | None = None, after: str = "", limit: int = 1000) -> list[JobRow]:
        with self._lock:
            rows = [j for j in self._state.jobs.values() if j.job_id > after and status in (None, j.status)]
        return sorted(rows, key=lambda j: j.job_id)[:limit]

    def claim_job(self, job_id: str, owner: str | None, *, expected: str | None) -> bool:
        with self._write() as s:
            job = s.jobs.get(job_id)
            if job is None or job.owner != expected or job.status != "IN_PROGRESS":
                return False
            s.jobs[job_id] = replace(job, owner=owner, updated=self.clock())
        return True

    def checkpoint_job(self, job_id: str, owner: str, *, progress_ms: int, state: str | None,
                       results: Sequence[ResultRow]) -> bool:
        with self._write() as s:
            job = s.jobs.get(job_id)
            if job is None or job.owner != owner or job.status != "IN_PROGRESS":
                return False
            s.jobs[job_id] = replace(job, progress_ms=progress_ms, state=state, updated=self.clock())
            for ts, i, item in results:
                s.results[(job_id, ts, i)] = item
        return True

    def finish_job(self, job_id: str, *, status: str, message: str | None, summary: str | None,
                   expires: float | None, audit: AuditHook | None = None) -> None:
        with self._write() as s:
            job = s.jobs.get(job_id)
            if job is not None:
                s.jobs[job_id] = replace(job, status=status, status_message=message, summary=summary,
                                         expires=expires, state=None, owner=None, updated=self.clock())
            if audit:
                audit(MemoryTx(s))

    def job_results(self, job_id: str, *, by_index: bool = False, after: tuple[int, int] | None = None,
                    limit: int = 1000) -> list[ResultRow]:
        def key(r: ResultRow) -> tuple[int, int]:
            return (r[1], r[0]) if by_index else (r[0], r[1])

        start = after if after is not None else (-1, -1)
        with self._lock:
            rows = [(ts, i, item) for (j, ts, i), item in self._state.results.items() if j == job_id]
        return sorted((r for r in rows if key(r) > start), key=key)[:limit]

    def purge_jobs(self, before: float) -> list[str]:
        with self._write() as s:
            ids = sorted(j.job_id for j in s.jobs.values() if j.expires is not None and j.expires < before)
            for j in ids:
                del s.jobs[j]
            s.results = {k: v for k, v in s.results.items() if k[0] not in ids}
        return ids

    # --- request tokens ---------------------------------------------------------------------
    def recall_token(self, access_key_id: str, operation: str, token: str) -> tuple[str, str] | None:
        with self._lock:
            found = self._state.tokens.get((access_key_id, operation, token))
        if found is None or found[2] < self.clock() - TOKEN_TTL:
            return None
        return found[0], found[1]

    def remember_token(self, access_key_id: str, operation: str, token: str, params_sha256: str,
                       response: str) -> tuple[str, str]:
        now = self.clock()
        with self._write() as s:
            s.tokens = {k: v for k, v in s.tokens.items() if v[2] >= now - TOKEN_TTL}
            stored = s.tokens.setdefault((access_key_id, operation, token), (params_sha256, response, now))
        return stored[0], stored[1]
