"""Every card through the one loader, on a real image: output shape, dtype, no NaN. Then the
lifecycle itself: lazy, once, thread-safe, warm-up from the cards, a registry that imports nothing."""

from __future__ import annotations

import ast
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from clearsight.models import loader as loader_module
from clearsight.models.centernet import CenterNet
from clearsight.models.detector import YuNetDetector
from clearsight.models.efficientnet import EfficientNet
from clearsight.models.embedders import DlibOnnxEmbedder, DlibResNetEmbedder, MobileFaceNetEmbedder
from clearsight.models.landmarks import ShapePredictor
from clearsight.models.loader import FACTORIES, ModelLoader
from clearsight.models.mesh import FaceMesh, Iris
from clearsight.models.ppocr import PARTS, PPOcr
from clearsight.models.registry import CARDS, ModelCard, needs
from clearsight.models.verifier import ONetVerifier
from clearsight.settings import Settings
from tests.conftest import data_path

SRC = Path(__file__).resolve().parents[2] / "src" / "clearsight"


def _rgb(*parts: str) -> np.ndarray:
    return np.asarray(Image.open(data_path(*parts)).convert("RGB"))


def _face_crop(models: ModelLoader) -> tuple[np.ndarray, Any]:
    """An LFW face crop and its face, found by the detector (what every face card depends on)."""
    rgb = _rgb("lfw", "images", "AJ_Cook", "AJ_Cook_0001.jpg")
    (face, *_) = models.get("yunet", YuNetDetector).detect(rgb)
    return rgb, face


def _detector(models: ModelLoader, card: ModelCard) -> dict[str, np.ndarray]:
    dets = models.get(card.name, YuNetDetector).detect(_rgb("faces", "insightface", "t1.jpg"))
    assert len(dets) >= 3
    return {"boxes": np.stack([d.box for d in dets]), "landmarks": np.stack([d.landmarks for d in dets]),
            "scores": np.array([d.score for d in dets], np.float32)}


def _verifier(models: ModelLoader, card: ModelCard) -> dict[str, np.ndarray]:
    rgb, face = _face_crop(models)
    prob = models.get(card.name, ONetVerifier).face_probability(rgb, [face.box, face.box + 2])
    assert np.all(prob > 0.5)  # a real face
    return {"probability": prob}


def _landmarks(models: ModelLoader, card: ModelCard) -> dict[str, np.ndarray]:
    rgb, face = _face_crop(models)
    return {"points": models.get(card.name, ShapePredictor).points(rgb, face.box)}


def _mesh(models: ModelLoader, card: ModelCard) -> dict[str, np.ndarray]:
    rgb, face = _face_crop(models)
    points, prob = models.get(card.name, FaceMesh).run(rgb, [face.box], [face.landmarks[:2]])
    return {"points": points, "probability": prob}


def _iris(models: ModelLoader, card: ModelCard) -> dict[str, np.ndarray]:
    rgb, face = _face_crop(models)
    mesh = models.get("mediapipe-face-mesh", FaceMesh).points(rgb, [face.box], [face.landmarks[:2]])
    iris, contour = models.get(card.name, Iris).run(rgb, list(mesh))
    return {"iris": iris, "contour": contour}


def _mobilefacenet(models: ModelLoader, card: ModelCard) -> dict[str, np.ndarray]:
    rgb, face = _face_crop(models)
    return {"embedding": models.get(card.name, MobileFaceNetEmbedder).embed(rgb, [face.landmarks] * 2)}


def _dlib_resnet(models: ModelLoader, card: ModelCard) -> dict[str, np.ndarray]:
    rgb, face = _face_crop(models)
    shape = models.get("dlib-shape5", ShapePredictor).shape(rgb, face.box)
    return {"embedding": models.get(card.name, DlibResNetEmbedder).embed(rgb, [shape] * 2)}


def _dlib_resnet_onnx(models: ModelLoader, card: ModelCard) -> dict[str, np.ndarray]:
    rgb, face = _face_crop(models)
    shape = models.get("dlib-shape5", ShapePredictor).shape(rgb, face.box)
    return {"embedding": models.get(card.name, DlibOnnxEmbedder).embed(rgb, [shape] * 2)}


def _text_lines(models: ModelLoader) -> tuple[PPOcr, list[np.ndarray]]:
    """PP-OCR's engine and BGR crops of the first text lines its detector finds on a page."""
    ocr = models.get("ppocrv6-det", PPOcr)
    bgr = np.ascontiguousarray(_rgb("ocr", "tesseract", "phototest.tif")[:, :, ::-1])
    boxes = ocr.part("det")(bgr).boxes
    crops = []
    for quad in boxes[:4]:
        (x1, y1), (x2, y2) = quad.min(0).astype(int), quad.max(0).astype(int)
        crops.append(np.ascontiguousarray(bgr[max(0, y1):y2, max(0, x1):x2]))
    return ocr, crops


