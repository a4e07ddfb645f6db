"""Fit the face models' recipes and Similarity calibration on LFW pairsDevTrain only.

For each recipe (fast: MobileFaceNet alone; fused: MobileFaceNet + dlib ResNet, run by the recipe's
resnet card) this
1. embeds every devtrain image with the real pipeline (detector landmarks, alignment, flip),
2. picks the fusion weight by 10-fold cross-validated accuracy on the devtrain pairs (a model with
   ``weights_of`` takes another model's weights from calibration.json instead of picking them; one
   with ``"weights": "znorm"`` weighs the two nets' scores equally once each is z-normalised over the
   devtrain pairs, w = sd_resnet / (sd_face + sd_resnet): devtrain has too few errors to pick a
   weight by accuracy),
3. fits 100*sigmoid(a*score + b) by logistic regression on the devtrain pairs (kept: its slope
   ``a`` extends the map beyond the end knots, and ``kind: logistic`` is the map before 2026-12),
4. fits the fmr-anchored map (``clearsight.calibration.fit_knots``): at each Similarity level the
   score above which a fraction ``fmr_target(S)`` of the devtrain impostor pairs lie, for every
   level with at least 10 impostor pairs above it (5,923,194 impostor pairs: down to FMR 1.7e-6),
5. measures FMR / FNMR at each Similarity on every impostor and genuine pair among the
   devtrain images (millions of impostor pairs, so small FMRs are measured, not guessed),
and writes src/clearsight/calibration.json. Usage: python bench/calibrate.py [--cache F] [--model NAME]
[--rescore] (``--model`` fits that one model version and leaves the file's other entries as they
are; ``--rescore`` embeds nothing: it refits from the devtrain images' vectors in the LFW parts of
bench/lfw_identification.py / lfw_pose.py (out/lfw_*_<model>_*.npz), else from the devtrain cache
of step 1, else, for a model with neither, from the model's published table: its 14 measured
(score, FMR) points, log FMR interpolated linearly in the score, said so in ``fitted_on``).

The target curve (``TARGET_CURVE``, calibration.json ``target``) is fixed data, not refitted: a
quarter of the FMR clearsight-face-fused-1 published at each Similarity 50-99.9 on pairsDevTrain
under the logistic calibration (the default until 2026-12): half for issue #11's goal, half again
for the gap between the fitting set and wider data (fused-1's FMR on all of LFW was 1.15-1.41x,
mesh-1's 1.19-2.09x their devtrain figures, docs/benchmarks.md ``lfw_identification``).
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

from clearsight.calibration import Calibration, fit_knots, fmr_target  # noqa: E402
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
# the Similarity levels that get a knot (where the target leaves 10+ devtrain impostor pairs)
KNOT_LEVELS = [1, 5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97, 98, 99, 99.5, 99.7, 99.8, 99.9]
# clearsight-face-fused-1's published pairsDevTrain FMR at Similarity 50..99.9 under the logistic
# calibration (calibration.json before 2026-12); the target is FACTOR times it
FUSED1_LOGISTIC_FMR = [(50, 4.48676845634298e-3), (60, 3.2207285461188675e-3), (70, 2.202696720721962e-3),
                       (75, 1.7600301458976357e-3), (80, 1.3543368662245403e-3), (85, 9.753183839664884e-4),
                       (90, 6.298966402248517e-4), (95, 2.831242738292887e-4), (97, 1.5954230099503747e-4),
                       (98, 9.488124143831859e-05), (99, 3.7142122982971684e-05), (99.5, 1.4350365697966334e-05),
                       (99.9, 1.688278317407804e-06)]
FACTOR = 0.25
TARGET_CURVE: dict[str, Any] = {
    "basis": f"{FACTOR:g} x the pairsDevTrain FMR of clearsight-face-fused-1 under its logistic calibration "
             "(the default until 2026-12); log FMR linear in log(100 - Similarity) between the points and, "
             "beyond them, with the end segment's slope",
    "points": [[s, FACTOR * f] for s, f in FUSED1_LOGISTIC_FMR],
}


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


def part_vectors(model: str, paths: list[str], out_dir: Path) -> np.ndarray | None:
    """The model's final vectors of ``paths`` from the cached LFW parts (out/lfw_*_<model>_*.npz,
    ``clearsight.evaluation.parts``), or None unless every path is there."""
    found: dict[str, np.ndarray] = {}
    for f in sorted(out_dir.glob(f"lfw_*_{model}_*of*.npz")):
        z = np.load(f)
        if {"paths", "vectors"} <= set(z.files):
            found.update((str(p), v) for p, v in zip(z["paths"], z["vectors"], strict=True))
    if not all(p in found for p in paths):
        return None
    return np.array([found[p] for p in paths], np.float64)


def knots_from_table(entry: dict[str, Any]) -> list[tuple[float, float]]:
    """Knots from a published table alone (a model with no cached devtrain vectors): the score at
    each level's target FMR, log FMR interpolated linearly in the score between the table's rows."""
    rows = [r for r in entry["table"] if r["fmr"] > 0]
    scores = np.array([r["score"] for r in rows])
    logf = np.log10([r["fmr"] for r in rows])  # decreasing in the score
    knots: list[tuple[float, float]] = []
    for level in KNOT_LEVELS:
        f = float(np.log10(fmr_target(level, TARGET_CURVE)))
        if not logf[-1] <= f <= logf[0]:
            continue
        t = float(np.interp(-f, -logf, scores))
        if not knots or t > knots[-1][0]:
            knots.append((t, float(level)))
    return knots


def measured_table(cal: Calibration, imp: np.ndarray, gen: np.ndarray) -> list[dict[str, float]]:
    imp, gen = np.sort(imp), np.sort(gen)
    table = []
    for level in LEVELS:
        t = cal.score_for(level)
        table.append({"similarity": level, "score": round(t, 6),
                      "fmr": float(1 - np.searchsorted(imp, t) / len(imp)),
                      "fnmr": float(np.searchsorted(gen, t) / len(gen))})
    return table


def table_at(entry: dict[str, Any], cal: Calibration) -> list[dict[str, float]]:
    """FMR / FNMR at each level read off a published table (log FMR and FNMR interpolated in the score)."""
    rows = sorted(entry["table"], key=lambda r: r["score"])
    scores = np.array([r["score"] for r in rows])
    logf = np.log10([max(r["fmr"], 1e-9) for r in rows])
    fnmr = np.array([r["fnmr"] for r in rows])
    out = []
    for level in LEVELS:
        t = cal.score_for(level)
        out.append({"similarity": level, "score": round(t, 6), "fmr": float(10 ** np.interp(t, scores, logf)),
                    "fnmr": float(np.interp(t, scores, fnmr))})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.environ.get("CLEARSIGHT_DATA", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--cache", default=str(ROOT / "out" / "devtrain_embeddings.npz"))
    parser.add_argument("--model", choices=sorted(MODELS),
                        help="fit only this model version; the file's other entries stay byte-identical")
    parser.add_argument("--rescore", action="store_true",
                        help="embed nothing: refit from cached vectors or, failing those, the published table")
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
    out["target"] = TARGET_CURVE
    idx = {p: i for i, p in enumerate(paths)}
    ia = np.array([idx[p.first] for p in pairs])
    ib = np.array([idx[p.second] for p in pairs])
    same = np.array([p.same for p in pairs])

    ident = np.array([p.split("/")[1] for p in paths])
    genuine_mask = ident[:, None] == ident[None, :]
    upper = np.triu(np.ones_like(genuine_mask), 1)
    source = f"LFW pairsDevTrain ({len(pairs)} pairs"

    for version, spec in todo.items():
        face_card = spec.get("face_card", DEFAULT_FACE)
        old = existing.get("models", {}).get(version)
        fused = part_vectors(version, paths, ROOT / "out") if args.rescore and old else None
        tags = [c for c, d in ((spec["resnet_card"], DEFAULT_RESNET), (face_card, DEFAULT_FACE),
                               (spec.get("align", "detector"), "detector")) if c != d]
        cache = Path(args.cache)
        cache = cache.with_name(f"{cache.stem}-{'-'.join(tags)}{cache.suffix}") if tags else cache
        if args.rescore and old and fused is None and not cache.is_file():  # the published table alone
            cal = Calibration.load({**old, "kind": "fmr-anchored", "knots": knots_from_table(old)})
            entry = {**old, "kind": "fmr-anchored", "knots": [list(k) for k in cal.knots],
                     "table": table_at(old, cal),
                     "fitted_on": f"{source}; no devtrain vectors cached: knots and table read off the logistic "
                                  "calibration's measured table (14 (score, FMR, FNMR) points, interpolated), "
                                  "not from the pairs; run bench/calibrate.py --model " + version + ")"}
            out["models"][version] = entry
            print(f"{version}: from its published table, {len(cal.knots)} knots")
            continue
        align = False
        if fused is not None and old:  # the recipe stays the file's
            w, align = float(old["recipe"]["weight_mobilefacenet"]), bool(old["recipe"]["align_with_68"])
            scores = np.sum(fused[ia] * fused[ib], 1)
        else:
            mfn, res = cached_embeddings(root, paths, Path(args.cache), spec["resnet_card"], face_card,
                                         spec.get("align", "detector"))
            s_m = np.sum(mfn[ia] * mfn[ib], 1)
            s_r = np.sum(res[ia] * res[ib], 1)
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
        knots = fit_knots(imp, KNOT_LEVELS, TARGET_CURVE)
        recipe: dict[str, Any] = {"weight_mobilefacenet": w, "weight_resnet": round(1 - w, 6), "align_with_68": align}
        if spec["resnet_card"] != DEFAULT_RESNET:
            recipe["resnet_card"] = spec["resnet_card"]
        if face_card != DEFAULT_FACE:
            recipe["face_card"] = face_card
        if spec.get("align") == "mesh":
            recipe["align_with_mesh"] = True
        entry = {"model_version": version, "recipe": recipe, "kind": "fmr-anchored", "a": a, "b": b,
                 "knots": [[round(t, 9), s] for t, s in knots], "table": [],
                 "fitted_on": f"{source}; knots at the target FMR over its {len(imp)} impostor pairs, FMR/FNMR "
                              f"over {len(imp)} impostor and {len(gen)} genuine pairs of its {len(paths)} images)"}
        cal = Calibration.load(entry)
        entry["table"] = measured_table(cal, imp, gen)
        acc = cv_accuracy(scores, same)
        print(f"{version}: weight_mobilefacenet={w} a={a:.3f} b={b:.3f} devtrain cv acc={acc:.4f} "
              f"impostor pairs={len(imp)} genuine pairs={len(gen)} knots={len(knots)} (top {knots[-1][1]:g})")
        for row in entry["table"]:
            print(f"  Similarity {row['similarity']:>6}: score {row['score']:.4f} FMR {row['fmr']:.2e} "
                  f"(target {float(fmr_target(row['similarity'], TARGET_CURVE)):.2e}) FNMR {row['fnmr']:.4f}")
        out["models"][version] = entry
    TARGET.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
