"""kill -9 during a long IndexFaces batch, and concurrent readers and writers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from clearsight.collections.service import Collections

from ..conftest import data_path

WRITER = r"""
import sys
from pathlib import Path
from clearsight import Engine, Settings
engine = Engine(Settings.load(data_dir=sys.argv[1]))
c = engine.collections
c.create_collection(collection_id="c")
for p in sys.argv[2:]:
    r = c.index_faces(collection_id="c", image=p, quality_filter="NONE")
    for rec in r["FaceRecords"]:
        print(rec["Face"]["FaceId"], flush=True)
"""


def test_kill_9_during_indexing_loses_nothing_returned(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    images = sorted(data_path("lfw", "images").glob("A*/*.jpg"))[:60]
    returned: list[str] = []
    with subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), *map(str, images)],
                          stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        deadline = time.monotonic() + 240
        while len(returned) < 8 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            returned.append(line.strip())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(returned) >= 8, "the writer did not get going"

    c = engine.open_collections(tmp_path)
    listed = {f["FaceId"] for f in c.list_faces(collection_id="c", max_results=4096)["Faces"]}
    assert set(returned) <= listed
    # no half-written face: every listed face has a full vector; the index agrees with SQLite
    vectors = c.store.face_vectors("c", sorted(listed))
    assert set(vectors) == listed
    assert all(v.shape == (engine.calibration.recipe.dimension,) for v in vectors.values())
    assert set(c.index("c").ids) == listed
    for face_id in returned:
        hits = c.search_faces(collection_id="c", face_id=face_id, face_match_threshold=0, max_faces=4096)
        assert len(hits["FaceMatches"]) == len(listed) - 1
    c.close()


def test_concurrent_readers_and_writers(collections: Collections) -> None:
    collections.create_collection(collection_id="c")
    obama = data_path("faces", "face_recognition", "obama.jpg")
    images = sorted(data_path("lfw", "images").glob("B*/*.jpg"))[:12]
    errors: list[BaseException] = []
    latencies: list[float] = []
    stop = threading.Event()

    def writer() -> None:
        try:
            for p in images:
                collections.index_faces(collection_id="c", image=p, quality_filter="NONE")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            stop.set()

    def reader() -> None:
        vec = None
        try:
            while not stop.is_set():
                faces = collections.list_faces(collection_id="c")["Faces"]
                if faces:
                    t = time.perf_counter()
                    collections.search_faces(collection_id="c", face_id=faces[0]["FaceId"], face_match_threshold=0)
                    latencies.append(time.perf_counter() - t)
                time.sleep(0.005)
            vec = collections.search_faces_by_image(collection_id="c", image=obama, face_match_threshold=0)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)
        assert vec is not None

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert collections.describe_collection(collection_id="c")["FaceCount"] == len(collections.index("c"))
    assert latencies and float(np.max(latencies)) < 5.0, "a reader was blocked for seconds"
