"""The opt-in 512-d face net (card faceplugin-mobilefacenet): the shipped network with a dynamic
batch gives the shipped network's outputs, and the plus-1 recipe runs it instead of MobileFaceNet."""

from __future__ import annotations

import numpy as np
import pytest

from clearsight.calibration import Recipe
from clearsight.models.embedders import MobileFaceNetEmbedder
from clearsight.models.loader import ModelLoader
from clearsight.models.registry import CARDS
from clearsight.settings import Settings

from ..conftest import data_path


def test_a_batch_embeds_as_one_face_at_a_time(engine) -> None:  # type: ignore[no-untyped-def]
    from clearsight.images import decode

    rgb = decode(data_path("faces", "insightface", "t1.jpg")).rgb
    faces = engine.faces.detect(rgb)
    net = engine.models.get("faceplugin-mobilefacenet", MobileFaceNetEmbedder)
    together = net.embed(rgb, [f.points for f in faces])
    alone = np.concatenate([net.embed(rgb, [f.points]) for f in faces])
    assert together.shape == (len(faces), 512) and len(faces) >= 5
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_the_recipe_names_its_face_net() -> None:
    assert Recipe(0.5, 0.5, False).dimension == 192 + 128
    assert Recipe(0.5, 0.5, False, "dlib-resnet-onnx", "faceplugin-mobilefacenet").dimension == 512 + 128
    assert Recipe(1.0, 0.0, False, face_card="faceplugin-mobilefacenet").dimension == 512
    assert "UNCLEAR" in CARDS["faceplugin-mobilefacenet"].licence


def test_the_plus_model_runs_the_512_d_net() -> None:
    from clearsight.calibration import Calibration, available_models
    from clearsight.faces import FaceAnalyzer

    if "clearsight-face-plus-1" not in available_models()["models"]:
        pytest.skip("clearsight-face-plus-1 is not calibrated")
    settings = Settings.load()
    cal = Calibration.load(model="clearsight-face-plus-1")
    analyzer = FaceAnalyzer(settings, cal, ModelLoader.from_settings(settings))
    assert analyzer.model_names[:3] == ("yunet", "mtcnn-onet", "faceplugin-mobilefacenet")
    assert available_models()["default"] != "clearsight-face-plus-1"  # never the silent default
