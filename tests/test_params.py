"""One rule per parameter kind: the library path refuses what the HTTP path refuses."""

from __future__ import annotations

import math

import pytest

from clearsight import params
from clearsight.errors import InvalidParameterException
from clearsight.policy.policies import CollectionPolicy
from clearsight.settings import Settings


@pytest.mark.parametrize("bad", [True, False, "99", None, math.nan, math.inf, -1, 100.5, [80]])
def test_a_threshold_is_a_finite_number_from_0_to_100(bad: object) -> None:
    with pytest.raises(InvalidParameterException):
        params.threshold("FaceMatchThreshold", bad)


def test_threshold_default_and_values() -> None:
    assert params.threshold("T", None, 80.0) == 80.0
    assert params.threshold("T", 99) == 99.0 and params.threshold("T", 0.5) == 0.5


def test_compare_faces_refuses_a_bool_threshold(engine, data) -> None:  # type: ignore[no-untyped-def]
    img = (data / "faces" / "face_recognition" / "obama.jpg").read_bytes()
    with pytest.raises(InvalidParameterException, match="SimilarityThreshold"):
        engine.compare_faces(img, img, similarity_threshold=True)


@pytest.mark.parametrize("word", ["ture", "yes please", "2", ""])
def test_policy_tag_booleans_refuse_unknown_spellings(word: str) -> None:
    with pytest.raises(InvalidParameterException, match="true or false"):
        CollectionPolicy.from_tags({"clearsight:require-purpose": word})
    assert CollectionPolicy.from_tags({"clearsight:require-purpose": "TRUE"}).require_purpose


def test_setting_booleans_refuse_unknown_spellings() -> None:
    with pytest.raises(ValueError, match="not a boolean"):
        Settings.load(env={"CLEARSIGHT_REPLAY_CACHE": "ture"})
    assert Settings.load(env={"CLEARSIGHT_REPLAY_CACHE": "on"}).replay_cache is True
