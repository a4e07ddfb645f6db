"""IndexFaces-like writes in a thread, for the kill -9 tests: batches of faces, each with its change
and its audit record in one store transaction, until stopped."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from clearsight.errors import StorageError
from clearsight.policy.audit import AuditLog, AuditRecord
from clearsight.storage.base import NewFace

BOX = {"Width": 0.1, "Height": 0.1, "Left": 0.1, "Top": 0.1}


class Writer:
    """``done``: the batch numbers that committed; ``failures``: the StorageErrors of those that did not."""

    def __init__(self, store: Any, log: AuditLog, *, batch: int, collection: str = "c") -> None:
        self.store, self.log, self.batch, self.collection = store, log, batch, collection
        self.done: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._rng = np.random.default_rng(9)
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            vecs = self._rng.standard_normal((self.batch, 4)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            faces = [NewFace(f"k{i}-{j}", f"img{i}", None, BOX, 99.0, vecs[j]) for j in range(self.batch)]
            try:
                self.store.add_faces(self.collection, faces,
                                     audit=self.log.hook(AuditRecord("IndexFaces", self.collection)))
                self.done.append(i)
            except StorageError as exc:
                self.failures.append(str(exc))
                time.sleep(0.05)
            i += 1

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def wait(self, *, done: int | None = None, failures: int | None = None, timeout: float = 60) -> None:
        """Until ``done`` batches committed or ``failures`` failed (whichever is asked), or ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done is not None and len(self.done) >= done:
                return
            if failures is not None and len(self.failures) >= failures:
                return
            time.sleep(0.01)