def _ppocr_det(models: ModelLoader, card: ModelCard) -> dict[str, np.ndarray]:
    ocr = models.get(card.name, PPOcr)
    found = ocr.part("det")(np.ascontiguousarray(_rgb("ocr", "tesseract", "phototest.tif")[:, :, ::-1]))
    assert len(found.boxes) >= 5
    return {"quads": np.asarray(found.boxes, np.float32), "scores": np.asarray(found.scores, np.float32)}


def _ppocr_cls(models: ModelLoader, card: ModelCard) -> dict[str, np.ndarray]:
    ocr, crops = _text_lines(models)
    result = models.get(card.name, PPOcr).part("cls")(crops)
    assert ocr is models.get(card.name, PPOcr)  # one engine for the three cards
    assert all(label in ("0", "180") for label, _ in result.cls_res)
    return {"scores": np.array([score for _, score in result.cls_res], np.float32)}


def _ppocr_rec(models: ModelLoader, card: ModelCard) -> dict[str, np.ndarray]:
    from rapidocr.ch_ppocr_rec import TextRecInput

    _, crops = _text_lines(models)
    result = models.get(card.name, PPOcr).part("rec")(TextRecInput(img=crops))
    assert all(text.strip() for text in result.txts)
    return {"scores": np.array(result.scores, np.float32)}


def _centernet(models: ModelLoader, card: ModelCard) -> dict[str, np.ndarray]:
    heads = models.get(card.name, CenterNet).heads(_rgb("coco", "images", "000000005037.jpg"))
    assert heads.heat.max() > 0.5  # the bus, the cars, the people
    return {"heat": heads.heat, "sizes": heads.sizes}


def _efficientnet(models: ModelLoader, card: ModelCard) -> dict[str, np.ndarray]:
    p = models.get(card.name, EfficientNet).probabilities(_rgb("coco", "images", "000000010363.jpg"))
    assert p.sum() == pytest.approx(1.0)
    return {"probabilities": p}


# card -> (run it on a real image, expected {output: (shape with -1 for "any", dtype)})
RUNS: dict[str, tuple[Callable[[ModelLoader, ModelCard], dict[str, np.ndarray]],
                      dict[str, tuple[tuple[int, ...], type]]]] = {
    "yunet": (_detector, {"boxes": ((-1, 4), np.float32), "landmarks": ((-1, 5, 2), np.float32),
                          "scores": ((-1,), np.float32)}),
    "mtcnn-onet": (_verifier, {"probability": ((2,), np.float32)}),
    "dlib-shape5": (_landmarks, {"points": ((5, 2), np.float32)}),
    "dlib-shape68": (_landmarks, {"points": ((68, 2), np.float32)}),
    "mediapipe-iris": (_iris, {"iris": ((1, 2, 5, 2), np.float32), "contour": ((1, 2, 71, 2), np.float32)}),
    "mediapipe-face-mesh": (_mesh, {"points": ((1, 468, 2), np.float32), "probability": ((1,), np.float32)}),
    "dlib-resnet": (_dlib_resnet, {"embedding": ((2, 128), np.float32)}),
    "dlib-resnet-onnx": (_dlib_resnet_onnx, {"embedding": ((2, 128), np.float32)}),
    "mobilefacenet": (_mobilefacenet, {"embedding": ((2, 192), np.float32)}),
    "faceplugin-mobilefacenet": (_mobilefacenet, {"embedding": ((2, 512), np.float32)}),
    "ppocrv6-det": (_ppocr_det, {"quads": ((-1, 4, 2), np.float32), "scores": ((-1,), np.float32)}),
    "ppocr-cls": (_ppocr_cls, {"scores": ((4,), np.float32)}),
    "ppocrv6-rec": (_ppocr_rec, {"scores": ((4,), np.float32)}),
    "centernet-coco": (_centernet, {"heat": ((128, 128, 80), np.float32), "sizes": ((128, 128, 4), np.float32)}),
    "efficientnet-lite0": (_efficientnet, {"probabilities": ((1000,), np.float64)}),
}


@pytest.fixture(scope="module")
def models(engine) -> ModelLoader:  # type: ignore[no-untyped-def]
    loader: ModelLoader = engine.models  # the session engine's: its models are loaded once for all tests
    return loader


