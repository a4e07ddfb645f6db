"""PP-OCR det/cls/rec (RapidOCR's ONNX conversions inside the ``rapidocr`` wheel) in one RapidOCR
engine. RapidOCR owns their onnxruntime sessions and preprocessing (BGR in, see the cards) and
loads each of the three on its first use; :meth:`PPOcr.part` loads one now."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import ModelNotAvailableError

MAX_SIDE = 2000  # longer sides are downscaled before reading (geometry is returned as ratios)
PARTS = {"det": "ppocrv6-det", "cls": "ppocr-cls", "rec": "ppocrv6-rec"}  # RapidOCR's slot -> card


class PPOcr:
    def __init__(self, paths: dict[str, Path], *, threads: int) -> None:
        """``paths``: the det, cls and rec ONNX files by slot (inside the rapidocr wheel: never downloaded)."""
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:
            raise ModelNotAvailableError("DetectText needs the rapidocr package: pip install rapidocr==3.10.0") from exc

        params: dict[str, Any] = {"Global.log_level": "error", "Global.max_side_len": MAX_SIDE,
                                  "EngineConfig.onnxruntime.intra_op_num_threads": max(1, threads),
                                  "EngineConfig.onnxruntime.inter_op_num_threads": 1}
        params.update({f"{kind.capitalize()}.model_path": str(paths[kind]) for kind in PARTS})
        self.engine: Any = RapidOCR(params=params)
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)

    def part(self, kind: str) -> Any:
        """RapidOCR's TextDetector ("det"), TextClassifier ("cls") or TextRecognizer ("rec"), loaded."""
        if kind not in PARTS:
            raise KeyError(f"PP-OCR has no part {kind!r}; choose one of {', '.join(PARTS)}")
        return getattr(self.engine, f"_load_{kind}_model")()
