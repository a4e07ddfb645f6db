"""FastScanIndex: the same answers as ExactIndex, erasure that overwrites, snapshots that refuse damage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clearsight.storage.index import FASTSCAN_MAGIC, ExactIndex, FastScanIndex, load_index
from clearsight.storage.index.fastscan import int8_rows

D = 128


def faces(n: int, seed: int = 0, per: int = 4) -> np.ndarray:
    """Face-like vectors: identities around a common direction, a few images each, unit length, with
    a decaying spectrum in a fixed rotation (as face embeddings: most energy in a few directions)."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(np.random.default_rng(99).normal(size=(D, D)))[0]
    spectrum = 1 / (1 + np.arange(D) / 12)
    centres = 0.3 + rng.normal(size=(n // per + 1, D))
    x = (centres[np.arange(n) // per] + 0.5 * rng.normal(size=(n, D))) * spectrum @ basis
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def ids_for(n: int, prefix: str = "f") -> list[str]:
    return [f"{prefix}{i:06d}" for i in range(n)]


@pytest.fixture(scope="module")
def gallery() -> tuple[list[str], np.ndarray]:
    return ids_for(3000), faces(3000)


def build(ids: list[str], vecs: np.ndarray, **kw: int) -> FastScanIndex:
    return FastScanIndex.build(ids, vecs.copy(), candidates=512, **kw)


def same(a: FastScanIndex, b: ExactIndex, queries: np.ndarray, *, k: int = 10, min_score: float = -1.0) -> None:
    for q in queries:
        got, want = a.search(q, k=k, min_score=min_score), b.search(q, k=k, min_score=min_score)
        # the same list, except that faces whose float32 scores are equal to rounding (a subset
        # product may round differently from the full one by an ulp) come in either order
        assert len(got) == len(want)
        np.testing.assert_allclose([h.score for h in got], [h.score for h in want], atol=1e-6)
        true = {f: float(b.matrix[r] @ q) for r, f in enumerate(b.ids)}
        np.testing.assert_allclose([true[h.face_id] for h in got], [h.score for h in got], atol=1e-6)
        assert sum(h.face_id != w.face_id for h, w in zip(got, want)) <= sum(
            abs(h.score - w.score) < 1e-6 for h, w in zip(got[1:], got[:-1])) * 2


def test_agrees_with_exact_after_adds_and_removes(gallery: tuple[list[str], np.ndarray]) -> None:
    ids, vecs = gallery
    idx = build(ids[:2500], vecs[:2500])
    exact = ExactIndex(D)
    exact.add(ids[:2500], vecs[:2500])
    queries = faces(40, seed=9)
    same(idx, exact, queries)
    idx.add(ids[2500:], vecs[2500:])
    exact.add(ids[2500:], vecs[2500:])
    gone = ids[::7] + ids[2500::3]
    idx.remove(gone)
    exact.remove(gone)
    assert len(idx) == len(exact) and set(idx.ids) == set(exact.ids)
    assert all(f not in idx for f in gone) and ids[1] in idx
    same(idx, exact, queries, k=25)
    fresh = faces(30, seed=3)  # fewer faces than the build matrix had rows: added into its freed rows
    idx.add(ids_for(30, "new"), fresh)
    exact.add(ids_for(30, "new"), fresh)
    same(idx, exact, np.concatenate([queries, fresh]), k=25)
    same(idx, exact, queries, k=500, min_score=0.3)
    hits = idx.search(queries[0], k=3000, min_score=0.3)
    assert all(h.score >= 0.3 for h in hits)
    assert idx.search(queries[0], k=0) == []
    assert FastScanIndex(D, candidates=8).search(queries[0], k=5) == []


def test_duplicates_and_known_ids_are_ignored(gallery: tuple[list[str], np.ndarray]) -> None:
    ids, vecs = gallery
    idx = build(ids[:1200], vecs[:1200])
    idx.add(["new", "new", ids[0]], vecs[1200:1203])
    assert len(idx) == 1201 and idx.ids.count("new") == 1
    assert idx.search(vecs[1200], k=1)[0].face_id == "new"


def test_erased_vectors_are_overwritten(gallery: tuple[list[str], np.ndarray]) -> None:
    ids, vecs = gallery
    idx = build(ids[:1500], vecs[:1500])
    idx.add(ids[1500:1600], vecs[1500:1600])  # rows in RAM beyond the build matrix
    gone = ids[:40] + ids[1560:1600]
    gone_vecs = np.concatenate([vecs[:40], vecs[1560:1600]])
    idx.remove(gone)
    n = len(idx)
    codes8, scale = np.concatenate(idx._int8.chunks()), np.concatenate(idx._scale.chunks())[:, 0]
    assert len(codes8) == len(scale) == n
    # no row of any store still holds an erased vector (float32, int8); freed slots are zero
    rows = np.concatenate([idx._base, np.concatenate(idx._extra.chunks())]) if len(idx._extra) else idx._base
    gone8, _ = int8_rows(gone_vecs)
    for v, c in zip(gone_vecs, gone8):
        assert not np.any(np.all(rows == v, axis=1))
        assert not np.any(np.all(codes8 == c, axis=1))
    assert not np.any(rows[n:])
    for store in (idx._int8, idx._scale):
        last = store._blocks[-1]
        assert not np.any(last[n - (len(store._blocks) - 1) * (1 << store.shift):])
    # the packed codes: one per face, in row order, each the live face's own; erased ones overwritten,
    # the free slots of the last block zero
    live = np.concatenate([idx._base[:min(n, len(idx._base))]] + (
        [np.concatenate(idx._extra.chunks())] if len(idx._extra) else []))
    assert idx._pq.ntotal == n
    stored = [bytes(idx.code(r)) for r in range(n)]
    assert stored == [bytes(c) for c in idx._pq.sa_encode(idx._rotate(live))]
    for c in idx._pq.sa_encode(idx._rotate(gone_vecs)):
        assert bytes(c) not in set(stored)
    assert len(idx.packed_codes()) == -(-n // 32) * idx._pq.get_CodePacker().block_size
    assert all(not np.any(idx.code(r)) for r in range(n, -(-n // 32) * 32))
    for v in gone_vecs[:10]:
        assert all(h.face_id not in gone for h in idx.search(v, k=50))
    idx.remove(list(idx.ids))
    assert len(idx) == 0 and idx._pq.ntotal == 0 and not np.any(idx._base) and len(idx.packed_codes()) == 0


def test_snapshot_round_trip_maps_rows_and_refuses_damage(tmp_path: Path,
                                                           gallery: tuple[list[str], np.ndarray]) -> None:
    ids, vecs = gallery
    idx = build(ids[:2000], vecs[:2000])
    idx.add(ids[2000:2100], vecs[2000:2100])
    idx.seq = 42
    path = tmp_path / "c.idx"
    idx.save(path, "c")
    assert path.read_bytes()[:8] == FASTSCAN_MAGIC
    back = load_index(path, "c", D, max_count=5000)
    assert isinstance(back, FastScanIndex) and back.seq == 42 and back.ids == idx.ids
    exact = ExactIndex(D)
    exact.add(ids[:2100], vecs[:2100])
    queries = faces(20, seed=5)
    same(back, exact, queries)
    # changes after loading stay in the process (copy-on-write): the file is what was saved
    before = path.read_bytes()
    back.remove(ids[:30])
    exact.remove(ids[:30])
    back.add(["z", "y"], vecs[2100:2102])  # into rows freed below the mapped ones
    exact.add(["z", "y"], vecs[2100:2102])
    assert path.read_bytes() == before
    same(back, exact, np.concatenate([queries, vecs[2100:2102]]))
    assert back.search(vecs[2101], k=1)[0].face_id == "y"
    back.save(path, "c")  # the new snapshot no longer holds the erased vectors
    raw = path.read_bytes()
    for v in vecs[:30]:
        assert v.tobytes() not in raw
    again = FastScanIndex.load(path, "c", D)
    assert again is not None
    same(again, exact, queries)
    # refused: another collection or dimension, more faces than the database ever held, damage
    assert FastScanIndex.load(path, "other", D) is None
    assert FastScanIndex.load(path, "c", 192) is None
    assert FastScanIndex.load(path, "c", D, max_count=100) is None
    assert FastScanIndex.load(tmp_path / "missing.idx", "c", D) is None
    header_end = raw.index(b"}") + 1
    rows_at = len(raw) - len(again) * D * 4
    for at in (header_end + 100, header_end + 5000, rows_at - 40, rows_at + 7, len(raw) - 1):
        bad = bytearray(raw)
        bad[at] ^= 0x41
        path.write_bytes(bytes(bad))
        assert FastScanIndex.load(path, "c", D) is None, at
    path.write_bytes(raw[:-100])
    assert FastScanIndex.load(path, "c", D) is None
    path.write_bytes(b"CSIVF001" + raw[8:])  # an inverted-file snapshot of an earlier version: rebuilt
    assert load_index(path, "c", D) is None
    path.write_bytes(raw.replace(b'"count": 2072', b'"count": 9999'))
    assert FastScanIndex.load(path, "c", D) is None


def test_empty_index_round_trip(tmp_path: Path, gallery: tuple[list[str], np.ndarray]) -> None:
    ids, vecs = gallery
    idx = build(ids[:1100], vecs[:1100])
    idx.remove(list(ids[:1100]))
    idx.save(tmp_path / "e.idx", "e")
    back = FastScanIndex.load(tmp_path / "e.idx", "e", D)
    assert back is not None and len(back) == 0 and back.search(vecs[0], k=5) == []
    back.add(ids[:10], vecs[:10])
    assert back.search(vecs[3], k=1)[0].face_id == ids[3]


def test_collections_switch_to_the_fast_scan(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from clearsight.storage.base import NewFace
    from clearsight.storage.index import ScanIndex, snapshot_path

    c = engine.open_collections(tmp_path)
    c.ann_threshold, c.ivf_threshold = 1000, 1500
    c.create_collection(collection_id="c")
    dim = engine.calibration.recipe.dimension
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((1800, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    box = {"Width": 0.5, "Height": 0.5, "Left": 0.25, "Top": 0.25}
    fid = [f"00000000-0000-0000-0000-{i:012d}" for i in range(len(vecs))]

    def add(lo: int, hi: int) -> None:
        c.store.add_faces("c", [NewFace(fid[i], "img", None, box, 99.0, vecs[i]) for i in range(lo, hi)])
        c._changed("c", hi - lo)

    add(0, 1200)
    assert isinstance(c.index("c"), ScanIndex)
    add(1200, 1800)
    idx = c.index("c")
    assert isinstance(idx, FastScanIndex) and len(idx) == 1800
    assert snapshot_path(tmp_path / "index", "c").read_bytes()[:8] == FASTSCAN_MAGIC
    assert idx.search(vecs[1700], k=1)[0].face_id == fid[1700]
    c.delete_faces(collection_id="c", face_ids=[fid[1700]])
    assert fid[1700] not in c.index("c")
    c.close()
    c2 = engine.open_collections(tmp_path)
    back = c2.index("c")
    assert isinstance(back, FastScanIndex) and len(back) == 1799 and fid[1700] not in back
    assert back.search(vecs[5], k=1)[0].face_id == fid[5]
    c2.close()


def test_candidates_within_the_int8_bound_are_rescored_exactly(gallery: tuple[list[str], np.ndarray]) -> None:
    """Near-ties that the int8 copy cannot separate: the float32 re-scoring orders them as exact search."""
    ids, vecs = gallery
    base = vecs[:1200].copy()
    twins = base[:1] + np.float32(3e-2) * faces(20, seed=4)  # scores 1 - O(1e-3): int8 cannot order them
    twins /= np.linalg.norm(twins, axis=1, keepdims=True)
    mat = np.concatenate([base, twins.astype(np.float32)])
    names = ids[:1200] + ids_for(20, "twin")
    idx = build(names, mat)
    exact = ExactIndex(D)
    exact.add(names, mat)
    q = base[0]
    for k in (1, 5, 12, 21):
        same(idx, exact, q[None, :], k=k)
    c, scale = int8_rows(mat[1200:])
    int8_order = np.argsort(-((c.astype(np.float32) @ q) * scale), kind="stable")
    assert list(int8_order) != list(np.argsort(-(mat[1200:] @ q), kind="stable"))  # int8 alone would differ


def test_int8_scores_are_within_their_bound(gallery: tuple[list[str], np.ndarray]) -> None:
    ids, vecs = gallery
    idx = build(ids[:1500], vecs[:1500])
    rows = np.arange(1500)
    for q in np.concatenate([faces(20, seed=8), vecs[:5], 3 * faces(5, seed=2)]):  # unit length or not
        approx, delta = idx._int8_scores(rows, q.astype(np.float32))
        np.testing.assert_array_equal(idx._int8.get_sorted(rows[::3]), idx._int8.get(rows[::3]))
        exact = vecs[:1500].astype(np.float64) @ q.astype(np.float64)
        assert np.all(np.abs(approx - exact) <= delta) and delta.max() < 0.05 * np.abs(q).sum() / 11


def test_rows_read_in_address_order_across_blocks() -> None:
    from clearsight.storage.index.rows import Rows

    store = Rows(3, np.int8, shift=4)
    data = np.random.default_rng(1).integers(-127, 127, (100, 3)).astype(np.int8)
    store.append(data)
    for pick in (np.arange(100), np.array([0, 15, 16, 17, 63, 64, 99]), np.array([5]), np.zeros(0, np.int64)):
        np.testing.assert_array_equal(store.get_sorted(pick), data[pick])
