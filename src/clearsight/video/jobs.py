"""The job runner: stored-video jobs, persisted in the store, run on the Engine's executor.

A job is work that yields after each checkpointed chunk (a generator). The runner claims an
IN_PROGRESS job in the store (compare-and-set of its ``owner``), then runs it one chunk per
executor task: after a chunk, the next one is queued behind whatever the executor already holds
(the server's requests), so a long video never keeps a worker from them, and at most ``workers``
chunks (default 1) run at once. A job whose owner died (kill -9, a crash: same host and its pid
is gone) or stopped checkpointing for ``lease`` seconds is claimed again and resumes from its last
checkpoint: the chunk that was cut short is analysed again and its results replace nothing
stored (a chunk commits whole), so nothing is lost or repeated. Stopping releases the jobs, so
another runner (``clearsight worker``, or the next ``serve``) picks them up at once.
"""

from __future__ import annotations

import contextvars
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Generator
from concurrent.futures import Executor
from dataclasses import dataclass, replace

from ..datadir import process_alive
from ..storage.base import JobRow, Store

__all__ = ["JobRunner", "Work", "claimable", "owner_name"]

log = logging.getLogger("clearsight.video")

Work = Callable[[JobRow], Generator[None, None, None]]  # runs a job (owned by the runner): yields after each checkpoint


def owner_name() -> str:
    """A runner's name in the store: host, pid and a nonce (see :func:`claimable`)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claimable(owner: str | None, updated: float, *, me: str, now: float, lease: float) -> bool:
    """Whether a runner ``me`` may take work owned by ``owner`` (last written at ``updated``): nobody
    owns it, its owner's process on this host is gone (kill -9, a crash), or it stopped writing for
    ``lease`` seconds (another host's owner)."""
    if owner is None:
        return True
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if owner != me and host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid)):
        return True
    return updated < now - lease


@dataclass
class _Running:
    work: Generator[None, None, None]
    context: contextvars.Context  # each step runs in the job's own context (its caller, its audit record)


class JobRunner:
    def __init__(self, store: Store, executor: Executor, work: Work, *, workers: int = 1, poll: float = 2.0,
                 lease: float = 120.0) -> None:
        self.store = store
        self.executor = executor
        self.work = work
        self.workers = max(1, workers)
        self.poll = poll
        self.lease = lease
        self.host = socket.gethostname()
        self.owner = owner_name()
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._running)

    def start(self) -> None:
        """Claim and run jobs (those left by a previous process first) until :meth:`stop`."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="video-jobs", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Look for work now (a job was just started)."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the chunks in flight and release the jobs (their checkpoints stay)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            time.sleep(0.05)  # a step in flight releases its job when it sees the stop
        for job_id in self.running:
            self._release(job_id)

    # --- the loop -----------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._fill()
            except Exception:  # the store failed: keep the runner alive, try again at the next poll
                log.exception("the video job runner could not look for jobs")
            self._wake.wait(self.poll)
            self._wake.clear()

    def _claimable(self, job: JobRow) -> bool:
        return claimable(job.owner, job.updated, me=self.owner, now=self.store.clock(), lease=self.lease)

    def _fill(self) -> None:
        with self._lock:
            free = self.workers - len(self._running)
        if free <= 0:
            return
        waiting = sorted(self.store.jobs(status="IN_PROGRESS"), key=lambda j: (j.created, j.job_id))
        for job in waiting:
            if free <= 0 or self._stopping.is_set():
                return
            with self._lock:
                if job.job_id in self._running:
                    continue
            if not self._claimable(job) or not self.store.claim_job(job.job_id, self.owner, expected=job.owner):
                continue
            if job.owner is not None:
                log.info("video job %s: resuming the job of %s from its checkpoint", job.job_id, job.owner)
            context = contextvars.Context()
            running = _Running(context.run(self.work, replace(job, owner=self.owner)), context)
            with self._lock:
                self._running[job.job_id] = running
            free -= 1
            self._submit(job.job_id)

    def _submit(self, job_id: str) -> None:
        try:
            self.executor.submit(self._step, job_id)
        except RuntimeError:  # the executor is shutting down: the job resumes at the next start
            self._release(job_id)

    def _step(self, job_id: str) -> None:
        with self._lock:
            running = self._running.get(job_id)
        if running is None:
            return
        if self._stopping.is_set():
            self._release(job_id)
            return
        done = False
        try:
            running.context.run(next, running.work)
        except StopIteration:
            done = True
        except Exception:  # the work records its own failures; this is a bug: log it, drop the job
            log.exception("video job %s failed unexpectedly", job_id)
            done = True
        if done:
            with self._lock:
                self._running.pop(job_id, None)
            self._wake.set()
            return
        self._submit(job_id)

    def _release(self, job_id: str) -> None:
        with self._lock:
            running = self._running.pop(job_id, None)
        if running is not None:
            try:
                running.context.run(running.work.close)
            except Exception:
                log.exception("video job %s did not close cleanly", job_id)
        try:
            self.store.claim_job(job_id, None, expected=self.owner)
        except Exception:
            log.exception("video job %s could not be released", job_id)
