from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clearsight.errors import InvalidParameterException
from clearsight.evaluation import lfw

from ..conftest import data_path


def test_official_pairs_files_parse() -> None:
    view2 = lfw.read_pairs(data_path("lfw", "pairs.txt"))
    assert len(view2) == 6000
    assert sum(p.same for p in view2) == 3000
    assert {p.fold for p in view2} == set(range(10))
    assert view2[0].first == "images/Abel_Pacheco/Abel_Pacheco_0001.jpg"
    dev = lfw.read_pairs(data_path("lfw", "pairsDevTrain.txt"))
    assert len(dev) == 2200 and {p.fold for p in dev} == {0}


def test_bad_pairs_files(tmp_path: Path) -> None:
    bad = tmp_path / "p.txt"
    bad.write_text("2 1\nA 1 2\n")
    with pytest.raises(InvalidParameterException, match="expected 4"):
        lfw.read_pairs(bad)
    bad.write_text("hello\n")
    with pytest.raises(InvalidParameterException, match="first line"):
        lfw.read_pairs(bad)
    with pytest.raises(InvalidParameterException, match="cannot read"):
        lfw.read_pairs(tmp_path / "missing.txt")


def test_threshold_and_tar_on_known_scores() -> None:
    same = np.array([True] * 4 + [False] * 4)
    scores = np.array([0.9, 0.8, 0.7, 0.3, 0.4, 0.2, 0.1, 0.0])
    t = lfw.best_threshold(scores, same)
    assert np.mean((scores >= t) == same) == 7 / 8
    tar, thr = lfw.tar_at_far(scores, same, 0.0)
    assert tar == 0.75 and thr > 0.4


def test_ten_fold_protocol_uses_other_folds() -> None:
    rng = np.random.default_rng(1)
    same = np.tile([True, False], 500)
    scores = np.where(same, rng.normal(0.6, 0.1, 1000), rng.normal(0.2, 0.1, 1000))
    folds = np.arange(1000) % 10
    r = lfw.evaluate_scores(scores, same, folds, lambda s: 100 * s)
    assert len(r.fold_accuracies) == 10
    assert 0.95 < r.accuracy <= 1.0  # Bayes accuracy for these normals is 97.7%
