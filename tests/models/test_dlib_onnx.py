"""dlib's ResNet rebuilt as ONNX (card dlib-resnet-onnx): the graph builder on synthetic weights
(reproducible bytes, shapes, dynamic batch), and on real faces its descriptor against dlib-bin's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clearsight.models.embedders import DlibOnnxEmbedder, DlibResNetEmbedder
from clearsight.models.landmarks import ShapePredictor
from clearsight.models.loader import ModelLoader
from clearsight.models.prepare import dlib_onnx
from clearsight.models.registry import CARDS
from clearsight.settings import Settings
from tests.conftest import data_path

LFW_FACES = ("AJ_Cook/AJ_Cook_0001.jpg", "Aaron_Eckhart/Aaron_Eckhart_0001.jpg",
             "Colin_Powell/Colin_Powell_0001.jpg", "George_W_Bush/George_W_Bush_0001.jpg",
             "Serena_Williams/Serena_Williams_0001.jpg", "Tony_Blair/Tony_Blair_0001.jpg",
             "Gloria_Macapagal_Arroyo/Gloria_Macapagal_Arroyo_0001.jpg", "Hugo_Chavez/Hugo_Chavez_0001.jpg",
             "Jennifer_Lopez/Jennifer_Lopez_0001.jpg", "Vladimir_Putin/Vladimir_Putin_0001.jpg")


def _synthetic() -> tuple[bytes, bytes]:
    """A manifest + .bin of the face-api layout with random weights (uint8-quantised but for one)."""
    rng = np.random.default_rng(0)
    specs, blobs = [], []

    def add(name: str, shape: tuple[int, ...], quantised: bool = True) -> None:
        n = int(np.prod(shape))
        if quantised:
            specs.append({"name": name, "shape": list(shape), "dtype": "float32",
                          "quantization": {"dtype": "uint8", "scale": 0.1 / 255, "min": -0.05}})
            blobs.append(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
        else:
            specs.append({"name": name, "shape": list(shape), "dtype": "float32"})
            blobs.append(rng.normal(0, 0.05, n).astype("<f4").tobytes())

    def conv(prefix: str, k: int, cin: int, cout: int) -> None:
        add(f"{prefix}/conv/filters", (k, k, cin, cout), quantised=prefix != "conv64_1/conv1")
        add(f"{prefix}/conv/bias", (cout,))
        add(f"{prefix}/scale/weights", (cout,))
        add(f"{prefix}/scale/biases", (cout,))

    channels = 3
    for prefix, kind in dlib_onnx.LAYERS:
        width = int(prefix[4:].split("_")[0])
        if kind == "down7":
            conv(prefix, 7, channels, width)
        else:
            conv(f"{prefix}/conv1", 3, channels, width)
            conv(f"{prefix}/conv2", 3, width, width)
        channels = width
    add("fc", (256, 128))
    manifest = [{"paths": ["face_recognition_model.bin"], "weights": specs}]
    return json.dumps(manifest).encode(), b"".join(blobs)


def test_dequantise_is_tfjs_decode_weights() -> None:
    spec = {"name": "w", "shape": [3], "dtype": "float32",
            "quantization": {"dtype": "uint8", "scale": 0.0005260649557207145, "min": -0.07101876902229645}}
    got = dlib_onnx.dequantise(bytes([0, 1, 255]), spec)
    want = np.array([v * 0.0005260649557207145 + -0.07101876902229645 for v in (0, 1, 255)], np.float32)
    assert got.dtype == np.float32 and got.tobytes() == want.tobytes()


def test_graph_is_reproducible_and_has_a_dynamic_batch(tmp_path: Path) -> None:
    import onnxruntime as ort

    manifest, weights = _synthetic()
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    dlib_onnx.convert(manifest, weights, a)
    dlib_onnx.convert(manifest, weights, b)
    assert a.read_bytes() == b.read_bytes()
    session = ort.InferenceSession(str(a), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).normal(0, 0.3, (3, 3, 150, 150)).astype(np.float32)
    out = session.run(None, {"input": x})[0]
    assert out.shape == (3, 128) and np.all(np.isfinite(out))
    one = session.run(None, {"input": x[1:2]})[0]
    np.testing.assert_allclose(one[0], out[1], rtol=1e-4, atol=1e-5)


def test_truncated_weights_are_refused() -> None:
    from clearsight.errors import ModelNotAvailableError

    manifest, weights = _synthetic()
    with pytest.raises(ModelNotAvailableError, match="left over"):
        dlib_onnx.read_weights(manifest, weights + b"\0")


def test_descriptor_matches_dlib_bin_on_real_faces() -> None:
    settings = Settings.load()
    prepared = Path(settings.model_dir) / str(CARDS["dlib-resnet-onnx"].prepared_file)
    if not prepared.is_file():
        pytest.skip(f"{prepared} is not prepared: run `clearsight models prepare` (or set CLEARSIGHT_MODEL_DIR)")
    from clearsight.models.detector import YuNetDetector

    models = ModelLoader.from_settings(settings)
    detector = models.get("yunet", YuNetDetector)
    shape5 = models.get("dlib-shape5", ShapePredictor)
    rgbs, shapes = [], []
    for rel in LFW_FACES:
        rgb = np.asarray(Image.open(data_path("lfw", "images", rel)).convert("RGB"))
        face = max(detector.detect(rgb), key=lambda d: float((d.box[2] - d.box[0]) * (d.box[3] - d.box[1])))
        rgbs.append(rgb)
        shapes.append(shape5.shape(rgb, face.box))
    onnx_vecs = np.concatenate([models.get("dlib-resnet-onnx", DlibOnnxEmbedder).embed(r, [s])
                                for r, s in zip(rgbs, shapes)])
    dlib_vecs = np.concatenate([models.get("dlib-resnet", DlibResNetEmbedder).embed(r, [s])
                                for r, s in zip(rgbs, shapes)])
    cosines = np.sum(onnx_vecs * dlib_vecs, axis=1)
    assert cosines.min() >= 0.999, cosines
