from __future__ import annotations

import math

import numpy as np

from clearsight import geometry
from clearsight.evaluation import lfw, pose

from ..conftest import data_path


def test_bin_edges_and_labels() -> None:
    assert pose.bin_labels() == ["<15", "15-30", "30-45", ">=45"]
    abs_yaw = pose.pair_yaw(np.array([0.0, -14.9, 15.0, 10.0, -44.0, 3.0, np.nan]),
                            np.array([5.0, 2.0, -1.0, -30.0, 1.0, 45.0, 0.0]))
    assert np.allclose(abs_yaw[:6], [5.0, 14.9, 15.0, 30.0, 44.0, 45.0]) and np.isnan(abs_yaw[6])
    # lower edges are inclusive; an unknown yaw is bin -1
    assert pose.yaw_bins(abs_yaw).tolist() == [0, 0, 1, 2, 2, 3, -1]


def test_per_bin_counts_on_synthetic_scores() -> None:
    # 2 folds x 8 pairs; fold 0 separates at 0.5, fold 1 too, so every threshold is ~0.5
    same = np.tile([True] * 4 + [False] * 4, 2)
    scores = np.tile([0.9, 0.8, 0.7, 0.3, 0.6, 0.2, 0.1, 0.0], 2)  # one miss each side per fold
    folds = np.repeat([0, 1], 8)
    # yaw bins: the misses (0.3 genuine, 0.6 impostor) both in >=45, the rest frontal
    abs_yaw = np.tile([1.0, 2.0, 20.0, 50.0, 50.0, 3.0, 35.0, 4.0], 2)
    r = pose.evaluate_by_pose(scores, same, folds, abs_yaw, lambda s: 100 * s, far=0.0)
    by = {b.label: b for b in r.bins}
    assert [b.label for b in r.bins] == ["<15", "15-30", "30-45", ">=45"]
    assert (by["<15"].genuine, by["<15"].impostor) == (4, 4)
    assert (by["15-30"].genuine, by["15-30"].impostor) == (2, 0)
    assert (by["30-45"].genuine, by["30-45"].impostor) == (0, 2)
    assert (by[">=45"].genuine, by[">=45"].impostor) == (2, 2)
    assert sum(b.pairs for b in r.bins) == r.overall.pairs == 16
    # each fold's threshold (from the other fold) is the lowest best one, 0.25: the genuine 0.3 is
    # accepted, the impostor 0.6 too -> the one error per fold sits in the >=45 bin
    assert by["<15"].accuracy == by["15-30"].accuracy == by["30-45"].accuracy == 1.0
    assert by[">=45"].accuracy == 0.5 and r.overall.accuracy == 7 / 8
    assert math.isclose(r.overall.accuracy, lfw.evaluate_scores(scores, same, folds, lambda s: s).accuracy)
    # global threshold at FAR=0: above the best impostor (0.6) -> 0.7, 0.8, 0.9 genuine accepted
    assert r.threshold > 0.6
    assert by["<15"].tar == 1.0 and by["15-30"].tar == 1.0 and by[">=45"].tar == 0.0
    assert math.isnan(by["30-45"].tar) and by["30-45"].far == 0.0 and math.isnan(by["15-30"].far)
    assert r.overall.tar == 0.75
    # genuine match at Similarity 80 (score 0.8): 0.9, 0.8 of <15; none elsewhere
    assert by["<15"].genuine_match[80] == 1.0 and by["15-30"].genuine_match[80] == 0.0
    assert by["<15"].genuine_match[99] == 0.0
    assert r.to_json()["bins"][0]["genuine_match_at_similarity_80"] == 1.0


def test_unknown_yaw_gets_its_own_bin() -> None:
    same = np.array([True, False, True, False])
    r = pose.evaluate_by_pose(np.array([0.9, 0.1, 0.8, 0.2]), same, np.zeros(4, int),
                              np.array([1.0, np.nan, 2.0, 3.0]), lambda s: 100 * s)
    assert [b.label for b in r.bins][-1] == "unknown" and r.bins[-1].impostor == 1


def test_yaw_of_real_lfw_faces_is_finite(engine) -> None:  # type: ignore[no-untyped-def]
    root = data_path("lfw", "images")
    for rel in ("Abel_Pacheco/Abel_Pacheco_0001.jpg", "George_W_Bush/George_W_Bush_0010.jpg"):
        rgb = engine.decode(root / rel).rgb
        face, _ = lfw.centred_face(engine.faces, rgb)
        p = geometry.pose(face.points)
        assert math.isfinite(p["Yaw"]) and -90.0 <= p["Yaw"] <= 90.0, (rel, p)
