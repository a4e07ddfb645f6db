"""Every model card: its file exists, matches its sha256, and its model gives sane output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clearsight.models.files import locate, sha256_file
from clearsight.models.registry import CARDS, ModelCard
from clearsight.settings import Settings

MODEL_DIR = Path(Settings.load().model_dir)


@pytest.mark.parametrize("card", CARDS.values(), ids=lambda c: c.name)
def test_card_is_complete(card: ModelCard) -> None:
    assert card.licence and card.origin and card.preprocessing and card.output
    assert card.task in {"detection", "verification", "landmarks", "embedding", "ocr", "labels"}
    for dep in card.depends_on:
        assert dep in CARDS


@pytest.mark.parametrize("card", [c for c in CARDS.values() if c.sha256], ids=lambda c: c.name)
def test_file_matches_sha256(card: ModelCard) -> None:
    path = locate(card, MODEL_DIR, verify=True)
    assert sha256_file(path) == card.sha256


@pytest.mark.parametrize("card", [c for c in CARDS.values() if c.task == "embedding"], ids=lambda c: c.name)
def test_embedders_give_unit_vectors(card: ModelCard, engine) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, size=(160, 160, 3), dtype=np.uint8)
    box = np.array([20, 20, 140, 140], np.float32)
    if card.name in ("mobilefacenet", "faceplugin-mobilefacenet"):  # ArcFace-aligned nets
        pts = np.array([[55, 60], [105, 60], [80, 90], [60, 115], [100, 115]], np.float32)
        out = engine.models.get(card.name).embed(rgb, [pts, pts + 1, pts - 1])
        dim = card.dimension
    else:
        shapes = [engine.faces.shape5.shape(rgb, box)] * 3
        out = engine.models.get(card.name).embed(rgb, shapes)  # dlib-resnet, dlib-resnet-onnx
        dim = 128
    assert out.shape == (3, dim) and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_missing_prepared_model_says_what_to_run(tmp_path: Path) -> None:
    from clearsight.errors import ModelNotAvailableError

    with pytest.raises(ModelNotAvailableError, match="clearsight models prepare"):
        locate(CARDS["mobilefacenet"], tmp_path)


def test_corrupt_prepared_model_is_refused(tmp_path: Path) -> None:
    from clearsight.errors import ModelNotAvailableError

    (tmp_path / "mobilefacenet.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelNotAvailableError, match="sha256"):
        locate(CARDS["mobilefacenet"], tmp_path, verify=True)
