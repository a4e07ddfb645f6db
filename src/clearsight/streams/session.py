"""One running stream processor: a reader thread that follows the camera, a worker that analyses
the newest sampled frame on the engine's executor and writes its record.

Frames never queue: the reader keeps one pending frame, and a newer one replaces it (the older is
dropped and counted); a frame older than the latency budget when its turn comes (at the worker, and
again when an executor thread takes it up) is dropped too.
So a processor that falls behind its camera loses frames, never memory, and says how many. A
camera that cannot be opened or stops sending is retried with backoff (1 s doubling to 30 s),
the processor STARTING with a StatusMessage saying why, until ``stream_retry_seconds`` pass
without a frame: then it is FAILED. Every status change is written with the owner as a
compare-and-set, so a session whose processor was stopped, deleted or taken over stops itself.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import AccessDeniedException, ClearSightError
from ..policy.audit import AuditRecord
from ..policy.context import Caller, acting_as
from .analysis import ConnectedHome, LiveFaceSearch
from .source import Frame, SourceEnded, SourceError, frames

if TYPE_CHECKING:
    from .config import RecordWriter
    from .service import StreamProcessors

__all__ = ["Session", "Stats"]

log = logging.getLogger("clearsight.streams")
T = TypeVar("T")
POLICY_EVERY = 10.0  # seconds between re-checks of the searched collection's policy
BACKOFF = (1.0, 30.0)


@dataclass
class Stats:
    frames_analysed: int = 0
    frames_dropped: int = 0  # of which:
    dropped_replaced: int = 0  # a newer frame arrived while the worker was busy
    dropped_late: int = 0  # older than the latency budget when its turn came
    records: int = 0
    identifications: int = 0
    reconnects: int = 0
    sink_failures: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=2000))  # ms, frame arrival -> record

    def to_json(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def pct(q: float) -> float | None:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else None

        return {"FramesAnalysed": self.frames_analysed, "FramesDropped": self.frames_dropped,
                "FramesDroppedReplaced": self.dropped_replaced, "FramesDroppedLate": self.dropped_late,
                "Records": self.records, "Identifications": self.identifications, "Reconnects": self.reconnects,
                "SinkFailures": self.sink_failures, "LatencyMillisP50": pct(0.5), "LatencyMillisP99": pct(0.99)}


class Session:
    def __init__(self, service: StreamProcessors, name: str, owner: str) -> None:
        row = service.store.processor(name)
        assert row is not None
        self.service, self.name, self.owner = service, name, owner
        self.request: dict[str, Any] = service.request_of(row)
        self.session: dict[str, Any] = service.session_of(row)
        self.caller = Caller.from_json(row.caller)
        self.status, self.message = row.status, row.status_message
        self.stats = Stats()
        self.stop_event = threading.Event()
        self.ended = threading.Event()
        self._pending: Frame | None = None
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._writer: RecordWriter | None = None
        self._configure()

    # --- lifecycle --------------------------------------------------------------------------------
    def _configure(self) -> None:
        settings = self.request["Settings"]
        regions = self.request.get("RegionsOfInterest")
        self.budget_ms = self.service.budget_ms(self.request)
        if "FaceSearch" in settings:
            fs = settings["FaceSearch"]
            self.analysis: LiveFaceSearch | ConnectedHome = LiveFaceSearch(
                self.service.faces, self.service.calibration, self.service.collections, fs["CollectionId"],
                float(fs.get("FaceMatchThreshold", 80.0)), regions)
        else:
            self.analysis = ConnectedHome(self.service.labels, settings["ConnectedHome"], regions)

    def reconfigure(self) -> None:
        """UpdateStreamProcessor's changes, taken between two frames."""
        row = self.service.store.processor(self.name)
        if row is not None:
            with self._cond:
                self.request = self.service.request_of(row)
                self._configure()

    def start(self) -> Session:
        self._writer = self.service.writer(self.request, self.name, self.session["SessionId"])
        for target, label in ((self._read, "read"), (self._work, "work")):
            t = threading.Thread(target=target, name=f"stream-{self.name}-{label}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads (the processor's row is the caller's to write)."""
        self.stop_event.set()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)
        if self._writer is not None:
            self._writer.close()

    def _set_status(self, status: str, message: str | None) -> None:
        """A change of the session's own status, if the processor is still as it saw it: an operation's
        STOPPING or UPDATING is never overwritten (the runner handles those)."""
        if (status, message) == (self.status, self.message):
            return
        store = self.service.store
        if store.update_processor(self.name, {"status": status, "status_message": message},
                                  expected={"owner": self.owner, "status": self.status}):
            self.status, self.message = status, message
            return
        row = store.processor(self.name)
        if row is None or row.owner != self.owner:  # deleted or taken over: this session is over
            self.stop_event.set()

    def end(self, status: str, message: str | None) -> None:
        """The session ends by itself (its camera ended or failed, its time is up, its policy refuses)."""
        if self.stop_event.is_set():
            return
        self.stop_event.set()
        cid = self.request["Settings"].get("FaceSearch", {}).get("CollectionId")
        rec = AuditRecord("StreamProcessorEnded", cid, outcome="ok" if status == "STOPPED" else "error",
                          detail=f"stream processor {self.name} session {self.session.get('SessionId')} {status}: "
                                 f"{message}", results=[{"StreamProcessor": self.name}])
        with acting_as(self.caller):
            self.service.store.update_processor(self.name, {"status": status, "status_message": message,
                                                            "owner": None, "stats": self.stats_json()},
                                                expected={"owner": self.owner}, audit=self.service.audit.hook(rec))
        self.service.notify(self.name, self.request, self.session, status, message)
        self.ended.set()

    def stats_json(self) -> str:
        import json

        return json.dumps(self.stats.to_json())

    # --- the reader -------------------------------------------------------------------------------
    def _read(self) -> None:
        s = self.service.settings
        source = self.service.sources.resolve(self.request["Input"]["KinesisVideoStream"]["Arn"])
        wait, last_frame, index = BACKOFF[0], time.monotonic(), 0
        while not self.stop_event.is_set():
            try:
                for frame in frames(source, sample_ms=int(s.stream_sample_ms), timeout=float(s.stream_read_timeout),
                                    stop=self.stop_event, start_index=index):
                    last_frame, wait, index = time.monotonic(), BACKOFF[0], frame.index + 1
                    self._offer(frame)
                return
            except SourceEnded as exc:
                self.end("STOPPED", f"the camera ended: {exc}")
                return
            except SourceError as exc:
                problem = str(exc)
            except Exception as exc:  # a bug: the processor fails, saying so, never hangs
                log.exception("stream processor %s: reading failed", self.name)
                self.end("FAILED", f"internal error reading the camera: {type(exc).__name__}")
                return
            silent = time.monotonic() - last_frame
            if silent > float(s.stream_retry_seconds):
                self.end("FAILED", f"no frames for {silent:.0f} s (setting stream_retry_seconds): {problem}")
                return
            self.stats.reconnects += 1
            self._set_status("STARTING", f"camera unavailable ({problem}); retrying in {wait:g} s "
                                         f"(attempt {self.stats.reconnects})")
            self.stop_event.wait(wait)
            wait = min(BACKOFF[1], wait * 2)

    def _offer(self, frame: Frame) -> None:
        with self._cond:
            if self._pending is not None:  # the worker is still busy with an older frame
                self.stats.frames_dropped += 1
                self.stats.dropped_replaced += 1
            self._pending = frame
            self._cond.notify()

    # --- the worker -------------------------------------------------------------------------------
    def _next(self) -> Frame | None:
        with self._cond:
            while self._pending is None and not self.stop_event.is_set():
                self._cond.wait(0.5)
            frame, self._pending = self._pending, None
            return frame

    def _work(self) -> None:
        checked, first = 0.0, None
        limit = (self.session.get("StopSelector") or {}).get("MaxDurationInSeconds")
        if isinstance(self.analysis, ConnectedHome):
            try:
                self.analysis.labels()  # the label models load now, not on the first frame (which would be late)
            except Exception as exc:
                log.exception("stream processor %s: the label models did not load", self.name)
                self.end("FAILED", f"the label models did not load: {type(exc).__name__}: {exc}")
                return
        with acting_as(self.caller):
            while not self.stop_event.is_set():
                frame = self._next()
                if frame is None:
                    continue
                first = frame.arrived if first is None else first
                if limit and frame.arrived - first > float(limit):
                    self.end("STOPPED", f"StopSelector.MaxDurationInSeconds ({limit} s) reached")
                    return
                if self._late(frame):
                    continue
                try:
                    if time.monotonic() - checked > POLICY_EVERY:
                        self._check_policy()
                        checked = time.monotonic()
                    self._frame(frame)
                except ClearSightError as exc:
                    self._refused(exc)
                    return
                except RuntimeError:  # the executor is shutting down: the next server resumes the processor
                    return
                except Exception as exc:
                    log.exception("stream processor %s: analysis failed", self.name)
                    self.end("FAILED", f"internal error: {type(exc).__name__}")
                    return

    def _check_policy(self) -> None:
        if isinstance(self.analysis, LiveFaceSearch):
            a = self.analysis
            rec = AuditRecord("StreamProcessorSearch", a.collection_id, threshold=a.threshold)
            a.version, a.k = self.service.collections.checked_search(rec, a.collection_id, a.threshold, None,
                                                                     a.k)

    def _refused(self, exc: ClearSightError) -> None:
        cid = self.request["Settings"].get("FaceSearch", {}).get("CollectionId")
        rec = AuditRecord("StreamProcessorSearch", cid, outcome="refused" if isinstance(exc, AccessDeniedException)
                          else "error", detail=f"stream processor {self.name}: {exc.code}: {exc.message}")
        self.service.audit.append(rec)
        self.end("FAILED", f"{exc.code}: {exc.message}")

    def _late(self, frame: Frame) -> bool:
        if 1000 * (time.time() - frame.arrived) <= self.budget_ms:
            return False
        self.stats.frames_dropped += 1
        self.stats.dropped_late += 1
        return True

    def _run(self, analyse: Callable[[Frame], T], frame: Frame) -> T | None:
        """``analyse(frame)`` on the engine's executor, unless the frame went past the budget while it
        waited there for a worker (the executor is shared: requests and other cameras queue too)."""
        return self.service.executor.submit(lambda: None if self._late(frame) else analyse(frame)).result()

    def _frame(self, frame: Frame) -> None:
        analysis = self.analysis
        if isinstance(analysis, LiveFaceSearch):
            searched = self._run(analysis.analyse, frame)
            if searched is None:
                return
            entries, found = searched
            for ident in found:  # recorded before the record that discloses it is written
                self.service.audit.append(AuditRecord(
                    "StreamProcessorIdentification", analysis.collection_id, threshold=analysis.threshold,
                    gallery_size=ident.gallery, probe_sha256=hashlib.sha256(frame.rgb.tobytes()).hexdigest(),
                    results=[{"FaceId": m["Face"]["FaceId"], "Similarity": m["Similarity"]} for m in ident.matches],
                    detail=f"stream processor {self.name} session {self.session['SessionId']} frame {frame.index} "
                           f"track {ident.track}"))
                self.stats.identifications += 1
            body: dict[str, Any] | None = {"FaceSearchResponse": entries} if entries else None
        else:
            labels = self._run(analysis.analyse, frame)
            if labels is None:
                return
            body = {"labels": [{**label, "id": str(uuid.uuid4())} for label in labels]} if labels else None
        self.stats.frames_analysed += 1
        if self.status != "RUNNING":
            self._set_status("RUNNING", None)
        if body is not None:
            self._emit(frame, body)

    def _emit(self, frame: Frame, body: dict[str, Any]) -> None:
        assert self._writer is not None
        now = time.time()
        latency = round(1000 * (now - frame.arrived), 1)
        record = {"InputInformation": {"KinesisVideo": {
            "StreamArn": self.request["Input"]["KinesisVideoStream"]["Arn"], "FragmentNumber": str(frame.index),
            "ServerTimestamp": round(frame.arrived, 3), "ProducerTimestamp": round(frame.arrived, 3),
            "FrameOffsetInSeconds": round(frame.pts_ms / 1000, 3)}},
            "StreamProcessorInformation": {"Status": "RUNNING"}, **body,
            "ClearSight": {"StreamProcessorName": self.name, "SessionId": self.session["SessionId"],
                           "StreamTimestampMillis": frame.stream_ms, "WrittenAt": round(now, 3),
                           "LatencyMillis": latency}}
        before = self._writer.failures
        self._writer.write(record)
        self.stats.sink_failures += self._writer.failures - before
        self.stats.records += 1
        self.stats.latencies.append(latency)
        if "labels" in body:
            self.service.notify(self.name, self.request, self.session, "LABEL_DETECTED", None, labels=body["labels"])
