"""The fmr-anchored Similarity calibration: a strictly increasing map with an exact inverse, whose
devtrain FMR is the published target, and the old logistic kind still loading."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from clearsight.calibration import Calibration, available_models, fmr_target, target_table

DOCS = Path(__file__).resolve().parent.parent / "docs"
MODELS = sorted(available_models()["models"])


@pytest.mark.parametrize("model", MODELS)
def test_similarity_is_strictly_increasing_with_an_exact_inverse(model: str) -> None:
    cal = Calibration.load(model=model)
    assert cal.kind == "fmr-anchored"
    scores = np.linspace(-1.0, 1.0, 20001)
    sims = cal.similarity(scores)
    assert np.all(np.diff(sims) >= 0) and 0.0 <= sims.min() and sims.max() <= 100.0
    inner = sims[(sims > 1e-3) & (sims < 100 - 1e-3)]
    assert np.all(np.diff(inner) > 0)
    for s in (0.5, 1.0, 10.0, 50.0, 80.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99):
        assert float(cal.similarity(cal.score_for(s))) == pytest.approx(s, abs=1e-9)


@pytest.mark.parametrize("model", MODELS)
def test_devtrain_fmr_is_the_target_where_it_is_measured(model: str) -> None:
    cal = Calibration.load(model=model)
    impostors = 5_923_194
    top = max(s for _, s in cal.knots)
    for sim, _, fmr, _ in cal.table:
        if sim <= top:  # knots: the target to within one impostor pair
            assert abs(fmr - float(fmr_target(sim))) * impostors <= 1.0 + 1e-6, (sim, fmr)


def test_target_curve_is_fixed_and_decreasing() -> None:
    s = np.linspace(0.0, 99.999, 2000)
    f = fmr_target(s)
    assert np.all(np.diff(f) < 0) and f[0] <= 1.0
    assert float(fmr_target(80.0)) == pytest.approx(0.25 * 1.3543368662245403e-3)
    assert float(fmr_target(99.0)) == pytest.approx(0.25 * 3.7142122982971684e-05)


def test_logistic_kind_still_loads() -> None:
    data = dict(available_models()["models"]["clearsight-face-mesh-1"])
    for key in ("kind", "knots"):
        data.pop(key)
    old = Calibration.load(data)
    assert old.kind == "logistic" and old.knots == ()
    assert float(old.similarity(old.score_for(99.0))) == pytest.approx(99.0)
    assert float(old.similarity(0.5)) == pytest.approx(100 / (1 + np.exp(-(old.a * 0.5 + old.b))))
    now = Calibration.load(model="clearsight-face-mesh-1")
    assert replace(now, kind="logistic", knots=()).score_for(80.0) == pytest.approx(old.score_for(80.0))
    assert now.score_for(80.0) > old.score_for(80.0)  # 80 is stricter now


def test_bad_knots_are_refused() -> None:
    cal = Calibration.load(model="clearsight-face-mesh-1")
    with pytest.raises(ValueError):
        replace(cal, knots=((0.5, 50.0), (0.4, 60.0)))
    with pytest.raises(ValueError):
        replace(cal, kind="isotonic")


def test_accuracy_doc_states_the_target() -> None:
    doc = (DOCS / "accuracy.md").read_text()
    assert target_table() in doc
    assert "**Similarity S names a false-match rate.**" in doc
