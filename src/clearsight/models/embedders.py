"""Face embedders. Each takes an RGB image and per-face geometry and returns unit vectors.

- MobileFaceNet (192-d, ONNX): ArcFace-aligned 112x112 crops, optionally summed with the
  embedding of the mirrored crop (flip augmentation); one call per image, the network run
  ``RUN_BATCH`` crops at a time (see there).
- dlib ResNet (128-d): dlib's own 150x150 face chips from its 5-point shape, run by dlib
  (``DlibResNetEmbedder``) or, the same network rebuilt as ONNX, by onnxruntime
  (``DlibOnnxEmbedder``, one batch per image; ~15x less CPU per face).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .alignment import align
from .preprocess import in_colour, input_size, normalise
from .registry import ModelCard
from .runtime import OnnxSession


def l2_normalise(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    out: np.ndarray = (x / np.maximum(n, 1e-12)).astype(np.float32)
    return out


# Crops per onnxruntime run of MobileFaceNet. An image's crops (and mirrors) are prepared as one
# batch, but the network runs them one at a time: in this tflite2onnx graph ~3/4 of the time is
# memory-bound element-wise work (each PReLU as Relu/Abs/Sub/Mul/Add, and onnxruntime's NCHWc
# reorders), which falls out of cache as the batch grows. t1.jpg's 12 crops (6 faces + mirrors),
# 1 thread, process CPU: 280 ms as one run, 194 ms in runs of 2 (crop + mirror), 166 ms one by one
# (2 threads: 282 / 199 / 175 ms); the outputs are bit-identical (tests/models/test_mesh_batch.py).
RUN_BATCH = 1


class MobileFaceNetEmbedder:
    def __init__(self, card: ModelCard, session: OnnxSession, *, flip: bool = True,
                 run_batch: int = RUN_BATCH) -> None:
        self.card = card
        self.flip = flip
        self.run_batch = max(1, run_batch)
        self._session = session

    def _run(self, x: np.ndarray) -> np.ndarray:
        """The network on a batch, ``run_batch`` crops per onnxruntime run."""
        step = self.run_batch
        if len(x) <= step:
            return self._session.run(np.ascontiguousarray(x))
        return np.concatenate([self._session.run(np.ascontiguousarray(x[i : i + step]))
                               for i in range(0, len(x), step)])

    def crops(self, rgb: np.ndarray, points: list[np.ndarray]) -> np.ndarray:
        w, _ = input_size(self.card)
        return np.stack([align(rgb, p, w) for p in points]) if points else np.zeros((0, w, w, 3), np.uint8)

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, self.card.dimension or 0), np.float32)
        x = normalise(in_colour(crops, self.card), self.card).transpose(0, 3, 1, 2)
        if self.flip:
            out = self._run(np.concatenate([x, x[..., ::-1]]))
            vec = out[: len(x)] + out[len(x) :]
        else:
            vec = self._run(x)
        return l2_normalise(vec)

    def embed(self, rgb: np.ndarray, points: list[np.ndarray]) -> np.ndarray:
        return self.embed_crops(self.crops(rgb, points))


def dlib_chips(rgb: np.ndarray, shapes: list[Any], size: int) -> list[np.ndarray]:
    """dlib's face chips (size x size RGB uint8) from 5-point shapes (dlib full_object_detection)."""
    import dlib

    return [np.asarray(dlib.get_face_chip(rgb, s, size=size, padding=0.25)) for s in shapes]


class DlibResNetEmbedder:
    def __init__(self, card: ModelCard, path: Path) -> None:
        import dlib

        self.card = card
        self._model = dlib.face_recognition_model_v1(str(path))

    def embed(self, rgb: np.ndarray, shapes: list[Any]) -> np.ndarray:
        if not shapes:
            return np.zeros((0, self.card.dimension or 0), np.float32)
        return self.embed_chips(dlib_chips(rgb, shapes, input_size(self.card)[0]))

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        vecs = np.array([np.array(v) for v in self._model.compute_face_descriptor(chips)], np.float32)
        return l2_normalise(vecs)


class DlibOnnxEmbedder:
    """dlib's face-recognition ResNet as ONNX (card dlib-resnet-onnx): dlib's chip, onnxruntime's forward
    pass. Takes what DlibResNetEmbedder takes (the image and dlib's 5-point shapes)."""

    def __init__(self, card: ModelCard, session: OnnxSession) -> None:
        self.card = card
        self._session = session

    def embed(self, rgb: np.ndarray, shapes: list[Any]) -> np.ndarray:
        if not shapes:
            return np.zeros((0, self.card.dimension or 0), np.float32)
        return self.embed_chips(dlib_chips(rgb, shapes, input_size(self.card)[0]))

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, self.card.dimension or 0), np.float32)
        x = normalise(in_colour(np.stack(chips), self.card), self.card).transpose(0, 3, 1, 2)
        return l2_normalise(self._session.run(np.ascontiguousarray(x)))
