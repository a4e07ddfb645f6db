"""The recipe's resnet_card: which card runs dlib's ResNet. Existing model versions keep dlib-resnet
(their calibration.json entries have no resnet_card) and their embeddings are unchanged; a recipe
naming dlib-resnet-onnx runs the ONNX network instead."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from clearsight.calibration import Calibration, Recipe, available_models
from clearsight.faces import FaceAnalyzer
from clearsight.models.embedders import DlibOnnxEmbedder, DlibResNetEmbedder
from clearsight.models.loader import ModelLoader
from clearsight.models.registry import CARDS
from clearsight.settings import Settings
from tests.conftest import data_path


def _rgb() -> np.ndarray:
    return np.asarray(Image.open(data_path("lfw", "images", "AJ_Cook", "AJ_Cook_0001.jpg")).convert("RGB"))


def _with_card(cal: Calibration, card: str) -> Calibration:
    return dataclasses.replace(cal, recipe=dataclasses.replace(cal.recipe, resnet_card=card))


def _onnx_prepared(settings: Settings) -> None:
    prepared = Path(settings.model_dir) / str(CARDS["dlib-resnet-onnx"].prepared_file)
    if not prepared.is_file():
        pytest.skip(f"{prepared} is not prepared: run `clearsight models prepare` (or set CLEARSIGHT_MODEL_DIR)")


def test_old_entries_load_with_dlib_resnet() -> None:
    for name in ("clearsight-face-fast-1", "clearsight-face-fused-1"):
        entry: dict[str, Any] = available_models()["models"][name]
        assert "resnet_card" not in entry["recipe"]  # the entries are as they were
        assert Calibration.load(model=name).recipe.resnet_card == "dlib-resnet"
    assert Calibration.load(model="clearsight-face-fused-1").recipe == Recipe(0.4, 0.6, False)


def test_fused_1_embedding_is_unchanged() -> None:
    """fused-1 is still sqrt(0.4) * MobileFaceNet + sqrt(0.6) * dlib's own ResNet, bit for bit."""
    settings = Settings.load()
    models = ModelLoader.from_settings(settings)
    analyzer = FaceAnalyzer(settings, Calibration.load(model="clearsight-face-fused-1"), models)
    assert isinstance(analyzer.resnet, DlibResNetEmbedder)
    assert "dlib-resnet" in analyzer.model_names and "dlib-resnet-onnx" not in analyzer.model_names
    rgb = _rgb()
    (face,) = analyzer.detect(rgb, max_faces=1)
    analyzer.embed(rgb, [face])
    assert face.embedding is not None
    expected = np.concatenate([
        np.sqrt(0.4) * analyzer.mobilefacenet.embed(rgb, [face.points]),
        np.sqrt(0.6) * models.get("dlib-resnet", DlibResNetEmbedder).embed(rgb, [analyzer.shape5.shape(rgb, face.box)]),
    ], axis=1).astype(np.float32)[0]
    assert np.array_equal(face.embedding, expected)


def test_onnx_resnet_card_runs_the_onnx_network() -> None:
    settings = Settings.load()
    _onnx_prepared(settings)
    models = ModelLoader.from_settings(settings)
    fused1 = Calibration.load(model="clearsight-face-fused-1")
    onnx = FaceAnalyzer(settings, _with_card(fused1, "dlib-resnet-onnx"), models)
    assert isinstance(onnx.resnet, DlibOnnxEmbedder)
    assert onnx.model_names == ("yunet", "mtcnn-onet", "mobilefacenet", "dlib-shape5", "dlib-resnet-onnx")
    dlib = FaceAnalyzer(settings, fused1, models)
    rgb = _rgb()
    (a,) = onnx.detect(rgb, max_faces=1)
    (b,) = dlib.detect(rgb, max_faces=1)
    onnx.embed(rgb, [a])
    dlib.embed(rgb, [b])
    assert a.embedding is not None and b.embedding is not None
    assert np.array_equal(a.embedding[:192], b.embedding[:192])  # the MobileFaceNet part is the same
    assert not np.array_equal(a.embedding[192:], b.embedding[192:])  # another network ran
    assert float(a.embedding @ b.embedding) >= 0.999
    assert abs(float(np.linalg.norm(a.embedding)) - 1) < 1e-5


def test_fused_2_reuses_fused_1s_weights() -> None:
    fused1 = Calibration.load(model="clearsight-face-fused-1").recipe
    fused2 = Calibration.load(model="clearsight-face-fused-2").recipe
    assert fused2 == dataclasses.replace(fused1, resnet_card="dlib-resnet-onnx")
    assert fused2.dimension == 320


def test_onnx_resnet_embeds_concurrently_as_serially() -> None:
    """The ONNX forward pass runs outside the dlib lock: threads get what one thread gets."""
    from concurrent.futures import ThreadPoolExecutor

    settings = Settings.load()
    _onnx_prepared(settings)
    analyzer = FaceAnalyzer(settings, Calibration.load(model="clearsight-face-fused-2"))
    rgb = _rgb()
    (face,) = analyzer.detect(rgb, max_faces=1)

    def one(_: int) -> np.ndarray:
        f = dataclasses.replace(face, embedding=None)
        analyzer.embed(rgb, [f])
        assert f.embedding is not None
        return f.embedding

    serial = one(0)
    with ThreadPoolExecutor(4) as pool:
        for vec in pool.map(one, range(12)):
            assert np.allclose(vec, serial, atol=1e-6)
