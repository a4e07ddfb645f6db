"""The stream runner: claims the processors that should run, runs each in a :class:`~.session.Session`,
and follows what the operations write (STOPPING, UPDATING, deletions).

Ownership is the stored-video jobs' rule (:func:`~clearsight.video.jobs.claimable`): a processor is
claimed with a compare-and-set of its ``owner``; one whose owner's process died (kill -9) or stopped
writing for ``lease`` seconds is claimed again. A claimed processor resumes STARTING ("resumed...")
until its camera's first frame is analysed. Every ``heartbeat`` seconds the runner writes each
session's counters (which keeps its lease). Stopping the runner releases its processors as they
are (RUNNING), so the next server resumes them.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from ..policy.audit import AuditRecord
from ..policy.context import Caller, acting_as
from ..storage.base import ProcessorRow
from ..video.jobs import claimable, owner_name

if TYPE_CHECKING:
    from .service import StreamProcessors
    from .session import Session

__all__ = ["StreamRunner"]

log = logging.getLogger("clearsight.streams")
ACTIVE = ("STARTING", "RUNNING", "UPDATING")


class StreamRunner:
    def __init__(self, service: StreamProcessors, *, poll: float = 1.0, lease: float = 30.0,
                 heartbeat: float = 2.0) -> None:
        self.service = service
        self.store = service.store
        self.poll, self.lease, self.heartbeat = poll, lease, heartbeat
        self.owner = owner_name()
        self.sessions: dict[str, Session] = {}
        self._beats: dict[str, float] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="stream-processors", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every session and release its processor (still RUNNING: the next server resumes it)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for name, session in list(self.sessions.items()):
            session.stop()
            self.store.update_processor(name, {"owner": None, "stats": session.stats_json(),
                                               "status_message": "released at shutdown: the next server resumes it"},
                                        expected={"owner": self.owner})
        self.sessions.clear()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:  # the store failed: keep the runner alive, try again at the next poll
                log.exception("the stream runner could not look at its processors")
            self._wake.wait(self.poll)
            self._wake.clear()

    def tick(self) -> None:
        rows = {r.name: r for r in self.store.processors(limit=1_000_000)}
        for name in [n for n in self.sessions if n not in rows or rows[n].owner != self.owner]:
            self.sessions.pop(name).stop()  # deleted, ended by itself, or taken over
        for row in rows.values():
            if self._stopping.is_set():
                return
            session = self.sessions.get(row.name)
            if session is not None:
                self._follow(row, session)
            elif row.status == "STOPPING" and claimable(row.owner, row.updated, me=self.owner,
                                                         now=self.store.clock(), lease=self.lease):
                self.store.update_processor(row.name, {"status": "STOPPED", "owner": None},
                                            expected={"status": "STOPPING", "owner": row.owner})
            elif row.status in ACTIVE and row.owner != self.owner and claimable(
                    row.owner, row.updated, me=self.owner, now=self.store.clock(), lease=self.lease):
                self._claim(row)

    def _claim(self, row: ProcessorRow) -> None:
        resumed = row.owner is not None or row.status != "STARTING"
        message = "resumed after a restart; connecting to the camera" if resumed else "connecting to the camera"
        if not self.store.update_processor(row.name, {"owner": self.owner, "status": "STARTING",
                                                      "status_message": message},
                                           expected={"owner": row.owner, "status": row.status}):
            return
        from .session import Session

        if resumed:  # a start the operations did not make: audited as the processor's creator
            log.info("stream processor %s: resuming (it was %s, owned by %s)", row.name, row.status, row.owner)
            caller = Caller.from_json(row.caller)
            with acting_as(caller):
                self.service.audit.append(AuditRecord(
                    "StreamProcessorResumed", row.collection_id, results=[{"StreamProcessor": row.name}],
                    detail=f"stream processor {row.name} resumed by {self.owner} (it was {row.status}, owned by "
                           f"{row.owner})"))
        try:
            session = Session(self.service, row.name, self.owner)
            session.status, session.message = "STARTING", message
            self.sessions[row.name] = session.start()
        except Exception as exc:  # it cannot even start (a model failed to load...): FAILED, saying why
            log.exception("stream processor %s could not start", row.name)
            self.store.update_processor(row.name, {"status": "FAILED", "owner": None,
                                                   "status_message": f"could not start: {type(exc).__name__}: {exc}"},
                                        expected={"owner": self.owner})
            return
        self._beats[row.name] = time.monotonic()

    def _follow(self, row: ProcessorRow, session: Session) -> None:
        if session.ended.is_set():
            self.sessions.pop(row.name).stop()
            return
        if row.status == "STOPPING":
            self.sessions.pop(row.name).stop()
            self.store.update_processor(row.name, {"status": "STOPPED", "owner": None, "stats": session.stats_json()},
                                        expected={"owner": self.owner})
            self.service.notify(row.name, self.service.request_of(row), self.service.session_of(row), "STOPPED",
                                "stopped by StopStreamProcessor")
            return
        if row.status == "UPDATING":
            session.reconfigure()
            if self.store.update_processor(row.name, {"status": "RUNNING", "status_message": None},
                                           expected={"owner": self.owner, "status": "UPDATING"}):
                session.status, session.message = "RUNNING", None
            return
        if time.monotonic() - self._beats.get(row.name, 0.0) >= self.heartbeat:
            self._beats[row.name] = time.monotonic()
            self.store.update_processor(row.name, {"stats": session.stats_json()}, expected={"owner": self.owner})
