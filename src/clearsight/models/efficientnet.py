"""EfficientNet-Lite0 (ImageNet-1k): the whole image resized to the card's input size, RGB,
(x - mean) / std, NCHW; out come class probabilities (softmax of the logits)."""

from __future__ import annotations

import cv2
import numpy as np

from .preprocess import in_colour, input_size, normalise
from .registry import ModelCard
from .runtime import OnnxSession


class EfficientNet:
    def __init__(self, card: ModelCard, session: OnnxSession) -> None:
        self.card = card
        self._session = session

    def probabilities(self, rgb: np.ndarray) -> np.ndarray:
        """(classes,) float64, summing to 1."""
        x = cv2.resize(in_colour(rgb, self.card), input_size(self.card), interpolation=cv2.INTER_AREA)
        x = normalise(x, self.card).transpose(2, 0, 1)[None]
        logits = self._session.run(np.ascontiguousarray(x))[0].astype(np.float64)
        p = np.exp(logits - logits.max())
        return np.asarray(p / p.sum())
