"""Fit the face models' recipes and Similarity calibration on LFW pairsDevTrain only.

For each recipe (fast: MobileFaceNet alone; fused: MobileFaceNet + dlib ResNet, run by the recipe's
resnet card) this
1. embeds every devtrain image with the real pipeline (detector landmarks, alignment, flip),
2. picks the fusion weight by 10-fold cross-validated accuracy on the devtrain pairs (a model with
   ``weights_of`` takes another model's weights from calibration.json instead of picking them; one
   with ``"weights": "znorm"`` weighs the two nets' scores equally once each is z-normalised over the
   devtrain pairs, w = sd_resnet / (sd_face + sd_resnet): devtrain has too few errors to pick a
   weight by accuracy),
3. fits Similarity = 100*sigmoid(a*score + b) by logistic regression on the devtrain pairs,
4. measures FMR / FNMR at each Similarity on every impostor and genuine pair among the
   devtrain images (millions of impostor pairs, so small FMRs are measured, not guessed),
and writes src/clearsight/calibration.json. Usage: python bench/calibrate.py [--cache F] [--model NAME]
(``--model`` fits that one model version and leaves the file's other entries as they are).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from clearsight.calibration import Calibration  # noqa: E402
from clearsight.evaluation.lfw import best_threshold, centred_face, read_pairs  # noqa: E402
from clearsight.faces import FaceAnalyzer  # noqa: E402
from clearsight.images import decode  # noqa: E402
from clearsight.models.embedders import l2_normalise  # noqa: E402
from clearsight.models.mesh import five_points  # noqa: E402
from clearsight.settings import Settings  # noqa: E402

LEVELS = [50, 60, 70, 75, 80, 85, 90, 95, 97, 98, 99, 99.5, 99.9, 99.99]
DEFAULT_RESNET = "dlib-resnet"
# version -> kind, the card that runs dlib's ResNet, and (optionally) the model whose fusion weights
# and alignment it reuses instead of picking its own
MODELS: dict[str, dict[str, str]] = {
    "clearsight-face-fast-1": {"kind": "fast", "resnet_card": DEFAULT_RESNET},
    "clearsight-face-fused-1": {"kind": "fused", "resnet_card": DEFAULT_RESNET},
    "clearsight-face-fused-2": {"kind": "fused", "resnet_card": "dlib-resnet-onnx",
                                "weights_of": "clearsight-face-fused-1"},
    "clearsight-face-plus-1": {"kind": "fused", "resnet_card": "dlib-resnet-onnx",
                               "face_card": "faceplugin-mobilefacenet", "weights": "znorm"},
    # fused-2 with MobileFaceNet aligned on the 5 points of MediaPipe Face Mesh (bench/landmarks.py)
    "clearsight-face-fused-3": {"kind": "fused", "resnet_card": "dlib-resnet-onnx",
                                "weights_of": "clearsight-face-fused-1", "align": "mesh"},
    # MobileFaceNet alone on the mesh's points (its resnet_card only names the cache it shares with fused-3:
    # weight_resnet is 0, so no ResNet runs)
    "clearsight-face-mesh-1": {"kind": "fast", "resnet_card": "dlib-resnet-onnx", "align": "mesh"},
}
DEFAULT_FACE = "mobilefacenet"
TARGET = ROOT / "src" / "clearsight" / "calibration.json"


def component_embeddings(root: Path, paths: list[str], resnet_card: str = DEFAULT_RESNET,
                         face_card: str = "mobilefacenet", align: str = "detector") -> tuple[np.ndarray, np.ndarray]:
    """The face net (aligned on the detector's 5 points, or with ``align="mesh"`` on Face Mesh's)
    and dlib ResNet embeddings of the centred face of each image."""
    cal = Calibration.load({"model_version": "x", "recipe": {"weight_mobilefacenet": 0.5,
                            "weight_resnet": 0.5, "align_with_68": False, "resnet_card": resnet_card,
                            "face_card": face_card},
                            "a": 1, "b": 0, "table": [], "fitted_on": ""})
    analyzer = FaceAnalyzer(Settings.load(), cal)
    mfn, res = [], []
    for i, rel in enumerate(paths):
        rgb = decode(root / rel).rgb
        face, _ = centred_face(analyzer, rgb)
        if align == "mesh":
            analyzer.add_mesh(rgb, [face])
            assert face.mesh is not None
            points = five_points(face.mesh)
        else:
            points = face.points
        mfn.append(analyzer.mobilefacenet.embed(rgb, [points])[0])
        res.append(analyzer.resnet.embed(rgb, [analyzer.shape5.shape(rgb, face.box)])[0])
        if i % 500 == 0:
            print(f"{i}/{len(paths)}", file=sys.stderr, flush=True)
    return np.array(mfn), np.array(res)


def cv_accuracy(scores: np.ndarray, same: np.ndarray) -> float:
    folds = np.arange(len(scores)) % 10
    accs = []
    for k in range(10):
        t = best_threshold(scores[folds != k], same[folds != k])
        accs.append(np.mean((scores[folds == k] >= t) == same[folds == k]))
    return float(np.mean(accs))


def fit_logistic(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Newton's method for p = sigmoid(a x + b), with a tiny ridge for stability."""
    a, b = 10.0, -5.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(a * x + b)))
        g = np.array([np.sum((p - y) * x) + 1e-6 * a, np.sum(p - y)])
        w = p * (1 - p)
        h = np.array([[np.sum(w * x * x) + 1e-6, np.sum(w * x)], [np.sum(w * x), np.sum(w)]])
        step = np.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    return float(a), float(b)


