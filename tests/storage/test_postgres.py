"""The PostgreSQL backend on a real server (tests/pg.py starts one; skipped without the binaries):
what the congruence test cannot see. HNSW search with exact re-scoring against exact search, the
erasure proof on the server's files, access keys in the database, the one place storage_url is
read, and writers of two processes' worth of connections sharing one audit chain."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clearsight.calibration import Calibration
from clearsight.errors import StorageError
from clearsight.policy.audit import AuditLog, AuditRecord
from clearsight.settings import Settings
from clearsight.storage.backends import open_store, sqlite_path
from clearsight.storage.base import NewFace
from clearsight.storage.index import ExactIndex
from clearsight.storage.sqlite import SqliteStore

from ..pg import fresh_url, server
from .writer import Writer

BOX = {"Width": 0.1, "Height": 0.1, "Left": 0.1, "Top": 0.1}


def store(url: str | None = None, **kwargs: Any) -> Any:
    from clearsight.storage.postgres import PgDatabase, PostgresStore

    return PostgresStore(PgDatabase(url or fresh_url()), **kwargs)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def gallery(rng: np.random.Generator, people: int, per_person: int, d: int, spread: float) -> np.ndarray:
    """Face-like vectors: identities as random directions, each person's faces scattered around theirs
    (``spread`` sets how far: a same-person pair scores about 1 / (1 + spread**2))."""
    centres = unit(rng.standard_normal((people, d)))
    noise = rng.standard_normal((people, per_person, d)) * spread / np.sqrt(d)
    return unit(centres[:, None, :] + noise).reshape(people * per_person, d)


def faces(mat: np.ndarray) -> list[NewFace]:
    return [NewFace(f"f{i:06d}", f"img{i}", None, BOX, 99.0, v) for i, v in enumerate(mat)]


def loaded(mat: np.ndarray, **kwargs: Any) -> tuple[Any, ExactIndex]:
    """A PostgresStore whose collection "c" holds ``mat`` (faces f000000...), and an ExactIndex of it."""
    s = store(**kwargs)
    s.create_collection("c", "m", mat.shape[1])
    s.add_faces("c", faces(mat))
    exact = ExactIndex(mat.shape[1])
    exact.add([f"f{i:06d}" for i in range(len(mat))], mat)
    return s, exact


@pytest.mark.parametrize("index_type", ["halfvec", "vector"])
def test_hnsw_with_exact_rescoring_equals_exact_search_at_similarity_99(index_type: str) -> None:
    rng = np.random.default_rng(3)
    cal = Calibration.load()
    d = cal.recipe.dimension
    min_score = cal.score_for(99.0)
    mat = gallery(rng, 600, 5, d, spread=0.5)  # 3,000 faces; a same-person pair scores about the 99 bar
    s, exact = loaded(mat, index_type=index_type)
    pg = s.vector_index("c", candidates=64)  # far fewer candidates than faces: the HNSW path
    queries = unit(mat[rng.choice(len(mat), 60, replace=False)] + rng.standard_normal((60, d)) * 0.2 / np.sqrt(d))
    matched = 0
    for q in queries:
        want = exact.search(q, k=8, min_score=min_score)
        got = pg.search(q, k=8, min_score=min_score)
        assert [h.face_id for h in got] == [h.face_id for h in want]
        assert [h.score for h in got] == [h.score for h in want]  # exact float32 scores, not the index's
        matched += len(want)
    assert matched > 120  # the comparison is about real matches, not empty answers
    assert len(pg) == len(mat) and "f000001" in pg and "nope" not in pg


def test_a_small_collection_is_searched_exactly() -> None:
    rng = np.random.default_rng(4)
    mat = unit(rng.standard_normal((50, 16)))
    s, exact = loaded(mat)
    for q in mat[:10]:
        assert s.vector_index("c", candidates=64).search(q, k=50) == exact.search(q, k=50)


def test_erasure_leaves_no_byte_of_a_deleted_vector_in_the_data_directory() -> None:
    from clearsight.storage.postgres.erasure import needles, scan

    rng = np.random.default_rng(5)
    mat = unit(rng.standard_normal((200, 128)))
    s, _ = loaded(mat)
    s.stage_vectors("c", "next", {"f000007": -mat[11]})
    s.create_collection("d", "m", 128)  # a whole collection deleted: its partition is dropped
    s.add_faces("d", [NewFace("d0", "img", None, BOX, 99.0, -mat[10])])
    s.checkpoint()  # the rows are in the heap and index files now, not only in the WAL
    gone, kept = needles(mat[7]) + needles(-mat[11]) + needles(-mat[10]), needles(mat[9])
    before = scan(server().data, gone)
    assert {p.parent.name for p, _ in before} >= {"pg_wal"} and any("base" in p.parts for p, _ in before)
    assert s.delete_faces("c", ["f000007"], receipt="r1") == ["f000007"]  # its staged vector goes too
    assert s.delete_collection("d", receipt="r2") == 1
    assert scan(server().data, gone)  # deleted is not erased: the bytes are still there
    s.vacuum()
    left = scan(server().data, gone)
    assert not left, f"deleted vector bytes remain in {sorted({str(p) for p, _ in left})}"
    assert scan(server().data, kept)  # the proof can see a vector that was not deleted
    s.complete_erasures(s.pending_erasures(), 1.0)
    assert s.erasure("r1")["completed"] == s.erasure("r2")["completed"] == 1.0 and s.pending_erasures() == 0


def test_a_server_that_recycles_wal_is_refused_rather_than_a_receipt_completed() -> None:
    url = fresh_url()
    s = store(url)
    server().configure("wal_recycle", "on")  # PostgreSQL's default
    try:
        with pytest.raises(StorageError, match="wal_recycle"):
            s.vacuum()
    finally:
        server().configure("wal_recycle", "off")


def test_access_keys_live_in_postgres(tmp_path: Path) -> None:
    from clearsight.server.keys import KeyStore

    url = fresh_url()
    keys = KeyStore(tmp_path, storage_url=url)
    assert keys.empty()
    key_id, secret = keys.create("ops", scopes=frozenset({"admin"}))
    assert keys.secret(key_id) == secret and keys.get(key_id).admin  # type: ignore[union-attr]
    other = KeyStore(tmp_path, storage_url=url)  # another process's view: the same rows
    assert [k.access_key_id for k in other.list()] == [key_id]
    other.revoke(key_id)
    assert keys.secret(key_id) is None
    assert not (tmp_path / "clearsight.db").exists()  # nothing went to SQLite


def test_storage_url_picks_the_backend(tmp_path: Path) -> None:
    assert sqlite_path("", tmp_path) == tmp_path / "clearsight.db"
    assert sqlite_path("sqlite:///other.db", tmp_path) == tmp_path / "other.db"
    assert sqlite_path("sqlite:////abs/x.db", tmp_path) == Path("/abs/x.db")
    with pytest.raises(StorageError, match="neither"):
        sqlite_path("mysql://root:secret@db/x", tmp_path)
    assert isinstance(open_store("", tmp_path), SqliteStore)
    from clearsight.storage.postgres import PostgresStore

    assert isinstance(open_store(fresh_url(), tmp_path), PostgresStore)


def test_an_unreachable_server_is_a_storage_error() -> None:
    from clearsight.storage.postgres import PgDatabase

    with pytest.raises(StorageError, match="cannot open the database"):
        PgDatabase("postgresql://nobody@/nowhere?host=/nonexistent-socket-dir&connect_timeout=2")


def test_writers_with_separate_connections_keep_one_audit_chain(tmp_path: Path) -> None:
    """Two store objects (each its own connections and process lock, as two processes have) write
    at once; the advisory lock serialises them, so the chain verifies and the log has no gap."""
    url = fresh_url()
    settings = Settings.load(audit_key="5a" * 32)
    stores = [store(url), store(url)]
    stores[0].create_collection("c", "m", 4)
    logs = [AuditLog(s, settings, data_dir=tmp_path) for s in stores]
    rng = np.random.default_rng(6)

    def write(n: int) -> None:
        for i in range(25):
            new = NewFace(f"w{n}-{i}", "img", None, BOX, 99.0, unit(rng.standard_normal(4)))
            stores[n].add_faces("c", [new], audit=logs[n].hook(AuditRecord("IndexFaces", "c")))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert logs[0].verify().ok and logs[0].verify().records == 50
    seqs = [seq for seq, _, _, _ in stores[1].changes_since(0)]
    assert seqs == list(range(1, 51)) and stores[1].last_change() == 50 and stores[0].counts("c") == (50, 0)


def test_the_store_reconnects_after_the_server_restarts() -> None:
    s, _ = loaded(unit(np.random.default_rng(7).standard_normal((3, 4))))
    assert s.counts("c") == (3, 0)
    server().restart()
    assert s.counts("c") == (3, 0)  # a read on a dropped connection is retried on a new one
    server().restart()
    s.create_user("c", "ann")  # a write on a dropped connection begins on a new one
    assert s.users("c") == ["ann"]


def test_store_status_names_the_partitions_and_whether_erasure_can_complete(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    from clearsight.storage.backends import status

    url = fresh_url()
    loaded(unit(np.random.default_rng(8).standard_normal((5, 8))), url=url)
    out = status(url, tmp_path)
    from clearsight.storage.postgres.migrations import MIGRATIONS

    assert out["Backend"] == "postgresql" and out["ErasureCanComplete"]
    assert out["SchemaVersion"] == MIGRATIONS[-1].version
    [c] = out["Collections"]
    assert (c["CollectionId"], c["Faces"], c["Dimension"], c["HnswType"]) == ("c", 5, 8, "halfvec")
    assert c["HeapBytes"] > 0 and c["HnswBytes"] > 0
    env = dict(os.environ, CLEARSIGHT_STORAGE_URL=url)
    done = subprocess.run([sys.executable, "-m", "clearsight.cli", "store", "status", "--json", "--data-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and json.loads(done.stdout)["Collections"][0]["Faces"] == 5, done.stderr
    assert status("", tmp_path)["Backend"] == "sqlite"


def test_two_collections_objects_on_one_database_see_each_others_faces_at_once(engine: Any, tmp_path: Path) -> None:
    """Two servers (two data directories, one database, one audit key): no index to catch up, a face
    indexed through one is found through the other, and deleted through the other is gone from both."""
    from clearsight.collections.service import Collections

    from .test_congruence import FixedEngine, vectors

    url = fresh_url()
    fixed = FixedEngine(engine, vectors(engine.calibration.recipe.dimension))
    made = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "token.key").write_bytes(b"k" * 32)
        made.append(Collections(tmp_path / name, settings=fixed.settings, faces=fixed.faces,  # type: ignore[arg-type]
                                calibration=fixed.calibration, decode=fixed.decode, store=store(url)))
    a, b = made
    a.create_collection(collection_id="c")
    face = a.index_faces(collection_id="c", image="a1", quality_filter="NONE")["FaceRecords"][0]["Face"]["FaceId"]
    found = b.search_faces_by_image(collection_id="c", image="a2", face_match_threshold=50)
    assert [m["Face"]["FaceId"] for m in found["FaceMatches"]] == [face]
    assert b.delete_faces(collection_id="c", face_ids=[face])["DeletedFaces"] == [face]
    assert a.search_faces_by_image(collection_id="c", image="a2", face_match_threshold=50)["FaceMatches"] == []
    assert a.audit.verify().ok and b.audit.verify().ok
    for c in made:
        c.close()


def test_retention_hides_faces_as_sqlite_does(tmp_path: Path) -> None:
    import json

    day = 86400.0
    answers = []
    for s in (SqliteStore(tmp_path / "clearsight.db"), store()):
        s.create_collection("c", "m", 2)
        for face_id, when in (("f1", 1000.0), ("f2", 1000.0 + 1.5 * day)):
            s.clock = lambda when=when: when
            s.add_faces("c", [NewFace(face_id, "img", None, BOX, 99.0, np.array([1.0, 0.0], np.float32))])
        s.clock = lambda: 1000.0 + 2 * day
        before = [f.face_id for f in s.faces("c")]
        s.set_policy_json("c", json.dumps({"retention_days": 1}))
        answers.append((before, [f.face_id for f in s.faces("c")],
                        [f.face_id for f in s.faces("c", include_expired=True)],
                        s.expired_among("c", ["f1", "f2", "nope"]), s.has_retention("c"),
                        s.expired_faces("c", 1000.0 + day), [f.face_id for f in s.faces("c", face_ids=["f1"])]))
    assert answers[0] == answers[1]
    assert answers[0][1] == ["f2"] and answers[0][3] == {"f1"}


def test_kill_9_of_the_server_during_index_faces_leaves_no_half_written_face(tmp_path: Path) -> None:
    """IndexFaces-like writes (faces, change log, audit record in one transaction) while the server
    is killed with SIGKILL, then restarted: every face has its change and its audit record, the
    chain verifies, and writing resumes on new connections."""
    import os
    import signal
    import time

    from ..pg import PgServer, binaries

    bin_dir = binaries()
    assert bin_dir is not None  # server() skipped already otherwise
    server()
    own = PgServer(bin_dir)  # its own server: killing it does not disturb the other tests
    try:
        url = own.database()
        # the test servers run synchronous_commit=off (fast, and safe against a crash of the client);
        # a SIGKILL of the postmaster loses the commits still in its WAL buffers, so this test, which
        # kills it, commits as a production server does (PostgreSQL's default, on)
        from psycopg.conninfo import conninfo_to_dict

        own.sql(f"ALTER DATABASE {conninfo_to_dict(url)['dbname']} SET synchronous_commit = on", url)
        s = store(url)
        s.create_collection("c", "m", 4)
        log = AuditLog(s, Settings.load(audit_key="5a" * 32), data_dir=tmp_path)
        with Writer(s, log, batch=3) as w:
            w.wait(done=20)
            pid = int((own.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
            w.wait(failures=3)
            for _ in range(100):  # the backends exit once they see the postmaster gone
                try:
                    own.restart()
                    break
                except RuntimeError:
                    time.sleep(0.2)
            resumed = len(w.done)
            w.wait(done=resumed + 10)
        assert len(w.done) >= resumed + 10, w.failures[-3:]  # the run resumed on new connections
        faces, _ = s.counts("c")
        adds = [f for _, _, f, op in s.changes_since(0) if op == "add"]
        records = [r for r in log.records() if r["operation"] == "IndexFaces"]
        assert faces % 3 == 0 and faces == len(adds) == 3 * len(records)  # whole batches, each logged and audited
        assert log.verify().ok
        s.database.close_all()
    finally:
        own.stop()
