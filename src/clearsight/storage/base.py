"""The storage seam: what collections/, policy/ and server/ need from a backend, and nothing else.

A :class:`Store` is the source of truth: collections, faces and their vectors, users, the
``sources`` of a folder index, policies, erasure receipts, the audit chain's rows, the change log
that vector indexes replay, the request tokens that make retried writes idempotent, and
stored-video jobs with their results. A
:class:`VectorIndex` is derived from the change log and can always be rebuilt from the store.

Every write is one transaction. Write methods take an ``audit`` hook, called inside that
transaction with an :class:`AuditTx`: the audit record it appends commits with the write, or
neither does (a failing hook rolls the write back). The chain itself (keys, pseudonyms, links,
checkpoints) is computed by :mod:`clearsight.policy.audit`, which only reads the chain's head
and appends rows through this interface, so it is the same on every backend.

Backends: :class:`~clearsight.storage.sqlite.SqliteStore` (the embedded default),
:class:`~clearsight.storage.postgres.PostgresStore` (PostgreSQL + pgvector, which also keeps the
vector index: :meth:`Store.vector_index`) and :class:`~clearsight.storage.memory.MemoryStore` (a
public in-memory double with the same answers, checked by ``tests/storage/test_congruence.py``,
which a new backend joins). :mod:`.backends` picks one from the ``storage_url`` setting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = [
    "JOB_STATUSES",
    "PROCESSOR_STATUSES",
    "TOKEN_TTL",
    "AuditHook",
    "AuditTx",
    "CollectionRow",
    "DeleteAuditHook",
    "FaceRow",
    "Hit",
    "JobRow",
    "NewFace",
    "ProcessorRow",
    "ResultRow",
    "Store",
    "VectorIndex",
    "processor_columns",
    "retention_days",
    "scrub_summary",
]

TOKEN_TTL = 24 * 3600.0  # a ClientRequestToken is remembered this long (seconds)


@dataclass(frozen=True)
class CollectionRow:
    collection_id: str
    face_model: str
    dimension: int
    created: float
    tags: dict[str, str]


@dataclass(frozen=True)
class FaceRow:
    face_id: str
    collection_id: str
    image_id: str
    external_image_id: str | None
    bbox: dict[str, float]
    confidence: float
    user_id: str | None
    created: float


@dataclass(frozen=True)
class NewFace:
    face_id: str
    image_id: str
    external_image_id: str | None
    bbox: dict[str, float]
    confidence: float
    vector: np.ndarray


JOB_STATUSES = ("IN_PROGRESS", "SUCCEEDED", "FAILED")


@dataclass(frozen=True)
class JobRow:
    """A stored-video job. ``request`` is the Start* request (JSON, the Video and JobTag as given);
    ``caller`` the caller it runs as (JSON); ``state`` its last checkpoint (JSON, may hold the
    job's own probe embeddings: cleared when the job ends); ``summary`` what the finished job
    adds to its per-timestamp results (JSON: per-track matches, accountability); ``owner`` the
    runner working on it (None: nobody); ``expires`` when its results are purged."""

    job_id: str
    kind: str
    status: str
    request: str
    request_sha256: str
    collection_id: str | None
    caller: str
    metadata: str
    created: float
    updated: float
    status_message: str | None = None
    progress_ms: int = 0
    state: str | None = None
    summary: str | None = None
    expires: float | None = None
    owner: str | None = None


PROCESSOR_STATUSES = ("STOPPED", "STARTING", "RUNNING", "FAILED", "STOPPING", "UPDATING")


@dataclass(frozen=True)
class ProcessorRow:
    """A stream processor. ``request`` is what CreateStreamProcessor was given (JSON, updated by
    UpdateStreamProcessor); ``caller`` the caller it runs as (JSON: its key, scopes, purpose);
    ``session`` the last StartStreamProcessor (JSON: SessionId, selectors); ``stats`` its counters
    (JSON, written by whoever runs it); ``owner`` the runner working on it (None: nobody)."""

    name: str
    arn: str
    status: str
    request: str
    collection_id: str | None
    caller: str
    created: float
    updated: float
    status_message: str | None = None
    session: str | None = None
    stats: str | None = None
    owner: str | None = None


def processor_columns(*maps: Mapping[str, Any] | None) -> None:
    """Refuse column names a ProcessorRow does not have (they are spelled into SQL)."""
    from dataclasses import fields

    known = {f.name for f in fields(ProcessorRow)}
    unknown = sorted({k for m in maps if m for k in m} - known)
    if unknown:
        raise ValueError(f"no such stream processor column: {', '.join(unknown)}")


ResultRow = tuple[int, int, str]  # (Timestamp ms, index within the timestamp or track, item JSON)


def scrub_summary(summary: str, collection_id: str, face_ids: set[str] | None, user_ids: set[str]) -> str:
    """A job summary without the matches of deleted faces (``None``: every match, the collection is
    gone) and without deleted users' ids; each track's best match is recomputed. Every backend
    scrubs with this, inside the deletion's transaction."""
    import json

    data = json.loads(summary)
    if data.get("CollectionId") != collection_id:
        return summary
    for track in data.get("Tracks", []):
        kept = []
        for m in track.get("FaceMatches", []):
            face = m["Face"]
            if face_ids is None or face["FaceId"] in face_ids:
                continue
            if face.get("UserId") in user_ids:
                face.pop("UserId")
            kept.append(m)
        track["FaceMatches"] = kept
        for key in ("FaceId", "UserId", "BestSimilarity"):
            track.pop(key, None)
        if kept:
            best = max(kept, key=lambda m: m["Similarity"])
            track["FaceId"], track["BestSimilarity"] = best["Face"]["FaceId"], best["Similarity"]
            if "UserId" in best["Face"]:
                track["UserId"] = best["Face"]["UserId"]
    return json.dumps(data, sort_keys=True)


@dataclass(frozen=True)
class Hit:
    face_id: str
    score: float


class AuditTx(Protocol):
    """The audit chain's view of an open write transaction."""

    def audit_head(self) -> tuple[int, str] | None:
        """(seq, hash) of the last audit row, or None for an empty chain."""

    def append_audit(self, seq: int, record: str, prev_hash: str, hash: str) -> None:
        """Append one row (its canonical JSON, the previous row's hash and its own)."""


AuditHook = Callable[[AuditTx], object]  # appends an audit record inside the write's transaction
DeleteAuditHook = Callable[[AuditTx, list[str]], object]  # ... told which faces were deleted


def retention_days(policy_json: str | None) -> float:
    """A stored policy's retention period in days (0: none), as every backend reads it."""
    import json

    if not policy_json:
        return 0.0
    value = json.loads(policy_json).get("retention_days")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


class Store(Protocol):
    """The store of record. Ordering: collections, faces and users by id (code-point order); the
    change log by seq (never reused, even after compaction). Errors: ResourceNotFoundException for
    a missing collection or user, ResourceAlreadyExistsException for an existing collection,
    ConflictException for an existing user, StorageError when the backend fails."""

    clock: Callable[[], float]  # what "now" is for retention and token expiry (tests move it)

    def close(self) -> None: ...
    def transaction(self) -> AbstractContextManager[AuditTx]: ...
    def size_bytes(self) -> int: ...

    # collections
    def create_collection(self, collection_id: str, face_model: str, dimension: int,
                          tags: dict[str, str] | None = None) -> CollectionRow: ...
    def collection(self, collection_id: str) -> CollectionRow: ...
    def collection_ids(self, after: str = "", limit: int = 1000) -> list[str]: ...
    def delete_collection(self, collection_id: str, *, audit: AuditHook | None = None,
                          receipt: str | None = None) -> int: ...
    def counts(self, collection_id: str) -> tuple[int, int]: ...

    # faces
    def add_faces(self, collection_id: str, faces: Sequence[NewFace], *, source: str | None = None,
                  image_id: str = "", audit: AuditHook | None = None) -> None: ...
    def sources(self, collection_id: str) -> set[str]: ...
    def image_sources(self, collection_id: str) -> dict[str, str]: ...
    def delete_faces(self, collection_id: str, face_ids: Sequence[str], *, audit: DeleteAuditHook | None = None,
                     receipt: str | None = None, operation: str = "DeleteFaces") -> list[str]: ...
    def faces(self, collection_id: str, *, after: str = "", limit: int = 1000, user_id: str | None = None,
              face_ids: Sequence[str] | None = None, include_expired: bool = False) -> list[FaceRow]: ...
    def expired_faces(self, collection_id: str, before: float) -> list[str]: ...
    def expired_among(self, collection_id: str, face_ids: Sequence[str]) -> set[str]: ...
    def face_vectors(self, collection_id: str, face_ids: Sequence[str]) -> dict[str, np.ndarray]: ...
    def all_vectors(self, collection_id: str) -> tuple[list[str], np.ndarray, int]: ...

    # migrating a collection to another face model: stage every face's new vector, then switch
    def stage_vectors(self, collection_id: str, face_model: str, vectors: Mapping[str, np.ndarray]) -> None: ...
    def staged_faces(self, collection_id: str, face_model: str) -> set[str]: ...
    def switch_model(self, collection_id: str, face_model: str, dimension: int, *,
                     audit: AuditHook | None = None) -> int: ...

    # policies
    def policy_json(self, collection_id: str) -> str | None: ...
    def set_policy_json(self, collection_id: str, policy: str, *, audit: AuditHook | None = None) -> None: ...
    def has_retention(self, collection_id: str) -> bool: ...

    # users
    def create_user(self, collection_id: str, user_id: str) -> None: ...
    def delete_user(self, collection_id: str, user_id: str, *, audit: AuditHook | None = None) -> None: ...
    def users(self, collection_id: str, *, after: str = "", limit: int = 1000) -> list[str]: ...
    def user_exists(self, collection_id: str, user_id: str) -> bool: ...
    def set_face_users(self, collection_id: str, face_ids: Sequence[str], user_id: str | None, *,
                       audit: AuditHook | None = None) -> None: ...

    # change log (what vector indexes replay)
    def changes_since(self, seq: int) -> list[tuple[int, str, str, str]]: ...
    def log_after(self, seq: int, collection_id: str) -> tuple[list[tuple[int, str, str]], int, int]: ...
    def face_ids(self, collection_id: str) -> tuple[set[str], int]: ...
    def faces_ever(self) -> int: ...
    def last_change(self) -> int: ...
    def compacted_upto(self) -> int: ...
    def compact_changes(self, upto: int) -> None: ...

    # erasure
    def erasure(self, receipt_id: str) -> dict[str, Any] | None: ...
    def pending_erasures(self) -> int: ...
    def complete_erasures(self, upto: int, when: float) -> None: ...
    def vacuum(self) -> None: ...
    def checkpoint(self) -> None: ...

    # a collection's vector index kept by the database itself (None: the caller builds one from
    # the change log, as on SQLite and in memory)
    def vector_index(self, collection_id: str, *, candidates: int) -> VectorIndex | None: ...

    # the audit chain's rows (seq, record, prev_hash, hash)
    def audit_rows(self, after: int = 0) -> Iterator[tuple[int, str, str, str]]: ...
    def audit_hash(self, seq: int) -> str | None: ...
    def audit_last_record(self) -> str | None: ...

    # stored-video jobs. Deleting faces, a user or a collection scrubs their ids from job summaries in
    # the same transaction (scrub_summary); results rows never name an enrolled face.
    def create_job(self, job: JobRow, *, max_active: int, audit: AuditHook | None = None) -> JobRow:
        """Insert ``job`` (and its audit record) and return it; the stored job if ``job_id`` exists
        (nothing written). LimitExceededException when ``max_active`` jobs are IN_PROGRESS."""
    def job(self, job_id: str) -> JobRow | None: ...
    def jobs(self, *, status: str | None = None, after: str = "", limit: int = 1000) -> list[JobRow]: ...
    def claim_job(self, job_id: str, owner: str | None, *, expected: str | None) -> bool:
        """Compare-and-set the job's owner (expected: the owner the caller saw); False if it changed."""
    def checkpoint_job(self, job_id: str, owner: str, *, progress_ms: int, state: str | None,
                       results: Sequence[ResultRow]) -> bool:
        """Commit a chunk: its results (a row already stored is replaced, never repeated), the
        progress and the checkpoint, if ``owner`` still owns the IN_PROGRESS job (else False)."""
    def finish_job(self, job_id: str, *, status: str, message: str | None, summary: str | None,
                   expires: float | None, audit: AuditHook | None = None) -> None:
        """End the job (checkpoint cleared, owner released) with its audit record, in one transaction."""
    def job_results(self, job_id: str, *, by_index: bool = False, after: tuple[int, int] | None = None,
                    limit: int = 1000) -> list[ResultRow]:
        """Results by (Timestamp, index), or by (index, Timestamp), after the given pair."""
    def purge_jobs(self, before: float) -> list[str]:
        """Delete the jobs (and results) that expired before ``before``; returns their ids."""

    # stream processors (names in code-point order). ``expected`` is a compare-and-set: the write
    # happens only if each named column still holds the given value (False otherwise).
    def create_processor(self, row: ProcessorRow, *, max_processors: int, audit: AuditHook | None = None) -> None:
        """Insert a processor (and its audit record). ResourceInUseException when the name exists,
        LimitExceededException when ``max_processors`` exist."""
    def processor(self, name: str) -> ProcessorRow | None: ...
    def processors(self, *, after: str = "", limit: int = 1000) -> list[ProcessorRow]: ...
    def update_processor(self, name: str, changes: Mapping[str, Any], *, expected: Mapping[str, Any] | None = None,
                         audit: AuditHook | None = None) -> bool: ...
    def delete_processor(self, name: str, *, expected: Mapping[str, Any] | None = None,
                         audit: AuditHook | None = None) -> bool: ...

    # ClientRequestToken idempotency (remembered TOKEN_TTL seconds)
    def recall_token(self, access_key_id: str, operation: str, token: str) -> tuple[str, str] | None: ...
    def remember_token(self, access_key_id: str, operation: str, token: str, params_sha256: str,
                       response: str) -> tuple[str, str]: ...


class VectorIndex(Protocol):
    """A collection's vectors for search, current to change ``seq`` of the store's log."""

    seq: int

    def __len__(self) -> int: ...
    def __contains__(self, face_id: object) -> bool: ...
    @property
    def ids(self) -> list[str]: ...
    def add(self, ids: list[str], vectors: np.ndarray) -> None: ...
    def remove(self, ids: list[str]) -> None: ...
    def search(self, query: np.ndarray, *, k: int, min_score: float = -1.0) -> list[Hit]: ...
    def save(self, path: Path, collection_id: str) -> None: ...
