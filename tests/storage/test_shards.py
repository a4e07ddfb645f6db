"""Scale-out over real servers: a coordinator database and three PostgreSQL servers on 127.0.0.1
(tests/pg.py's cluster), postgres_fdw between them. The search plan ships an ordered, limited HNSW
scan to every shard; HNSW + exact re-scoring over the shards equals exact numpy search at
Similarity 99; erasure leaves no byte of a deleted vector on any shard; an added shard gets its
share of the rows; a shard killed with SIGKILL during IndexFaces leaves no half-written face."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from clearsight.calibration import Calibration
from clearsight.errors import InvalidParameterException, StorageError
from clearsight.policy.audit import AuditLog
from clearsight.settings import Settings
from clearsight.storage.base import NewFace
from clearsight.storage.index import ExactIndex

from ..pg import PgServer, cluster, server
from .test_postgres import BOX, faces, gallery, unit
from .writer import Writer


def sharded(n: int = 3, *, durable: bool = False) -> tuple[Any, list[str], list[PgServer]]:
    """A PostgresStore on a fresh coordinator database (server 0's socket) with ``n`` fresh shard
    databases, one per server of the cluster (TCP), recorded by store init --shards. ``durable``:
    the shards commit synchronously (the test servers do not: a shard killed with SIGKILL would lose
    commits that the coordinator recorded, see docs/postgres.md)."""
    from clearsight.storage.postgres import PgDatabase, PostgresStore
    from clearsight.storage.postgres.shards import init

    servers = cluster(3)
    urls = [servers[i % len(servers)].database(tcp=True) for i in range(n)]
    for url in urls if durable else ():
        servers[0].sql(f"ALTER DATABASE {url.rsplit('/', 1)[1]} SET synchronous_commit = on", url)
    db = PgDatabase(servers[0].database())
    init(db, urls)
    return PostgresStore(db), urls, servers


def shard_counts(urls: list[str], part: int = 1) -> list[int]:
    out = []
    for url in urls:
        with psycopg.connect(url) as conn:
            row = conn.execute(f"SELECT count(*) FROM faces_p{part}").fetchone()
            out.append(int(row[0]) if row else 0)
    return out


def test_search_ships_an_ordered_limited_hnsw_scan_to_every_shard_and_equals_exact_search_at_99() -> None:
    from clearsight.storage.postgres.index import sharded_nearest
    from clearsight.storage.postgres.partitions import children

    rng = np.random.default_rng(3)
    cal = Calibration.load()
    d, min_score = cal.recipe.dimension, cal.score_for(99.0)
    mat = gallery(rng, 400, 5, d, spread=0.5)  # 2,000 face-like vectors, same-person pairs near the 99 bar
    s, urls, _ = sharded(3)
    s.create_collection("c", "m", d)
    s.add_faces("c", faces(mat))
    spread = shard_counts(urls)
    assert sum(spread) == len(mat) and min(spread) > 500, spread  # hash routing spreads the rows
    assert s.counts("c") == (len(mat), 0)

    # the plan: one asynchronous Foreign Scan per shard, each remote SQL ordered by the distance and LIMITed
    conn = s.database.connection
    shards = children(conn, 1)
    assert shards == ["faces_p1_s0", "faces_p1_s1", "faces_p1_s2"]
    cast = psycopg.sql.SQL("halfvec({})").format(psycopg.sql.Literal(d))
    query = psycopg.sql.SQL("EXPLAIN VERBOSE ") + sharded_nearest(shards, cast)
    for limit in (22, 342):  # this search's share of 64 candidates; the default's (1024 over 3 shards)
        plan = "\n".join(r[0] for r in conn.execute(query, [mat[0], limit] * 3).fetchall())
        remote = re.findall(r"Remote SQL: (.*)", plan)
        assert len(remote) == 3 and plan.count("Async Foreign Scan on public.faces_p1_s") == 3, plan  # at once
        for sql_text in remote:
            assert re.search(r"ORDER BY \(vector::public\.halfvec\(\d+\) OPERATOR\(public\.<#>\) .* "
                             rf"LIMIT {limit}::bigint$", sql_text), plan
    # ... and on a shard that remote SQL is the ordered scan of its HNSW index
    with psycopg.connect(urls[1]) as shard:
        shard.execute("SET hnsw.iterative_scan = relaxed_order")
        local = "\n".join(r[0] for r in shard.execute("EXPLAIN " + remote[1]).fetchall())  # type: ignore[arg-type]
    assert "Index Scan using faces_p1_hnsw" in local, local

    exact = ExactIndex(d)
    exact.add([f"f{i:06d}" for i in range(len(mat))], mat)
    pg = s.vector_index("c", candidates=64)  # far fewer candidates than faces: the HNSW path on each shard
    queries = unit(mat[rng.choice(len(mat), 60, replace=False)] + rng.standard_normal((60, d)) * 0.2 / np.sqrt(d))
    matched = 0
    for q in queries:
        want = exact.search(q, k=8, min_score=min_score)
        got = pg.search(q, k=8, min_score=min_score)
        assert [h.face_id for h in got] == [h.face_id for h in want]
        assert [h.score for h in got] == [h.score for h in want]  # exact float32 scores
        matched += len(want)
    assert matched > 120
    assert len(pg) == len(mat) and "f000001" in pg
    # a deletion routes to the shard holding the face
    assert s.delete_faces("c", ["f000001", "f000002", "nope"]) == ["f000001", "f000002"]
    assert sum(shard_counts(urls)) == len(mat) - 2 and "f000001" not in pg


def test_erasure_leaves_no_byte_of_a_deleted_vector_on_any_shard() -> None:
    from clearsight.storage.postgres.erasure import needles, scan

    rng = np.random.default_rng(5)
    mat = unit(rng.standard_normal((300, 128)))
    s, _, servers = sharded(3)
    s.create_collection("c", "m", 128)
    s.add_faces("c", faces(mat))
    s.create_collection("d", "m", 128)  # a whole collection deleted: its shard tables go
    s.add_faces("d", [NewFace(f"d{i}", "img", None, BOX, 99.0, -mat[i]) for i in range(10, 13)])
    for srv in servers:
        srv.sql("CHECKPOINT")
    gone = [n for i in (7, 8, 9) for n in needles(mat[i])] + [n for i in (10, 11, 12) for n in needles(-mat[i])]
    kept = needles(mat[20])
    dirs = [srv.data for srv in servers]
    before = {d: scan(d, gone) for d in dirs}
    holding = [d for d, hits in before.items() if hits]
    assert len(holding) >= 2 and any(p.parent.name == "pg_wal" for hits in before.values() for p, _ in hits)
    assert s.delete_faces("c", ["f000007", "f000008", "f000009"], receipt="r1") == ["f000007", "f000008", "f000009"]
    assert s.delete_collection("d", receipt="r2") == 3
    assert any(scan(d, gone) for d in dirs)  # deleted is not erased
    t = time.perf_counter()
    s.vacuum()
    erase_s = time.perf_counter() - t
    left = [(str(p), i) for d in dirs for p, i in scan(d, gone)]
    assert not left, f"deleted vector bytes remain in {sorted({p for p, _ in left})}"
    assert any(scan(d, kept) for d in dirs)  # the proof sees a vector that was not deleted
    s.complete_erasures(s.pending_erasures(), 1.0)
    assert s.erasure("r1")["completed"] == 1.0 and s.erasure("r2")["completed"] == 1.0
    assert erase_s < 60


def test_a_shard_that_recycles_wal_refuses_the_erasure() -> None:
    s, _, servers = sharded(2)
    servers[1].configure("wal_recycle", "on")
    try:
        with pytest.raises(StorageError, match=r"shard 1 .*wal_recycle"):
            s.vacuum()
    finally:
        servers[1].configure("wal_recycle", "off")


def test_an_added_shard_gets_its_share_and_status_shows_every_shard(tmp_path: Path) -> None:
    from clearsight.storage.postgres.shards import init

    rng = np.random.default_rng(6)
    cal = Calibration.load()
    d, min_score = cal.recipe.dimension, cal.score_for(99.0)
    mat = gallery(rng, 300, 5, d, spread=0.5)
    s, urls, servers = sharded(2)
    s.create_collection("c", "m", d)
    s.add_faces("c", faces(mat))
    s.create_user("c", "ann")
    s.set_face_users("c", ["f000003"], "ann")
    assert shard_counts(urls) and sum(shard_counts(urls)) == len(mat)
    with pytest.raises(InvalidParameterException, match="removing a shard"):
        init(s.database, urls[1:])
    third = servers[2].database(tcp=True)
    env = dict(os.environ, CLEARSIGHT_STORAGE_URL=s.database.url)
    cli = [sys.executable, "-m", "clearsight.cli", "store"]
    done = subprocess.run([*cli, "init", "--shards", ",".join([*urls, third]), "--json", "--data-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    after = shard_counts([*urls, third])
    assert sum(after) == len(mat) and min(after) > len(mat) // 5, after
    assert out["Moved"]["c"] >= after[2] and len(out["Added"]) == 1
    # answers are those of before: counts, the user's face, exact search
    assert s.counts("c") == (len(mat), 1)
    assert [f.face_id for f in s.faces("c", user_id="ann")] == ["f000003"]
    exact = ExactIndex(d)
    exact.add([f"f{i:06d}" for i in range(len(mat))], mat)
    for q in mat[:20]:
        assert s.vector_index("c", candidates=32).search(q, k=5, min_score=min_score) == \
            exact.search(q, k=5, min_score=min_score)
    s.add_faces("c", [NewFace("late", "img", None, BOX, 99.0, mat[0])])  # writes route over three shards now
    assert sum(shard_counts([*urls, third])) == len(mat) + 1
    done = subprocess.run([*cli, "status", "--json", "--data-dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert [c["Faces"] for c in status["Collections"]] == [len(mat) + 1] and status["Collections"][0]["Sharded"]
    assert [sh["Reachable"] for sh in status["Shards"]] == [True, True, True]
    assert sum(sh["Faces"]["c"] for sh in status["Shards"]) == len(mat) + 1
    assert all(sh["Bytes"] > 0 for sh in status["Shards"]) and status["ErasureCanComplete"]


def test_kill_9_of_a_shard_during_index_faces_leaves_no_half_written_face(tmp_path: Path) -> None:
    """IndexFaces-like writes (faces on the shards; change log and audit record on the coordinator;
    one coordinator transaction) while one shard's server is killed with SIGKILL, then started:
    every face has its change and its audit record, the chain verifies, writing resumes."""
    s, urls, servers = sharded(3, durable=True)
    s.create_collection("c", "m", 4)
    log = AuditLog(s, Settings.load(audit_key="5a" * 32), data_dir=tmp_path)
    try:
        with Writer(s, log, batch=6) as w:
            w.wait(done=20)
            servers[2].kill()
            w.wait(failures=3, timeout=30)
            stalled = len(w.done)
            from clearsight.storage.postgres.status import status

            seen = status(s.database)  # store status names the shard that is down
            assert [sh["Reachable"] for sh in seen["Shards"]] == [True, True, False]
            assert seen["Collections"][0]["Faces"] is None and not seen["ErasureCanComplete"]
            for _ in range(100):  # its backends exit once they see the postmaster gone
                try:
                    servers[2].start()
                    break
                except RuntimeError:
                    time.sleep(0.2)
            w.wait(done=stalled + 10)
    finally:
        s.database.close_all()
    done, failures = w.done, w.failures
    assert failures and len(done) >= stalled + 10, failures[-3:]  # it failed while the shard was down, then resumed
    faces_n, _ = s.counts("c")
    adds = [f for _, _, f, op in s.changes_since(0) if op == "add"]
    records = [r for r in log.records() if r["operation"] == "IndexFaces"]
    on_shards = shard_counts(urls)
    assert faces_n == sum(on_shards) == len(adds) == 6 * len(records) == 6 * len(done)  # whole batches only
    assert log.verify().ok


def test_a_write_whose_shards_committed_without_the_coordinator_is_undone(monkeypatch: pytest.MonkeyPatch) -> None:
    """No two-phase commit: postgres_fdw commits each shard's remote transaction as the coordinator
    commits, so when one shard refuses its COMMIT (here a deferred trigger; in life a crash) the
    others have committed their part of a write the coordinator rolls back. The write's intent names
    its faces, and the repair deletes them from the shards."""
    from clearsight.storage.postgres import shards

    s, urls, _ = sharded(3)
    s.create_collection("c", "m", 4)
    rng = np.random.default_rng(10)
    s.add_faces("c", [NewFace(f"ok{i}", "img", None, BOX, 99.0, unit(rng.standard_normal(4))) for i in range(9)])
    with psycopg.connect(urls[2], autocommit=True) as shard:
        shard.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                      "RAISE EXCEPTION 'refused at commit'; END $$")
        shard.execute("CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON faces_p1 DEFERRABLE INITIALLY DEFERRED "
                      "FOR EACH ROW WHEN (NEW.image_id = 'poison') EXECUTE FUNCTION refuse()")
    batch = [NewFace(f"bad{i}", "poison", None, BOX, 99.0, unit(rng.standard_normal(4))) for i in range(12)]
    with monkeypatch.context() as m:
        m.setattr(shards, "repair", lambda db: 0)  # see the window first
        with pytest.raises(StorageError, match="refused at commit"):
            s.add_faces("c", batch)
    orphans = [f.face_id for f in s.faces("c") if f.face_id.startswith("bad")]
    assert orphans and len(orphans) < len(batch)  # the other shards committed their part
    assert len(s.database.read("SELECT 1 FROM shard_intents")) == 1
    assert shards.repair(s.database) == 1
    assert [f.face_id for f in s.faces("c")] == [f"ok{i}" for i in range(9)]
    assert not s.database.read("SELECT 1 FROM shard_intents")
    with pytest.raises(StorageError, match="refused at commit"):  # with the repair in place: undone at once
        s.add_faces("c", batch)
    assert [f.face_id for f in s.faces("c")] == [f"ok{i}" for i in range(9)] and s.counts("c") == (9, 0)
    assert sum(shard_counts(urls)) == 9 == len([c for c in s.changes_since(0) if c[3] == "add"])


def test_every_backend_answer_holds_on_a_sharded_store(engine: Any, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The congruence sequence (tests/storage/test_congruence.py) on a coordinator with two shards
    answers as SQLite does."""
    from . import test_congruence as congruence

    server()
    monkeypatch.setitem(congruence.BACKENDS, "sharded", lambda data_dir: sharded(2)[0])
    reference = congruence.run(engine, tmp_path / "sqlite", "sqlite", monkeypatch)
    got = congruence.run(engine, tmp_path / "sharded", "sharded", monkeypatch)
    assert [step for step, _ in got] == [step for step, _ in reference]
    for (step, answer), (_, expected) in zip(got, reference):
        assert answer == expected, step
