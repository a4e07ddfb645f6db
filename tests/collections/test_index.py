from __future__ import annotations

from pathlib import Path

import numpy as np

from clearsight.storage.index import ExactIndex


def unit(rng: np.random.Generator, n: int, d: int = 32) -> np.ndarray:
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_search_matches_brute_force_after_adds_and_removes() -> None:
    rng = np.random.default_rng(0)
    vecs = unit(rng, 500)
    ids = [f"f{i}" for i in range(500)]
    idx = ExactIndex(32)
    idx.add(ids[:300], vecs[:300])
    idx.add(ids[300:], vecs[300:])
    removed = set(ids[::7])
    idx.remove(sorted(removed))
    keep = [i for i, f in enumerate(ids) if f not in removed]
    q = vecs[3]
    hits = idx.search(q, k=10, min_score=-1)
    scores = vecs[keep] @ q
    expected = [ids[keep[i]] for i in np.argsort(-scores)[:10]]
    assert [h.face_id for h in hits] == expected
    assert len(idx) == len(keep)
    # threshold: nothing below min_score
    hits = idx.search(q, k=500, min_score=0.3)
    assert all(h.score >= 0.3 for h in hits)
    assert len(hits) == int(np.sum(scores >= 0.3))


def test_removed_rows_are_zeroed() -> None:
    rng = np.random.default_rng(1)
    idx = ExactIndex(32)
    idx.add(["a", "b", "c"], unit(rng, 3))
    idx.remove(["a", "b", "c"])
    assert len(idx) == 0
    assert not np.any(idx._mat)


def test_snapshot_round_trip_and_damage(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    idx = ExactIndex(32)
    idx.add([f"f{i}" for i in range(50)], unit(rng, 50))
    idx.seq = 77
    path = tmp_path / "c.idx"
    idx.save(path, "c")
    back = ExactIndex.load(path, "c", 32)
    assert back is not None and back.seq == 77 and back.ids == idx.ids
    np.testing.assert_array_equal(back.matrix, idx.matrix)
    assert ExactIndex.load(path, "other", 32) is None
    assert ExactIndex.load(path, "c", 64) is None
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert ExactIndex.load(path, "c", 32) is None
    assert ExactIndex.load(tmp_path / "missing.idx", "c", 32) is None


def test_scan_index_matches_exact_search_and_forgets_deleted(tmp_path: Path) -> None:
    from clearsight.storage.index import ScanIndex, load_index

    rng = np.random.default_rng(3)
    centres = unit(rng, 300, 64)
    vecs = centres[rng.integers(0, 300, 5000)] + 0.15 * rng.standard_normal((5000, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = [f"f{i}" for i in range(5000)]
    idx = ScanIndex.build(ids, vecs, candidates=256)
    exact = ExactIndex(64)
    exact.add(ids, vecs)
    for q in vecs[:50] + 0.05 * rng.standard_normal((50, 64)).astype(np.float32):
        q = q / np.linalg.norm(q)
        assert [h.face_id for h in idx.search(q, k=10, min_score=0.5)] == \
            [h.face_id for h in exact.search(q, k=10, min_score=0.5)]
    idx.remove(ids[:10])
    assert len(idx) == 4990 and "f3" not in idx
    assert all(h.face_id not in ids[:10] for v in vecs[:10] for h in idx.search(v, k=5))
    idx.add(["new"], vecs[:1])
    assert idx.search(vecs[0], k=1)[0].face_id == "new"
    idx.seq = 9
    path = tmp_path / "scan.idx"
    idx.save(path, "c")
    back = load_index(path, "c", 64)
    assert isinstance(back, ScanIndex) and len(back) == 4991 and back.seq == 9
    assert back.search(vecs[20], k=1)[0].face_id == "f20"
    assert load_index(path, "other", 64) is None
    raw = bytearray(path.read_bytes())
    raw[200] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert load_index(path, "c", 64) is None
