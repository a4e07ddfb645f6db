"""DeleteFaces latency and the search stall it causes, at 100k and 1M faces (synthetic unit vectors).

    python bench/delete_latency.py [--sizes 100000,1000000] [--deletes 10] [--src DIR] [--label after]

One data directory per size is filled once (kept under --work) and reused. A thread searches
without pause while the main thread deletes one face at a time through Collections.delete_faces
(the request path: the SQLite transaction, the index update and, below erase_sync_bytes, the
synchronous erasure). Then the background erasure (snapshot rewrite, change log, VACUUM) is timed
with the search thread still running. ``--src`` runs another checkout's code (the "before" rows);
each run's rows are kept in out/delete_latency.json and the table covers every label measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, machine, table, write_section

BOX = {"Left": 0.1, "Top": 0.1, "Width": 0.5, "Height": 0.5}


def fill(data_dir: Path, n: int, dimension: int) -> None:
    from clearsight.storage.base import NewFace
    from clearsight.storage.sqlite import SqliteStore

    store = SqliteStore(data_dir / "clearsight.db")
    if store.collection_ids():
        store.close()
        return
    store.create_collection("c", "synthetic", dimension)
    rng = np.random.default_rng(0)
    for start in range(0, n, 20_000):
        x = rng.standard_normal((min(20_000, n - start), dimension)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        store.add_faces("c", [NewFace(str(uuid.UUID(int=start + i + 1)), "img", None, BOX, 99.0, v)
                              for i, v in enumerate(x)])
    store.close()


def measure(engine: object, data_dir: Path, deletes: int) -> dict[str, float]:
    from clearsight.collections.service import Collections

    c = Collections(engine, data_dir)  # type: ignore[arg-type]
    c.erase_after = 0  # the background erasure is timed on its own below
    t = time.perf_counter()
    idx = c.index("c")
    load = time.perf_counter() - t
    print(f"index ready in {load:.1f} s", file=sys.stderr, flush=True)
    n = len(idx)
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((64, idx.dimension)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    lat: list[tuple[float, float]] = []  # (start, seconds)
    stop = threading.Event()

    def searcher() -> None:
        i = 0
        while not stop.is_set():
            t0 = time.perf_counter()
            c.search_vector("c", queries[i % 64], threshold=0, k=10)
            lat.append((t0, time.perf_counter() - t0))
            i += 1

    thread = threading.Thread(target=searcher)
    thread.start()
    time.sleep(2.0)
    quiet = [s for _, s in lat]
    ids = c.store.faces("c", limit=deletes * 7)[::7][:deletes]
    spans, times = [], []
    for row in ids:
        t0 = time.perf_counter()
        c.delete_faces(collection_id="c", face_ids=[row.face_id])
        times.append(time.perf_counter() - t0)
        spans.append((t0, t0 + times[-1]))
        time.sleep(0.3)
    during = [s for t0, s in lat if any(a - 0.05 <= t0 <= b for a, b in spans)]
    t0 = time.perf_counter()
    c.complete_erasure()
    erase = time.perf_counter() - t0
    erasing = [s for t, s in lat if t0 <= t <= t0 + erase]
    stop.set()
    thread.join()
    c.close()
    return {"faces": n, "load_s": load, "delete_p50_ms": 1000 * float(np.median(times)),
            "delete_max_ms": 1000 * max(times), "search_quiet_p50_ms": 1000 * float(np.median(quiet)),
            "search_quiet_max_ms": 1000 * max(quiet),
            "search_during_p99_ms": 1000 * float(np.percentile(during, 99)) if during else float("nan"),
            "search_during_max_ms": 1000 * max(during) if during else float("nan"),
            "erasure_s": erase, "search_during_erasure_max_ms": 1000 * max(erasing) if erasing else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--deletes", type=int, default=10)
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "delete_latency")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the clearsight source tree to measure")
    parser.add_argument("--label", default="after")
    parser.add_argument("--table-only", action="store_true", help="rewrite the docs table from out/delete_latency.json")
    args = parser.parse_args()
    sys.path.insert(0, str(args.src))
    from clearsight import Engine

    engine = Engine(ann_threshold=100_000)
    dimension = engine.calibration.recipe.dimension
    results_file = ROOT / "out" / "delete_latency.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    for n in (int(s) for s in args.sizes.split(",")) if not args.table_only else ():
        data_dir = args.work / str(n)
        t = time.perf_counter()
        fill(data_dir, n, dimension)
        print(f"{n:,} faces ready in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
        r = measure(engine, data_dir, args.deletes)
        print(json.dumps(r), flush=True)
        results[f"{args.label}:{n}"] = r
        results_file.parent.mkdir(parents=True, exist_ok=True)
        results_file.write_text(json.dumps(results, indent=1))
    rows = [[key.split(":")[0], f"{int(r['faces']):,}", r["delete_p50_ms"], r["delete_max_ms"],
             r["search_quiet_p50_ms"], r["search_during_p99_ms"], r["search_during_max_ms"], r["erasure_s"],
             "blocked throughout" if r["search_during_erasure_max_ms"] != r["search_during_erasure_max_ms"]
             else r["search_during_erasure_max_ms"]] for key, r in sorted(results.items(), key=lambda kv: (
                 int(kv[0].split(":")[1]), kv[0]))]
    md = ("## DeleteFaces latency and search stall\n\n"
          f"`python bench/delete_latency.py` on {machine()} (shared with other jobs). Synthetic unit vectors "
          "(320-d) in one collection; one face deleted at a time through `Collections.delete_faces` while a "
          "thread searches without pause (MaxFaces 10). *before*: the code before tombstone-free O(1) deletes "
          "(ScanIndex compacted every row on each delete, and below 256 MB every delete ran VACUUM under the "
          "lock searches take); *after*: O(1) swap-deletes in codes and vectors, searches that take no lock "
          "when the index is current, erasure below `erase_sync_bytes` (now 32 MB) or in the background. "
          "The erasure column is the full `complete_erasure` (snapshot rewrite, change log dropped, VACUUM, "
          "WAL truncated) with the searcher still running; *blocked throughout*: no search started while it ran "
          "(the old code held the lock searches take for the whole erasure).\n\n"
          + table(["code", "faces", "delete p50 ms", "delete max ms", "search p50 ms (quiet)",
                   "search p99 ms (during deletes)", "search max ms (during deletes)", "erasure s",
                   "search max ms (during erasure)"], rows))
    write_section("delete-latency", md)
    print(md)


if __name__ == "__main__":
    main()
