from __future__ import annotations

import numpy as np
import pytest

from clearsight.evaluation import identification as ident


def _unit(angles_deg: list[float]) -> np.ndarray:
    """2-d unit vectors: the cosine of two of them is cos(their angle difference)."""
    a = np.radians(angles_deg)
    return np.stack([np.cos(a), np.sin(a)], axis=1).astype(np.float32)


def _cos(angles_deg: list[float]) -> np.ndarray:
    return np.cos(np.radians(angles_deg))


def test_pair_counts() -> None:
    assert ident.pair_counts(["a", "a", "a", "b", "b", "c"]) == (3 + 1, 15 - 4)
    assert ident.pair_counts(["x"]) == (0, 0)


def test_all_vs_all_scores_every_pair_in_any_block_size() -> None:
    # a: 0, 10 deg; b: 90, 100; c: 180. Genuine: (0,10) and (90,100), both 10 deg apart.
    x = _unit([0, 10, 90, 100, 180])
    impostor = _cos([80, 80, 90, 90, 90, 100, 170, 180])
    for block in (1, 2, 3, 64):
        r = ident.all_vs_all(x, ["a", "a", "b", "b", "c"], thresholds=[0.1, 0.5], block=block)
        assert r.impostors == 8 and len(r.genuine) == 2
        assert np.allclose(r.genuine, _cos([10, 10]), atol=1e-6)
        assert np.allclose(r.impostor_top, np.sort(impostor)[::-1], atol=1e-6)
        assert r.counts == {0.1: 2, 0.5: 0}  # the two pairs 80 deg apart (cos 0.17)
        assert r.fmr(0.1) == 2 / 8
        assert r.fnmr(0.99) == 1.0 and r.fnmr(0.98) == 0.0


# one identity at 0, 10, 50 deg (genuine: 10, 40, 50 deg apart) and 4 singletons; the 18
# impostor pairs are, in degrees: 30, 38, 43, 68, 70, 81, 100, 110, 111, 120, 129, 138, ...
GALLERY_X = _unit([0, 10, 50, 120, 150, 188, 231])
GALLERY_LABELS = ["g", "g", "g", "s1", "s2", "s3", "s4"]


@pytest.mark.parametrize(("far", "false_accepts", "above", "tar"), [
    (0.0, 0, 30, 1 / 3),  # nothing accepted; only the 10-deg genuine pair is above cos 30
    (0.1, 1, 38, 1 / 3),  # floor(1.8) = 1 false accept: the 30-deg pair
    (0.12, 2, 43, 2 / 3),  # floor(2.16) = 2: the threshold passes the 40-deg genuine pair
    (0.2, 3, 68, 1.0),
])
def test_tar_at_far_allows_floor_far_times_impostors(
    far: float, false_accepts: int, above: float, tar: float
) -> None:
    for top, block in ((None, 64), (4, 1), (4, 3)):  # pruning to the top 4 across blocks is exact
        r = ident.all_vs_all(GALLERY_X, GALLERY_LABELS, top=top, block=block)
        assert r.impostors == 18 and len(r.genuine) == 3
        t = r.tar_at_far(far)
        assert (t.false_accepts, t.tar) == (false_accepts, tar)
        assert _cos([above])[0] < t.threshold < _cos([above])[0] + 1e-6
    assert ident.all_vs_all(GALLERY_X, GALLERY_LABELS).max_exact_far == 17 / 18


def test_impostors_above_lists_the_pairs() -> None:
    pairs = ident.impostors_above(GALLERY_X, GALLERY_LABELS, float(_cos([40])[0]), block=2)
    assert [(i, j) for i, j, _ in pairs] == [(3, 4), (4, 5)]  # 30 and 38 deg; not the genuine 40
    assert np.allclose([s for *_, s in pairs], _cos([30, 38]), atol=1e-6)


def test_tar_at_far_with_tied_impostors_and_too_few_kept() -> None:
    x = np.array([[1, 0], [1, 0], [0, 1]], np.float32)  # impostor scores 1, 0, 0
    r = ident.all_vs_all(x, ["a", "b", "c"])
    assert r.tar_at_far(0.5).false_accepts == 1
    assert r.tar_at_far(0.7).false_accepts == 1  # 2 allowed, but the two 0s tie: neither in
    assert r.tar_at_far(0.5).tar == 0.0  # no genuine pairs: TAR 0, not a division by zero
    with pytest.raises(ValueError, match="top"):
        ident.all_vs_all(GALLERY_X, GALLERY_LABELS, top=3).tar_at_far(0.2)


def test_open_set_masks_the_probe_identity() -> None:
    # gallery = the first image of each identity: a@0, b@90, c@200 (c has one image)
    x = _unit([0, 90, 200, 30, 60, 85])
    r = ident.open_set(x, ["a", "b", "c", "a", "a", "b"], block=2)
    assert r.gallery.tolist() == [0, 1, 2] and r.mated.tolist() == [3, 4, 5]
    # mated: a@30 is nearest a (30 deg); a@60 is nearer b (30) than a (60): a miss; b@85 -> b (5)
    assert r.mated_rank1.tolist() == [True, False, True]
    assert np.allclose(r.mated_score, _cos([30, 60, 5]), atol=1e-6)
    assert r.rank1() == 2 / 3
    assert r.tpir(0.8) == 2 / 3 and r.tpir(0.9) == 1 / 3  # cos 30 = 0.87, cos 5 = 0.996
    # non-mated, own identity masked: a@0 -> b (90 deg), b@90 -> a (90), c@200 -> b (110),
    # a@30 -> b (60), a@60 -> b (30), b@85 -> a (85)
    assert np.allclose(r.nonmated_best, _cos([90, 90, 110, 60, 30, 85]), atol=1e-6)
    assert r.single.tolist() == [False, False, True, False, False, False]
    assert r.fpir(0.4) == 2 / 6  # a@30 and a@60 reach b
    assert r.fpir(0.4, single_only=True) == 0.0 and r.fpir(-0.5, single_only=True) == 1.0
