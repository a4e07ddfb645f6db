"""dlib's ResNet as ONNX (card dlib-resnet-onnx) against dlib-bin's (dlib-resnet) on LFW View 2 fold 1.

Every image of fold 1's 600 pairs: its centred face (evaluation/lfw.py's rule), dlib's 5-point
shape and 150 px chip (the same chip for both), both descriptors. Prints the cosine between the
two descriptors (min, 1st percentile, median), ms per face of each forward pass on one thread
(chips one at a time, as a request with one face; the chip itself is shared and timed apart), and
the verification accuracy of each on the fold's 600 pairs with lfw.py's threshold procedure
(best threshold on the other nine tenths, here ten sub-folds of 60 pairs).

    CLEARSIGHT_MODEL_DIR=... python bench/dlib_onnx.py [--timing 300]
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # dlib-bin's BLAS on one thread too

import csv  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from clearsight.calibration import Calibration  # noqa: E402
from clearsight.evaluation.lfw import centred_face, evaluate_scores  # noqa: E402
from clearsight.faces import FaceAnalyzer  # noqa: E402
from clearsight.images import decode  # noqa: E402
from clearsight.models.embedders import DlibOnnxEmbedder, DlibResNetEmbedder, dlib_chips  # noqa: E402
from clearsight.models.landmarks import ShapePredictor  # noqa: E402
from clearsight.models.loader import ModelLoader  # noqa: E402
from clearsight.settings import Settings  # noqa: E402


def per_face_ms(fn: Callable[[list[np.ndarray]], np.ndarray], chips: list[np.ndarray]) -> float:
    fn(chips[:1])  # warm
    start = time.perf_counter()
    for chip in chips:
        fn([chip])
    return 1000 * (time.perf_counter() - start) / len(chips)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timing", type=int, default=300, help="chips to time each forward pass on")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "dlib_onnx.json")
    args = parser.parse_args()
    lfw = Path(os.environ.get("CLEARSIGHT_DATA", ROOT.parent / "shared" / "data")) / "lfw"
    with open(lfw / "pairs_view2.csv") as fh:
        pairs = [r for r in csv.DictReader(fh) if r["fold"] == "1"]
    paths = sorted({r["img1"] for r in pairs} | {r["img2"] for r in pairs})
    settings = Settings.load()
    models = ModelLoader(Path(settings.model_dir), threads=1)
    analyzer = FaceAnalyzer(settings, Calibration.load(), models)
    shape5 = models.get("dlib-shape5", ShapePredictor)
    onnx_net = models.get("dlib-resnet-onnx", DlibOnnxEmbedder)
    dlib_net = models.get("dlib-resnet", DlibResNetEmbedder)

    chips: list[np.ndarray] = []
    fallbacks = 0
    start = time.perf_counter()
    for rel in paths:
        rgb = decode(lfw / rel).rgb
        face, fell_back = centred_face(analyzer, rgb)
        fallbacks += fell_back
        chips.extend(dlib_chips(rgb, [shape5.shape(rgb, face.box)], 150))
    chip_s = time.perf_counter() - start
    t0 = time.perf_counter()
    onnx_vecs = np.concatenate([onnx_net.embed_chips(chips[i:i + 16]) for i in range(0, len(chips), 16)])
    t1 = time.perf_counter()
    dlib_vecs = dlib_net.embed_chips(chips)
    t2 = time.perf_counter()
    cos = np.sum(onnx_vecs * dlib_vecs, axis=1)
    timed = chips[: args.timing]
    result: dict[str, object] = {
        "images": len(paths), "detector_fallbacks": fallbacks,
        "cosine_min": float(cos.min()), "cosine_p1": float(np.percentile(cos, 1)),
        "cosine_median": float(np.median(cos)),
        "cosine_first_300": {"min": float(cos[:300].min()), "median": float(np.median(cos[:300]))},
        "ms_per_face_onnx": per_face_ms(onnx_net.embed_chips, timed),
        "ms_per_face_dlib_bin": per_face_ms(dlib_net.embed_chips, timed),
        "ms_per_face_onnx_batch16": 1000 * (t1 - t0) / len(chips),
        "ms_per_face_dlib_bin_one_call": 1000 * (t2 - t1) / len(chips),
        "ms_per_image_detect_shape_chip": 1000 * chip_s / len(paths),
        "timed_chips": len(timed),
    }
    index = {p: i for i, p in enumerate(paths)}
    same = np.array([r["same"] == "1" for r in pairs])
    folds = np.arange(len(pairs)) % 10  # ten sub-folds of 60, each with same and different pairs
    for name, vecs in (("onnx", onnx_vecs), ("dlib_bin", dlib_vecs)):
        scores = np.array([float(vecs[index[r["img1"]]] @ vecs[index[r["img2"]]]) for r in pairs])
        ev = evaluate_scores(scores, same, folds, lambda s: np.asarray(s))
        result[f"accuracy_{name}"] = ev.accuracy
        result[f"errors_{name}"] = round((1 - ev.accuracy) * len(pairs))
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