def cached_embeddings(root: Path, paths: list[str], cache: Path, resnet_card: str,
                      face_card: str = DEFAULT_FACE, align: str = "detector") -> tuple[np.ndarray, np.ndarray]:
    """Face-net and ResNet embeddings of ``paths``; cards other than the defaults, and mesh alignment,
    get their own cache file (devtrain_embeddings-<card>[-<card>][-mesh].npz next to --cache)."""
    tags = [c for c, default in ((resnet_card, DEFAULT_RESNET), (face_card, DEFAULT_FACE), (align, "detector"))
            if c != default]
    if tags:
        cache = cache.with_name(f"{cache.stem}-{'-'.join(tags)}{cache.suffix}")
    if cache.is_file():
        z = np.load(cache)
        return z["mfn"], z["res"]
    mfn, res = component_embeddings(root, paths, resnet_card, face_card, align)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, mfn=mfn, res=res)
    return mfn, res


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.environ.get("CLEARSIGHT_DATA", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--cache", default=str(ROOT / "out" / "devtrain_embeddings.npz"))
    parser.add_argument("--model", choices=sorted(MODELS),
                        help="fit only this model version; the file's other entries stay byte-identical")
    args = parser.parse_args()
    root = Path(args.data) / "lfw"
    pairs = read_pairs(root / "pairsDevTrain.txt")
    paths = sorted({p.first for p in pairs} | {p.second for p in pairs})
    existing: dict[str, Any] = json.loads(TARGET.read_text()) if TARGET.is_file() else {}
    if args.model:
        todo = {args.model: MODELS[args.model]}
        out: dict[str, Any] = existing
    else:
        todo = MODELS
        out = {"default": existing.get("default", "clearsight-face-fused-1"), "models": {}}
    idx = {p: i for i, p in enumerate(paths)}
    ia = np.array([idx[p.first] for p in pairs])
    ib = np.array([idx[p.second] for p in pairs])
    same = np.array([p.same for p in pairs])

    ident = np.array([p.split("/")[1] for p in paths])
    genuine_mask = ident[:, None] == ident[None, :]
    upper = np.triu(np.ones_like(genuine_mask), 1)

    for version, spec in todo.items():
        face_card = spec.get("face_card", DEFAULT_FACE)
        mfn, res = cached_embeddings(root, paths, Path(args.cache), spec["resnet_card"], face_card,
                                     spec.get("align", "detector"))
        s_m = np.sum(mfn[ia] * mfn[ib], 1)
        s_r = np.sum(res[ia] * res[ib], 1)
        align = False
        if spec["kind"] == "fast":
            w = 1.0
        elif "weights_of" in spec:  # the same fusion weights and alignment as that model, not re-picked
            donor = (out["models"].get(spec["weights_of"]) or existing["models"][spec["weights_of"]])["recipe"]
            w, align = float(donor["weight_mobilefacenet"]), bool(donor["align_with_68"])
            assert not align, "component_embeddings aligns with the detector's 5 points"
        elif spec.get("weights") == "znorm":
            sd_m, sd_r = float(np.std(s_m)), float(np.std(s_r))
            w = round(sd_r / (sd_m + sd_r), 4)
        else:
            grid = np.round(np.arange(0.05, 1.0, 0.05), 2)
            accs = [cv_accuracy(g * s_m + (1 - g) * s_r, same) for g in grid]
            w = float(grid[int(np.argmax(accs))])
        fused = l2_normalise(np.concatenate([np.sqrt(w) * mfn, np.sqrt(1 - w) * res], 1))
        scores = w * s_m + (1 - w) * s_r
        a, b = fit_logistic(scores, same.astype(float))
        gram = fused @ fused.T
        imp = gram[(~genuine_mask) & (upper == 1)]
        gen = gram[genuine_mask & (upper == 1)]
        table = []
        for level in LEVELS:
            p = level / 100
            t = (np.log(p / (1 - p)) - b) / a
            table.append({"similarity": level, "score": round(float(t), 6),
                          "fmr": float(np.mean(imp >= t)), "fnmr": float(np.mean(gen < t))})
        acc = cv_accuracy(scores, same)
        print(f"{version}: weight_mobilefacenet={w} a={a:.3f} b={b:.3f} devtrain cv acc={acc:.4f} "
              f"impostor pairs={len(imp)} genuine pairs={len(gen)}")
        for row in table:
            print(f"  Similarity {row['similarity']:>6}: score {row['score']:.4f} FMR {row['fmr']:.2e} "
                  f"FNMR {row['fnmr']:.4f}")
        recipe: dict[str, Any] = {"weight_mobilefacenet": w, "weight_resnet": round(1 - w, 6), "align_with_68": align}
        if spec["resnet_card"] != DEFAULT_RESNET:
            recipe["resnet_card"] = spec["resnet_card"]
        if face_card != DEFAULT_FACE:
            recipe["face_card"] = face_card
        if spec.get("align") == "mesh":
            recipe["align_with_mesh"] = True
        out["models"][version] = {
            "model_version": version,
            "recipe": recipe,
            "a": a, "b": b, "table": table,
            "fitted_on": f"LFW pairsDevTrain ({len(pairs)} pairs; FMR/FNMR over {len(imp)} impostor and "
                         f"{len(gen)} genuine pairs of its {len(paths)} images)",
        }
    TARGET.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
