"""IVFIndex's codes against faiss's 4-bit fast-scan product quantiser, at Similarity 99.

The question behind it (issue 13, 20M faces with p99 <= 50 ms identical to exact search): how much
of the list scan a faster code saves, and what it costs in agreement with exact search. Same
gallery as bench/collections_20m.py (the first image of half of LFW's identities, default model,
plus bench/collections_scale.py's synthetic distractors), same 300 real probes (half never
enrolled), exact ground truth by a chunked matmul. Both indexes use the same 1,024 coarse lists;
the fast-scan candidates go through the same float16 ranking and exact float32 re-scoring as
IVFIndex.search, so agreement depends only on which candidates each code proposes. Search: one
thread. Writes the "ivf_codes" section of docs/benchmarks.md.

    python bench/ivf_codes.py [--faces 2000000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, machine, table, write_section
from collections_20m import K, ground_truth, split
from collections_scale import distractors, load_lfw

sys.path.insert(0, str(ROOT / "src"))

Answer = list[tuple[int, float]]


def main() -> None:
    import faiss

    from clearsight import Engine
    from clearsight.storage.index import IVFIndex

    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=2_000_000)
    ap.add_argument("--probes", type=int, default=300)
    args = ap.parse_args()
    engine = Engine()
    ident, vecs = load_lfw(engine.model_version)
    min_score = engine.calibration.score_for(99.0)
    g, mated, nonmated = split(ident, args.probes)
    n = args.faces
    gallery = np.empty((n, vecs.shape[1]), np.float32)
    gallery[: len(g)] = vecs[g]
    distractors(ident, vecs, n - len(g), out=gallery[len(g):])
    queries = np.ascontiguousarray(vecs[np.concatenate([mated, nonmated])], np.float32)
    truth, truth_s = ground_truth(gallery, queries, min_score)
    above = [len(t) for t in truth]
    half = gallery.astype(np.float16)

    def rescored(q: np.ndarray, rows: np.ndarray) -> Answer:
        """IVFIndex.search's last two steps on fast-scan candidates: float16 rank, exact float32 top."""
        rows = rows[rows >= 0]
        approx = half[rows].astype(np.float32) @ q
        top = rows[np.argsort(-approx, kind="stable")[: 4 * K]]
        scores = gallery[top] @ q
        order = np.lexsort((top, -scores))
        return [(int(top[i]), float(scores[i])) for i in order if scores[i] >= min_score][:K]

    def measure(name: str, nprobe: int, candidates: int, search: Callable[[np.ndarray], Answer]) -> list[object]:
        lat, same, mated_same = [], 0, 0
        for i, (q, want) in enumerate(zip(queries, truth)):
            t = time.perf_counter()
            got = search(q)
            lat.append((time.perf_counter() - t) * 1000)
            ok = [r for r, _ in got] == [r for r, _ in want]
            same += ok
            mated_same += ok and i < len(mated)
        row: list[object] = [name, nprobe, candidates, f"{np.percentile(lat, 50):.1f}", f"{np.percentile(lat, 99):.1f}",
                             f"{same}/{len(queries)}", f"{mated_same}/{len(mated)}"]
        print(row, flush=True)
        return row

    rows: list[list[object]] = []
    t = time.perf_counter()
    ivf = IVFIndex.build([str(i) for i in range(n)], gallery, candidates=1024, nlist=1024, threads=2)
    ivf_build = time.perf_counter() - t
    faiss.omp_set_num_threads(1)
    for nprobe in (128, 256, 512):
        ivf.nprobe = nprobe
        rows.append(measure("IVFIndex (PCA-64, 8-bit: 64 B)", nprobe, 1024, lambda q, index=ivf: [
            (int(h.face_id), h.score) for h in index.search(q, k=K, min_score=min_score)]))
    del ivf
    faiss.omp_set_num_threads(2)
    t = time.perf_counter()
    fast = faiss.IndexIVFPQFastScan(faiss.IndexFlatIP(gallery.shape[1]), gallery.shape[1], 1024, 48, 4,
                                    faiss.METRIC_INNER_PRODUCT)
    fast.by_residual = False
    fast.train(gallery[np.random.default_rng(0).choice(n, min(n, 200_000), replace=False)])
    fast.add(gallery)
    fast_build = time.perf_counter() - t
    faiss.omp_set_num_threads(1)
    for nprobe, candidates in ((256, 1024), (512, 1024), (512, 4096), (1024, 4096)):
        fast.nprobe = nprobe
        rows.append(measure("fast-scan PQ (48 x 4 bit: 24 B)", nprobe, candidates,
                            lambda q, c=candidates: rescored(q, fast.search(q[None, :], c)[1][0])))
    md = (f"## Inverted-file codes at Similarity 99: IVFIndex and faiss fast-scan\n\n`bench/ivf_codes.py --faces {n}` "
          f"on {machine()}. {n:,} faces of the default model ({engine.model_version}): {len(g):,} real LFW faces and "
          f"synthetic distractors; {len(queries)} real probes ({len(mated)} of enrolled people); Similarity 99 = "
          f"score {min_score:.4f}, MaxFaces {K}: {np.mean(above):.1f} faces above it per probe on average (max "
          f"{max(above)}, none for {sum(a == 0 for a in above)} probes). Exact ground truth: chunked matmul, "
          f"{truth_s:.0f} s. Both use 1,024 coarse lists; builds (2 threads): IVFIndex {ivf_build:.0f} s, fast-scan "
          f"{fast_build:.0f} s. Search on one thread; 'identical' = the returned list equals exact search's.\n\n"
          + table(["index", "nprobe", "candidates", "p50 ms", "p99 ms", "identical (all)", "identical (mated)"], rows))
    print(md)
    write_section("ivf_codes", md)


if __name__ == "__main__":
    main()