@pytest.mark.parametrize("card", CARDS.values(), ids=lambda c: c.name)
def test_card_runs_through_the_loader(card: ModelCard, models: ModelLoader) -> None:
    assert card.name in RUNS, f"add a run on a real image for the new card {card.name} to RUNS"
    assert card.name in FACTORIES, f"add a factory for the new card {card.name} to models/loader.py"
    run, expected = RUNS[card.name]
    outputs = run(models, card)
    assert set(outputs) == set(expected)
    for key, (shape, dtype) in expected.items():
        out = outputs[key]
        assert out.dtype == dtype, (key, out.dtype)
        assert len(out.shape) == len(shape) and all(want in (-1, got) for want, got in zip(shape, out.shape)), (
            key, out.shape)
        assert out.size > 0 and np.all(np.isfinite(out)), key
    if card.dimension is not None:
        assert outputs["embedding"].shape[1] == card.dimension
        np.testing.assert_allclose(np.linalg.norm(outputs["embedding"], axis=1), 1.0, atol=1e-5)
    assert models.get(card.name) is models.get(card.name)  # loaded once
    assert card.name in models.loaded


def test_nothing_loads_until_asked(tmp_path: Path) -> None:
    from clearsight import Engine

    engine = Engine(Settings.load(data_dir=str(tmp_path)))
    assert engine.models.loaded == ()
    engine.faces.model_names  # noqa: B018  (deriving the names loads nothing)
    assert engine.models.loaded == ()


def test_warm_loads_the_face_model_version_and_its_dependencies_only() -> None:
    from clearsight.calibration import Calibration
    from clearsight.faces import FaceAnalyzer

    settings = Settings.load()
    fused = FaceAnalyzer(settings, Calibration.load(model="clearsight-face-fused-1"))
    assert fused.model_names == ("yunet", "mtcnn-onet", "mobilefacenet", "dlib-shape5", "dlib-resnet")
    fast = FaceAnalyzer(settings, Calibration.load(model="clearsight-face-fast-1"))
    assert fast.model_names == ("yunet", "mtcnn-onet", "mobilefacenet")
    assert fast.models.warm(fast.model_names) == fast.model_names
    assert fast.models.loaded == fast.model_names  # no labels, no OCR, no 68 points: those stay lazy


def test_one_load_under_concurrent_first_use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[str] = []
    gate = threading.Event()

    def slow(loader: ModelLoader, card: ModelCard) -> object:
        calls.append(card.name)
        gate.wait(5)
        return object()

    monkeypatch.setitem(loader_module.FACTORIES, "yunet", slow)
    models = ModelLoader(tmp_path, threads=1)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(models.get("yunet"))) for _ in range(8)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert calls == ["yunet"] and len(got) == 8 and all(g is got[0] for g in got)


def test_wrong_kind_and_unknown_card_are_refused(models: ModelLoader) -> None:
    with pytest.raises(TypeError, match="not a CenterNet"):
        models.get("yunet", CenterNet)
    with pytest.raises(KeyError, match="no model card 'resnet'"):
        models.get("resnet")


def test_needs_orders_dependencies_first_and_refuses_circles(monkeypatch: pytest.MonkeyPatch) -> None:
    assert needs("ppocrv6-rec") == ("ppocrv6-det", "ppocr-cls", "ppocrv6-rec")
    assert needs("dlib-resnet", "mobilefacenet") == ("yunet", "mtcnn-onet", "dlib-shape5", "dlib-resnet",
                                                     "mobilefacenet")
    from dataclasses import replace

    monkeypatch.setitem(CARDS, "yunet", replace(CARDS["yunet"], depends_on=("mobilefacenet",)))
    with pytest.raises(ValueError, match="circle"):
        needs("mobilefacenet")


def test_the_three_ocr_cards_are_one_engine(models: ModelLoader) -> None:
    engines = {id(models.get(name, PPOcr)) for name in PARTS.values()}
    assert len(engines) == 1


def test_registry_is_pure_data() -> None:
    tree = ast.parse((SRC / "models" / "registry.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported <= {"__future__", "dataclasses"}


def test_run_time_never_imports_install_time_code() -> None:
    code = ("import sys, clearsight, clearsight.models.loader, clearsight.labels, clearsight.text, "
            "clearsight.server.app; print(sorted(m for m in sys.modules if '.prepare' in m))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_prepare_reads_its_sha256_from_the_cards() -> None:
    from clearsight.models.prepare import dlib_onnx, labels, npm
    from clearsight.models.prepare.fetch import prepared_card

    for made in (*(c.card for c in npm.CONVERSIONS), labels.CENTERNET.card, labels.EFFICIENTNET_LITE0.card,
                 dlib_onnx.CARD):
        card, name = prepared_card(made)
        assert card.sha256 and name == card.file
