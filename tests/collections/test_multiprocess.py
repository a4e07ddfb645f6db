"""Two processes on one data directory: a second server is refused, every process follows the
change log before it answers, and concurrent snapshot writers leave whole files (real subprocesses)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import clearsight
from clearsight.storage.index import ExactIndex, load_index

from ..conftest import data_path
from ..policy.test_erasure import files_containing

ENV = {**os.environ, "PYTHONPATH": str(Path(clearsight.__file__).parents[1])}  # the code under test

HOLD = r"""
import sys, time
from pathlib import Path
from clearsight.datadir import open_for_serving
open_for_serving(Path(sys.argv[1]))
print("locked", flush=True)
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 600)
"""


def _hold(data_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(data_dir)], stdout=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


def test_a_second_server_is_refused_and_a_killed_servers_lock_is_gone(tmp_path: Path) -> None:
    holder = _hold(tmp_path)
    try:
        second = subprocess.run([sys.executable, "-m", "clearsight.cli", "serve", "--data-dir", str(tmp_path),
                                 "--no-auth", "--port", "0"], capture_output=True, text=True, timeout=120, env=ENV)
        assert second.returncode != 0
        assert f"pid {holder.pid}" in second.stderr and "Traceback" not in second.stderr, second.stderr
    finally:
        _kill(holder)
    _kill(_hold(tmp_path))  # kill -9 left no stale lock


WRITER = r"""
import sys
from pathlib import Path
from clearsight import Engine, Settings
c = Engine(Settings.load(data_dir=sys.argv[1])).collections
for p in sys.argv[3:]:
    for rec in c.index_faces(collection_id="c", image=p)["FaceRecords"]:
        print(rec["Face"]["FaceId"], flush=True)
c.delete_faces(collection_id="c", face_ids=[sys.argv[2]])
c.close()
"""


def test_every_process_follows_the_change_log(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fr = data_path("faces", "face_recognition")
    server = engine.open_collections(tmp_path)
    server.create_collection(collection_id="c")
    ids = [server.index_faces(collection_id="c", image=fr / n)["FaceRecords"][0]["Face"]["FaceId"]
           for n in ("obama.jpg", "biden.jpg")]
    doomed_vec = server.store.face_vectors("c", [ids[0]])[ids[0]]
    assert len(server.search_faces(collection_id="c", face_id=ids[1], face_match_threshold=0)["FaceMatches"]) == 1
    # a CLI process beside the server: indexes two faces, deletes one of the server's, snapshots
    out = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path), ids[0], str(fr / "obama2.jpg"),
                          str(fr / "alex-lacamoire.png")],
                         capture_output=True, text=True, timeout=300, env=ENV, check=True)
    added = out.stdout.split()
    assert len(added) == 2
    listed = {f["FaceId"] for f in server.list_faces(collection_id="c")["Faces"]}
    assert listed == {ids[1], *added}
    # the server answers with the other process's changes, without a restart
    for face_id in listed:
        hits = server.search_faces(collection_id="c", face_id=face_id, face_match_threshold=0, max_faces=100)
        assert {m["Face"]["FaceId"] for m in hits["FaceMatches"]} == listed - {face_id}
    assert set(server.index("c").ids) == listed
    byimage = server.search_faces_by_image(collection_id="c", image=fr / "obama.jpg", face_match_threshold=0)
    assert ids[0] not in {m["Face"]["FaceId"] for m in byimage["FaceMatches"]}
    server.close()
    # after a restart every listed face is searchable and the deleted vector is in no index file
    again = engine.open_collections(tmp_path)
    assert set(again.index("c").ids) == listed
    assert files_containing(tmp_path / "index", np.asarray(doomed_vec, np.float32).tobytes()[:64]) == []
    again.close()


SAVER = r"""
import sys
import numpy as np
from pathlib import Path
from clearsight.storage.index import ExactIndex
idx = ExactIndex(64)
rng = np.random.default_rng(int(sys.argv[2]))
idx.add([f"{sys.argv[2]}-{i}" for i in range(3000)], rng.standard_normal((3000, 64)).astype(np.float32))
for _ in range(40):
    idx.save(Path(sys.argv[1]), "c")
print("ok")
"""


def test_two_processes_snapshotting_at_once_leave_a_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "index" / "c.idx"
    procs = [subprocess.Popen([sys.executable, "-c", SAVER, str(path), str(seed)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=ENV) for seed in (1, 2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    loaded = load_index(path, "c", 64)
    assert isinstance(loaded, ExactIndex) and len(loaded) == 3000
    assert not list(path.parent.glob("*.tmp"))
    assert path.stat().st_mode & 0o777 == 0o600


def test_search_catches_up_with_a_write_made_meanwhile(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The check before a search is one cheap query: a change logged by another connection is seen."""
    from clearsight.storage.base import NewFace
    from clearsight.storage.sqlite import SqliteStore

    c = engine.open_collections(tmp_path)
    c.create_collection(collection_id="c")
    assert len(c.index("c")) == 0
    other = SqliteStore(tmp_path / "clearsight.db")  # another process's connection
    vec = np.zeros(engine.calibration.recipe.dimension, np.float32)
    vec[0] = 1.0
    other.add_faces("c", [NewFace("f1", "i1", None, {"Left": 0, "Top": 0, "Width": 1, "Height": 1}, 99.0, vec)])
    hits, gallery = c.search_vector("c", vec, threshold=0, k=5)
    assert gallery == 1 and [h.face_id for h, _ in hits] == ["f1"]
    other.delete_faces("c", ["f1"])
    t = time.perf_counter()
    assert c.search_vector("c", vec, threshold=0, k=5) == ([], 0)
    assert time.perf_counter() - t < 1.0
    other.close()
    c.close()
