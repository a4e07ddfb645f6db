"""CenterNet (MobileNetV3, COCO-80) heads: the image letterboxed to the card's input size, RGB
0-255 (mean 0, std 1), NHWC; out come a class heatmap and box sides. Decoding (peaks, NMS, class
names) is DetectLabels' business (labels.py)."""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from .preprocess import in_colour, input_size, normalise
from .registry import ModelCard
from .runtime import OnnxSession


class CenterNetHeads(NamedTuple):
    heat: np.ndarray  # (H/4, W/4, classes) sigmoid scores
    sizes: np.ndarray  # (H/4, W/4, 4) left, top, right, bottom in input pixels
    scale: float  # input pixels per image pixel
    stride: float  # input pixels per heatmap cell


class CenterNet:
    def __init__(self, card: ModelCard, session: OnnxSession) -> None:
        self.card = card
        self._session = session

    def heads(self, rgb: np.ndarray) -> CenterNetHeads:
        width, height = input_size(self.card)
        h, w = rgb.shape[:2]
        scale = min(width / w, height / h)  # letterbox: keep the aspect ratio, pad bottom/right with black
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        x = np.zeros((height, width, 3), np.float32)
        x[:size[1], :size[0]] = cv2.resize(in_colour(rgb, self.card), size,
                                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        heat, sizes = self._session.run_all(normalise(x, self.card)[None])[:2]
        return CenterNetHeads(heat[0], sizes[0], scale, height / heat.shape[1])
