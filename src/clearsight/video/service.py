"""Stored-video operations (Start*/Get*) with Rekognition's job semantics, over the store's jobs.

``start_*`` checks the request (and, for a face search, the same gates as SearchFacesByImage:
scope, the collection's policy floor, required purpose and result cap), resolves Video.S3Object,
reads the container, records the start (audited, with the video's SHA-256), and queues the job;
the :class:`~.jobs.JobRunner` runs it as its caller. ``get_*`` pages the results (MaxResults
1-1000, signed NextTokens, '' = the first page), partial while IN_PROGRESS, VideoMetadata on
every page. A ClientRequestToken makes a start idempotent: the JobId is derived from the caller,
the operation and the token, so a retry finds the job it started (other parameters:
IdempotentParameterMismatchException).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import params
from ..errors import (
    AccessDeniedException,
    ClearSightError,
    IdempotentParameterMismatchException,
    InvalidParameterException,
    InvalidVideoError,
    ResourceNotFoundException,
    VideoTooLargeException,
)
from ..policy.audit import AuditRecord, audited, current_record
from ..policy.context import Caller, acting_as, current
from ..policy.scopes import may_use
from ..storage.base import JobRow, ResultRow
from .decode import Sample, VideoInfo, prefetched, probe, samples
from .faces import FaceDetection
from .frames import LabelDetection, TextDetection, label_segments
from .jobs import JobRunner
from .notify import Sinks
from .scenes import SEGMENT_MODEL_VERSION, SegmentDetection, SegmentRequest
from .search import FaceSearch, summary_fields

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from ..calibration import Calibration
    from ..collections.service import Collections
    from ..faces import FaceAnalyzer
    from ..labels import LabelAnalyzer
    from ..settings import Settings
    from ..storage.objects import ObjectStore
    from ..text import TextReader

__all__ = ["VideoService"]

log = logging.getLogger("clearsight.video")
VideoInput = dict[str, Any] | str | Path  # Video {S3Object} as Rekognition takes it, or a local file
KINDS = {kind: f"Start{kind}" for kind in ("FaceDetection", "FaceSearch", "LabelDetection", "TextDetection",
                                          "SegmentDetection")}
RESULTS = {"FaceDetection": "Faces", "FaceSearch": "Persons", "LabelDetection": "Labels",
           "TextDetection": "TextDetections", "SegmentDetection": "Segments"}
Analysis = FaceDetection | FaceSearch | LabelDetection | TextDetection | SegmentDetection


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class VideoService:
    """Built by the Engine with what it needs; ``runner`` runs its jobs (``clearsight serve`` and
    ``clearsight worker`` start it)."""

    def __init__(self, *, settings: Settings, collections: Collections, faces: FaceAnalyzer,
                 calibration: Calibration, objects: ObjectStore, executor: Executor,
                 labels: Callable[[], LabelAnalyzer] | None = None, text: Callable[[], TextReader] | None = None
                 ) -> None:
        self.settings = settings
        self.collections = collections
        self.store = collections.store
        self.audit = collections.audit
        self.faces = faces
        self.calibration = calibration
        self.objects = objects
        self.labels = labels  # built on first use (their models load then)
        self.text = text
        self.paginator = collections.paginator
        self.sinks = Sinks.parse(str(settings.video_notification_sinks))
        self.runner = JobRunner(self.store, executor, self.run, workers=int(settings.video_workers))

    # --- Start* -------------------------------------------------------------------------------
    def start_face_detection(self, *, video: VideoInput, client_request_token: str | None = None,
                             notification_channel: dict[str, Any] | None = None, face_attributes: str | None = None,
                             job_tag: str | None = None) -> dict[str, Any]:
        """StartFaceDetection: a job finding faces every ``video_sample_ms`` (FaceAttributes DEFAULT or ALL)."""
        if face_attributes not in (None, "DEFAULT", "ALL"):
            raise InvalidParameterException(f"FaceAttributes must be DEFAULT or ALL, got {face_attributes!r}")
        request = {"FaceAttributes": face_attributes or "DEFAULT"}
        return self._start("FaceDetection", video, request, client_request_token, notification_channel, job_tag)

    @audited("StartFaceSearch")
    def start_face_search(self, *, video: VideoInput, collection_id: str, face_match_threshold: float | None = None,
                          client_request_token: str | None = None, notification_channel: dict[str, Any] | None = None,
                          job_tag: str | None = None) -> dict[str, Any]:
        """StartFaceSearch: a job finding the collection's faces in the video; gated and audited like
        SearchFacesByImage (one record now, one when the job completes)."""
        rec = current_record()
        cid = params.collection_id(collection_id)
        rec.threshold = threshold = params.threshold("FaceMatchThreshold", face_match_threshold, 80.0)
        self.collections.checked_search(rec, cid, threshold, None, 10)  # policy floor, purpose, result cap
        request = {"CollectionId": cid, "FaceMatchThreshold": threshold, "Purpose": current().purpose}
        return self._start("FaceSearch", video, request, client_request_token, notification_channel, job_tag, rec)

    def start_label_detection(self, *, video: VideoInput, client_request_token: str | None = None,
                              min_confidence: float | None = None, notification_channel: dict[str, Any] | None = None,
                              job_tag: str | None = None, features: list[str] | None = None,
                              settings: dict[str, Any] | None = None) -> dict[str, Any]:
        """StartLabelDetection: DetectLabels on every sampled frame (MinConfidence default 50, Settings'
        GeneralLabels filters); GetLabelDetection aggregates by TIMESTAMPS or SEGMENTS."""
        from ..labels import LabelRequest

        if features not in (None, ["GENERAL_LABELS"]):
            raise InvalidParameterException("Features must be [GENERAL_LABELS] for video")
        request = {"MinConfidence": params.threshold("MinConfidence", min_confidence, 50.0), "Settings": settings}
        LabelRequest.parse(None, request["MinConfidence"], ["GENERAL_LABELS"], settings)  # refused now, not later
        return self._start("LabelDetection", video, request, client_request_token, notification_channel, job_tag)

    def start_text_detection(self, *, video: VideoInput, client_request_token: str | None = None,
                             notification_channel: dict[str, Any] | None = None, job_tag: str | None = None,
                             filters: dict[str, Any] | None = None) -> dict[str, Any]:
        """StartTextDetection: DetectText (with its Filters) on every sampled frame."""
        from ..text import TextFilters

        TextFilters.parse(filters)
        return self._start("TextDetection", video, {"Filters": filters}, client_request_token, notification_channel,
                           job_tag)

    def start_segment_detection(self, *, video: VideoInput, segment_types: list[str],
                                client_request_token: str | None = None,
                                notification_channel: dict[str, Any] | None = None, job_tag: str | None = None,
                                filters: dict[str, Any] | None = None) -> dict[str, Any]:
        """StartSegmentDetection: SHOT boundaries and TECHNICAL_CUE BlackFrames, from every frame."""
        SegmentRequest(segment_types, filters)
        return self._start("SegmentDetection", video, {"SegmentTypes": segment_types, "Filters": filters},
                           client_request_token, notification_channel, job_tag)

    def _start(self, kind: str, video: VideoInput, request: dict[str, Any], token: str | None,
               channel: dict[str, Any] | None, job_tag: str | None, rec: AuditRecord | None = None) -> dict[str, Any]:
        caller = current()
        given = {"Video": video if isinstance(video, dict) else str(video), "JobTag": job_tag,
                 "NotificationChannel": channel, **{k: v for k, v in request.items() if k != "Purpose"}}
        digest = hashlib.sha256(json.dumps(given, sort_keys=True, default=str).encode()).hexdigest()
        if token is not None:
            if not isinstance(token, str) or not 1 <= len(token) <= 64:
                raise InvalidParameterException("ClientRequestToken must be 1-64 characters")
            job_id = hashlib.sha256(f"{caller.access_key_id}\0{kind}\0{token}".encode()).hexdigest()
            seen = self.store.job(job_id)
            if seen is not None:
                return self._replayed(seen, digest, token)
        else:
            job_id = secrets.token_hex(32)
        if job_tag is not None and (not isinstance(job_tag, str) or not 1 <= len(job_tag) <= 1024):
            raise InvalidParameterException("JobTag must be 1-1024 characters")
        self.sinks.check(channel)
        path, name = self._resolve(video)
        info = probe(path, name=name, max_ms=float(self.settings.video_max_hours) * 3.6e6)
        sha = _sha256(path)
        now = self.store.clock()
        stored = {**given, **request, "Path": str(path), "Name": name, "Sha256": sha, "Rotation": info.rotation}
        job = JobRow(job_id=job_id, kind=kind, status="IN_PROGRESS", request=json.dumps(stored),
                     request_sha256=digest, collection_id=request.get("CollectionId"),
                     caller=caller.to_json(),
                     metadata=json.dumps(info.metadata()), created=now, updated=now)
        if rec is not None:
            rec.probe_sha256 = sha
            rec.results = [{"JobId": job_id}]
        created = self.store.create_job(job, max_active=int(self.settings.video_max_jobs),
                                        audit=self.audit.hook(rec) if rec is not None else None)
        if created is not job:  # a concurrent retry with the same token got there first
            return self._replayed(created, digest, token or "")
        self.runner.wake()
        return {"JobId": job_id}

    def _replayed(self, seen: JobRow, digest: str, token: str) -> dict[str, Any]:
        if seen.request_sha256 != digest:
            raise IdempotentParameterMismatchException(
                f"ClientRequestToken {token!r} started job {seen.job_id} with other parameters; use a new token")
        return {"JobId": seen.job_id}

    def _resolve(self, video: VideoInput) -> tuple[Path, str]:
        """The file and the name errors use (s3://bucket/name, never the server's folders)."""
        if isinstance(video, dict):
            if set(video) != {"S3Object"}:
                raise InvalidParameterException("Video needs S3Object (and nothing else)")
            obj = video["S3Object"]
            path = self.objects.path(obj)
            name = f"s3://{obj['Bucket']}/{obj['Name']}"
        else:
            path, name = Path(video), str(video)
            if not path.is_file():
                raise InvalidParameterException(f"{name}: no such video file")
        size = path.stat().st_size
        if size > int(self.settings.video_max_bytes):
            raise VideoTooLargeException(f"{name} is {size:,} bytes; the limit is "
                                         f"{int(self.settings.video_max_bytes):,} (setting video_max_bytes)")
        return path, name

    # --- Get* ---------------------------------------------------------------------------------
    def get_face_detection(self, *, job_id: str, max_results: int | None = None,
                           next_token: str | None = None) -> dict[str, Any]:
        return self._get("FaceDetection", job_id, max_results, next_token, by_index=False)

    @audited("GetFaceSearch", collection=None)
    def get_face_search(self, *, job_id: str, max_results: int | None = None, next_token: str | None = None,
                        sort_by: str | None = None) -> dict[str, Any]:
        """GetFaceSearch discloses who was found: audited (the FaceIds on the page, as pseudonyms)."""
        if sort_by not in (None, "INDEX", "TIMESTAMP"):
            raise InvalidParameterException(f"SortBy must be INDEX or TIMESTAMP, got {sort_by!r}")
        rec = current_record()
        out = self._get("FaceSearch", job_id, max_results, next_token, by_index=sort_by == "INDEX")
        rec.collection = self.job(job_id).collection_id
        rec.results = [{"JobId": job_id}] + [{"FaceId": f} for f in dict.fromkeys(
            m["Face"]["FaceId"] for p in out["Persons"] for m in p["FaceMatches"])]
        self.audit.append(rec)  # recorded before it is answered
        return out

    def get_label_detection(self, *, job_id: str, max_results: int | None = None, next_token: str | None = None,
                            sort_by: str | None = None, aggregate_by: str | None = None) -> dict[str, Any]:
        if sort_by not in (None, "NAME", "TIMESTAMP") or aggregate_by not in (None, "TIMESTAMPS", "SEGMENTS"):
            raise InvalidParameterException("SortBy must be NAME or TIMESTAMP, AggregateBy TIMESTAMPS or SEGMENTS")
        sort, aggregate = sort_by or "TIMESTAMP", aggregate_by or "TIMESTAMPS"

        def arrange(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            if aggregate == "SEGMENTS":
                items = label_segments(items, int(self.settings.video_sample_ms))
            if sort == "NAME":
                items = sorted(items, key=lambda i: (i["Label"]["Name"], i["Timestamp"]))
            return items

        from ..labels import LABEL_MODEL_VERSION

        out = self._get("LabelDetection", job_id, max_results, next_token, arrange=arrange,
                        listing=f"{sort}:{aggregate}")
        return {**out, "LabelModelVersion": LABEL_MODEL_VERSION,
                "GetRequestMetadata": {"SortBy": sort, "AggregateBy": aggregate}}

    def get_text_detection(self, *, job_id: str, max_results: int | None = None,
                           next_token: str | None = None) -> dict[str, Any]:
        from ..text import TEXT_MODEL_VERSION

        return {**self._get("TextDetection", job_id, max_results, next_token), "TextModelVersion": TEXT_MODEL_VERSION}

    def get_segment_detection(self, *, job_id: str, max_results: int | None = None,
                              next_token: str | None = None) -> dict[str, Any]:
        out = self._get("SegmentDetection", job_id, max_results, next_token)
        types = json.loads(self.job(job_id).request)["SegmentTypes"]
        return {**out, "VideoMetadata": [out["VideoMetadata"]], "AudioMetadata": [],
                "SelectedSegmentTypes": [{"Type": t, "ModelVersion": SEGMENT_MODEL_VERSION} for t in types]}

    def job(self, job_id: str) -> JobRow:
        """The job, if it exists, its results are not past their retention, and the caller's key
        covers its collection."""
        if not isinstance(job_id, str) or not job_id:
            raise InvalidParameterException("JobId must be a non-empty string")
        job = self.store.job(job_id)
        if job is None or (job.expires is not None and job.expires < self.store.clock()):
            raise ResourceNotFoundException(f"no video job {job_id!r} (results are kept "
                                            f"{float(self.settings.video_result_days):g} days)")
        if job.collection_id is not None and not may_use(current(), job.collection_id):
            raise AccessDeniedException(f"this access key may not use collection {job.collection_id!r}")
        return job

    def _get(self, kind: str, job_id: str, max_results: int | None, next_token: str | None, *,
             by_index: bool = False, arrange: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
             listing: str = "") -> dict[str, Any]:
        """A page of a job's results: rows in the store's order, paged in the store; or, with ``arrange``
        (sorting by name, aggregating), every row arranged here and paged by position."""
        job = self.job(job_id)
        if job.kind != kind:
            raise ResourceNotFoundException(f"job {job_id} is a {job.kind} job; call Get{job.kind}")
        limit = params.int_range("MaxResults", max_results, 1, 1000, 1000)
        if arrange is not None:
            every = arrange([json.loads(item) for _, _, item in self.store.job_results(job_id, limit=10**9)])
            items, token = self.paginator.page(f"{kind}:{job_id}:{listing}", next_token, limit,
                                               lambda after, n: every[int(after or -1) + 1:][:n],
                                               lambda item: f"{every.index(item):09d}")
            return self._page(job, kind, items, token)

        def fetch(after: str, n: int) -> list[ResultRow]:
            pair = tuple(int(x) for x in after.split(".")) if after else None
            return self.store.job_results(job_id, by_index=by_index, after=pair,  # type: ignore[arg-type]
                                          limit=n)

        def key(row: ResultRow) -> str:
            return f"{row[1]:09d}.{row[0]:012d}" if by_index else f"{row[0]:012d}.{row[1]:09d}"

        listing = f"{kind}:{job_id}:{'index' if by_index else 'timestamp'}"
        rows, token = self.paginator.page(listing, next_token, limit, fetch, key)
        return self._page(job, kind, [json.loads(item) for _, _, item in rows], token)

    def _page(self, job: JobRow, kind: str, items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
        request = json.loads(job.request)
        out: dict[str, Any] = {"JobStatus": job.status, "JobId": job.job_id,
                               "VideoMetadata": json.loads(job.metadata)}
        if job.status_message:
            out["StatusMessage"] = job.status_message
        if isinstance(request.get("Video"), dict):
            out["Video"] = request["Video"]
        if request.get("JobTag"):
            out["JobTag"] = request["JobTag"]
        if kind == "FaceSearch":
            summary = json.loads(job.summary) if job.summary else None
            tracks = {t["Index"]: t for t in summary["Tracks"]} if summary else {}
            for item in items:
                item["FaceMatches"] = tracks.get(item["Person"]["Index"], {}).get("FaceMatches", [])
            out.update(summary_fields(summary))
        out[RESULTS[kind]] = items
        if token is not None:
            out["NextToken"] = token
        return out

    # --- jobs ---------------------------------------------------------------------------------
    def list_jobs(self, *, status: str | None = None) -> list[dict[str, Any]]:
        """Every job the caller's key may see, oldest first (for ``clearsight video jobs list``)."""
        rows = [j for j in self.store.jobs(status=status, limit=1_000_000)
                if (j.collection_id is None or may_use(current(), j.collection_id))
                and (j.expires is None or j.expires >= self.store.clock())]
        return [self.describe(j) for j in sorted(rows, key=lambda j: j.created)]

    def describe(self, job: JobRow) -> dict[str, Any]:
        meta = json.loads(job.metadata)
        duration = max(1, int(meta.get("DurationMillis") or 1))
        request = json.loads(job.request)
        out = {"JobId": job.job_id, "API": KINDS[job.kind], "JobStatus": job.status, "Video": request["Name"],
               "Created": job.created, "Progress": round(min(1.0, job.progress_ms / duration), 4)
               if job.status == "IN_PROGRESS" else 1.0}
        if job.collection_id:
            out["CollectionId"] = job.collection_id
        if job.status_message:
            out["StatusMessage"] = job.status_message
        return out

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """End a queued or running job FAILED (its results so far are kept until they expire)."""
        job = self.job(job_id)
        if job.status == "IN_PROGRESS":
            self._end(job, "FAILED", f"cancelled by {current().access_key_id}", None, None)
        return self.describe(self.job(job_id))

    def run_now(self, job_id: str) -> None:
        """Run a job to its end in this thread (the CLI's in-process search), unless a runner owns it."""
        job = self.job(job_id)
        if job.status == "IN_PROGRESS" and self.store.claim_job(job_id, self.runner.owner, expected=None):
            for _ in self.run(self.job(job_id)):
                pass

    def purge_expired(self) -> list[str]:
        """Delete finished jobs past their retention and erase them from the files."""
        purged = self.store.purge_jobs(self.store.clock())
        if purged:
            self.collections.complete_erasure()
        return purged

    def _expires(self, job: JobRow) -> float:
        days = float(self.settings.video_result_days)
        if job.collection_id is not None:
            try:
                kept = self.collections.policy(job.collection_id).retention_days
            except ClearSightError:
                kept = 0.0
            if kept > 0:
                days = min(days, kept)
        return self.store.clock() + days * 86400

    def _end(self, job: JobRow, status: str, message: str | None, summary: dict[str, Any] | None,
             rec: AuditRecord | None) -> None:
        self.store.finish_job(job.job_id, status=status, message=message,
                              summary=json.dumps(summary, sort_keys=True) if summary is not None else None,
                              expires=self._expires(job), audit=self.audit.hook(rec) if rec is not None else None)
        request = json.loads(job.request)
        self.sinks.deliver(request.get("NotificationChannel"), {
            "JobId": job.job_id, "Status": status, "API": KINDS[job.kind], "Timestamp": int(time.time() * 1000),
            **({"JobTag": request["JobTag"]} if request.get("JobTag") else {}),
            **({"Video": {"S3ObjectName": request["Video"]["S3Object"]["Name"],
                          "S3Bucket": request["Video"]["S3Object"]["Bucket"]}}
               if isinstance(request.get("Video"), dict) else {})})

    def run(self, job: JobRow) -> Generator[None, None, None]:
        """A job, from its checkpoint to its end, as its caller; yields after each committed chunk.
        Stops quietly when the job is no longer its owner's (cancelled, or claimed by another runner)."""
        caller = Caller.from_json(job.caller)
        request = json.loads(job.request)
        with acting_as(caller):
            try:
                analysis = self._analysis(job, request)
                state: dict[str, Any] = json.loads(job.state) if job.state else {"next_ms": 0}
                if state.get("analysis"):
                    analysis.restore(state["analysis"])
                step = max(1, analysis.every_ms or int(self.settings.video_sample_ms))
                chunk = max(step, int(self.settings.video_chunk_ms))
                rows: list[ResultRow] = []
                start = int(state["next_ms"])
                end = start + chunk
                frames = samples(Path(request["Path"]), every_ms=step, start_ms=start,
                                 rotation=int(request.get("Rotation", 0)), name=request["Name"])
                for s, prepared in self._prepared(frames, analysis):
                    rows += analysis.add(s, prepared)
                    if s.next_ms >= end:
                        if not self._checkpoint(job, s.next_ms, analysis, rows):
                            return
                        rows, end = [], s.next_ms + chunk
                        yield
                meta = json.loads(job.metadata)
                rows += analysis.flush()  # what an analysis holds until the end (the last shot...)
                if not self._checkpoint(job, int(meta.get("DurationMillis") or 0), analysis, rows):
                    return
                self._complete(job, request, analysis)
            except ClearSightError as exc:
                message = exc.message if isinstance(exc, InvalidVideoError) else f"{exc.code}: {exc.message}"
                self._fail(job, request, message)
            except Exception as exc:  # a bug or an OS failure: the job fails, saying so, never hangs
                log.exception("video job %s failed", job.job_id)
                self._fail(job, request, f"internal error: {type(exc).__name__}")

    def _prepared(self, frames: Iterator[Sample], analysis: Analysis) -> Iterator[tuple[Sample, Any]]:
        """Each sample with its detections, prepared a sample ahead in a helper thread (setting video_prefetch)."""
        if self.settings.video_prefetch:
            return prefetched(frames, analysis.prepare)
        return ((s, analysis.prepare(s)) for s in frames)

    def _checkpoint(self, job: JobRow, progress: int, analysis: Analysis,
                    rows: list[ResultRow]) -> bool:
        state = json.dumps({"next_ms": progress, "analysis": analysis.state()})
        assert job.owner is not None
        return self.store.checkpoint_job(job.job_id, job.owner, progress_ms=progress, state=state, results=rows)

    def _analysis(self, job: JobRow, request: dict[str, Any]) -> Analysis:
        if job.kind == "FaceSearch":
            return FaceSearch(self.faces, self.calibration, self.collections, request)
        if job.kind == "SegmentDetection":
            return SegmentDetection(request, json.loads(job.metadata))
        if job.kind == "FaceDetection":
            return FaceDetection(self.faces, request)
        if job.kind == "LabelDetection" and self.labels is not None:
            return LabelDetection(self.labels, request)
        if job.kind == "TextDetection" and self.text is not None:
            return TextDetection(self.text, request)
        raise ClearSightError(f"this VideoService was built without the models {job.kind} needs")

    def _complete(self, job: JobRow, request: dict[str, Any], analysis: Analysis) -> None:
        if not isinstance(analysis, FaceSearch):
            self._end(job, "SUCCEEDED", None, None, None)
            return
        rec = AuditRecord("FaceSearchJob", request["CollectionId"], threshold=float(request["FaceMatchThreshold"]),
                          probe_sha256=request["Sha256"], detail=f"job {job.job_id} SUCCEEDED")
        try:
            summary = analysis.finish(rec)
        except ClearSightError as exc:  # the policy changed since the start, the collection was deleted...
            rec.outcome = "refused" if isinstance(exc, AccessDeniedException) else "error"
            rec.detail = f"job {job.job_id} FAILED: {exc.code}: {exc.message}"
            self._end(job, "FAILED", f"{exc.code}: {exc.message}", None, rec)
            return
        self._end(job, "SUCCEEDED", None, summary, rec)

    def _fail(self, job: JobRow, request: dict[str, Any], message: str) -> None:
        rec = None
        if job.kind == "FaceSearch":
            rec = AuditRecord("FaceSearchJob", request["CollectionId"], threshold=float(request["FaceMatchThreshold"]),
                              probe_sha256=request["Sha256"], outcome="error",
                              detail=f"job {job.job_id} FAILED: {message}")
        self._end(job, "FAILED", message, None, rec)

    # --- in-process (no job) ------------------------------------------------------------------
    def detect_faces_in(self, video: VideoInput, *, sample_ms: int | None = None,
                        face_attributes: str | None = None) -> dict[str, Any]:
        """GetFaceDetection's answer for a local video, computed here and now (``clearsight video faces``)."""
        path, name = self._resolve(video)
        info: VideoInfo = probe(path, name=name, max_ms=float(self.settings.video_max_hours) * 3.6e6)
        analysis = FaceDetection(self.faces, {"FaceAttributes": face_attributes or "DEFAULT"})
        step = int(sample_ms or self.settings.video_sample_ms)
        frames = samples(path, every_ms=step, rotation=info.rotation, name=name)
        faces = [json.loads(item) for s, found in self._prepared(frames, analysis)
                 for _, _, item in analysis.add(s, found)]
        return {"JobStatus": "SUCCEEDED", "VideoMetadata": info.metadata(), "Faces": faces}
