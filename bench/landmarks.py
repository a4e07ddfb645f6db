"""Face Mesh landmarks against dlib's 68 points, its speed, the EyesOpen / MouthOpen thresholds, and the
alignment lever (MobileFaceNet aligned on 5 points from the mesh instead of YuNet's): writes the
"landmarks" section of docs/benchmarks.md.

    python bench/landmarks.py [--view2] [--limit N]

1. Every image of LFW pairsDevTrain (and with ``--view2`` of pairs.txt) goes through the real
   pipeline's pieces once: the centred face (evaluation/lfw.py centred_face), the mesh (2 passes),
   MobileFaceNet (with its flip) aligned on YuNet's 5 points and on the mesh's, and dlib's ResNet
   (ONNX, its own 5-point chip, the same for both); 700 devtrain images spread over the list also
   get dlib's 68 points and the 1-pass mesh. Cached in out/landmarks_images.npz.
2. Agreement on those 700: for each of dlib's 68 points the nearest mesh vertex on average (chosen
   on 200 of them), then the mean distance over the other 500, normalised by the inter-ocular
   distance (dlib's outer eye corners), per landmark group. Also the 5 alignment points (eye
   centres, nose tip, mouth corners) of YuNet and of the mesh against dlib's.
3. EyesOpen / MouthOpen: the mesh's aspect-ratio thresholds that agree best with the 68-point
   verdicts (EAR 0.21, MAR 0.12) on the 700, and that agreement (there is no human eyes/mouth
   ground truth in ../shared/data).
4. Accuracy: fast (MobileFaceNet alone) and fused (with fused-2's weights) for each alignment,
   10-fold cross-validated on devtrain; with ``--view2`` the official View 2 protocol.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from _report import machine, table, write_section  # noqa: E402
from clearsight.calibration import Calibration  # noqa: E402
from clearsight.evaluation.lfw import centred_face, evaluate_scores, read_pairs  # noqa: E402
from clearsight.faces import EAR_OPEN, MAR_OPEN, FaceAnalyzer  # noqa: E402
from clearsight.images import decode  # noqa: E402
from clearsight.models import landmarks as dlib68  # noqa: E402
from clearsight.models import mesh as fm  # noqa: E402
from clearsight.settings import Settings  # noqa: E402

DLIB_EAR_OPEN, DLIB_MAR_OPEN = 0.21, 0.12  # the 68-point thresholds the mesh replaces
GROUPS = {"jaw": range(0, 17), "eyebrows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48),
          "mouth": range(48, 68)}
FIVE = ("eye centre (image left)", "eye centre (image right)", "nose tip", "mouth corner (image left)",
        "mouth corner (image right)")
ALIGNMENTS = ("yunet", "mesh2")  # MobileFaceNet's 5 points: YuNet's, or the mesh's after 2 passes
FUSED = "clearsight-face-fused-2"
DETAIL = 700  # devtrain images with dlib's 68 points and the 1-pass mesh: 200 to pair points, 500 to measure


def collect(analyzer: FaceAnalyzer, root: Path, paths: list[str], detail: set[str]) -> dict[str, np.ndarray]:
    """Per image: MobileFaceNet aligned on YuNet's and on the 2-pass mesh's 5 points, dlib's ResNet,
    the mesh after 2 passes, YuNet's 5 points; for the ``detail`` images also dlib's 68 points and
    the 1-pass mesh (NaN elsewhere: the box is shared, so the expensive parts run where needed)."""
    mesh = analyzer.mesh
    out: dict[str, list[Any]] = {k: [] for k in ("p68", "mesh1", "mesh2", "yunet5", "prob", "fallback",
                                                 "res", *(f"mfn_{a}" for a in ALIGNMENTS))}
    nan68, nan468 = np.full((68, 2), np.nan, np.float32), np.full((fm.COUNT, 2), np.nan, np.float32)
    start = time.perf_counter()
    for i, rel in enumerate(paths):
        rgb = decode(root / rel).rgb
        face, fell_back = centred_face(analyzer, rgb)
        m1, prob = mesh.run(rgb, [face.box], [face.points[:2]], passes=1)
        eyes = np.stack([fm.points_of(m1[0], fm.EYE_IMAGE_LEFT), fm.points_of(m1[0], fm.EYE_IMAGE_RIGHT)])
        m2, _ = mesh.run(rgb, [fm.roi_box(m1[0])], [eyes], passes=1)  # = passes=2, reusing pass 1
        vecs = analyzer.mobilefacenet.embed(rgb, [face.points, fm.five_points(m2[0])])
        for a, v in zip(ALIGNMENTS, vecs, strict=True):
            out[f"mfn_{a}"].append(v)
        out["res"].append(analyzer.resnet.embed(rgb, [analyzer.shape5.shape(rgb, face.box)])[0])
        out["p68"].append(analyzer.shape68.points(rgb, face.box) if rel in detail else nan68)
        out["mesh1"].append(m1[0] if rel in detail else nan468)
        out["mesh2"].append(m2[0])
        out["yunet5"].append(face.points)
        out["prob"].append(prob[0])
        out["fallback"].append(fell_back)
        if i % 100 == 0:
            print(f"{i}/{len(paths)} {time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)
    return {k: np.asarray(v) for k, v in out.items()}


def cached(analyzer: FaceAnalyzer, root: Path, paths: list[str], detail: set[str] | None = None
           ) -> dict[str, np.ndarray]:
    """``collect`` for ``paths``, through one cache of every image collected so far
    (out/landmarks_images.npz: devtrain and View 2 share images)."""
    cache = ROOT / "out" / "landmarks_images.npz"
    have: dict[str, np.ndarray] = dict(np.load(cache)) if cache.is_file() else {}
    known = {str(p): i for i, p in enumerate(have.get("paths", []))}
    todo = [p for p in paths if p not in known]
    if todo:
        new = collect(analyzer, root, todo, detail or set())
        new["paths"] = np.array(todo)
        have = new if not have else {k: np.concatenate([have[k], new[k]]) for k in new}
        cache.parent.mkdir(exist_ok=True)
        np.savez(cache, **have)
        known = {str(p): i for i, p in enumerate(have["paths"])}
    rows = np.array([known[p] for p in paths])
    return {k: v[rows] for k, v in have.items()}


def timings(analyzer: FaceAnalyzer, root: Path, paths: list[str], n: int = 100) -> dict[str, float]:
    """Median ms per face: one mesh forward (batch 1), one mesh pass with crop and mapping, the
    2-pass default, MediaPipe Iris on both eyes (one batch of 2), dlib's 68-point predictor, and
    MobileFaceNet (with flip) for scale."""
    mesh = analyzer.mesh
    runs: dict[str, list[float]] = {k: [] for k in (
        "mesh forward", "mesh, 1 pass", "mesh, 2 passes (default)", "iris, both eyes", "dlib 68 points",
        "MobileFaceNet (flip)")}
    iris = analyzer.iris
    for rel in paths[:n]:
        rgb = decode(root / rel).rgb
        face, _ = centred_face(analyzer, rgb)
        box, eyes = face.box, face.points[:2]
        batch, _ = mesh.crops(rgb, [box], [eyes])
        points = mesh.points(rgb, [box], [eyes])
        calls: dict[str, Callable[[], object]] = {
            "mesh forward": partial(mesh._session.run_all, batch),
            "mesh, 1 pass": partial(mesh.run, rgb, [box], [eyes], passes=1),
            "mesh, 2 passes (default)": partial(mesh.run, rgb, [box], [eyes], passes=2),
            "iris, both eyes": partial(iris.run, rgb, list(points)),
            "dlib 68 points": partial(analyzer.shape68.points, rgb, box),
            "MobileFaceNet (flip)": partial(analyzer.mobilefacenet.embed, rgb, [face.points]),
        }
        for key, call in calls.items():
            t = time.perf_counter()
            call()
            runs[key].append(1000 * (time.perf_counter() - t))
    return {k: float(np.median(v)) for k, v in runs.items()}


def agreement(d: dict[str, np.ndarray]) -> tuple[str, dict[str, Any]]:
    p68 = d["p68"].astype(np.float64)
    iod = np.linalg.norm(p68[:, 45] - p68[:, 36], axis=1)[:, None]
    cut = len(p68) * 2 // 7  # 200 of 700
    pick, test = slice(0, cut), slice(cut, len(p68))
    rows, summary = [], {}
    for variant in ("mesh1", "mesh2"):
        mesh = d[variant].astype(np.float64)
        # (images, 68, 468) distances over the choice set -> nearest vertex per dlib point
        dist = np.linalg.norm(p68[pick, :, None, :] - mesh[pick, None, :, :], axis=3) / iod[pick, :, None]
        nearest = dist.mean(0).argmin(1)
        err = np.linalg.norm(p68[test] - mesh[test][:, nearest], axis=2) / iod[test]
        summary[variant] = nearest
        rows.append([f"mesh, {variant[-1]} pass{'es' if variant[-1] != '1' else ''}",
                     *(f"{100 * err[:, list(g)].mean():.1f}%" for g in GROUPS.values()), f"{100 * err.mean():.1f}%"])
    text = table(["landmarks", *GROUPS, "all 68"], rows)
    five68 = np.stack([dlib68.five_from_68(p) for p in p68[test]]).astype(np.float64)
    rows5 = []
    for name, five in (("YuNet (today's alignment)", d["yunet5"][test]),
                       ("mesh, 1 pass", np.stack([fm.five_points(m) for m in d["mesh1"][test]])),
                       ("mesh, 2 passes", np.stack([fm.five_points(m) for m in d["mesh2"][test]]))):
        err = np.linalg.norm(five.astype(np.float64) - five68, axis=2) / iod[test]
        rows5.append([name, *(f"{100 * e:.1f}%" for e in err.mean(0)), f"{100 * err.mean():.1f}%"])
    text5 = table(["5 points vs dlib's", *FIVE, "mean"], rows5)
    return text + "\n" + text5, summary


def open_agreement(d: dict[str, np.ndarray]) -> tuple[str, float, float]:
    rows = []
    ref_e = np.array([dlib68.eye_aspect_ratio(p) for p in d["p68"]]) > DLIB_EAR_OPEN
    ref_m = np.array([dlib68.mouth_aspect_ratio(p) for p in d["p68"]]) > DLIB_MAR_OPEN
    ear = np.array([fm.eye_aspect_ratio(m) for m in d["mesh2"]])
    mar = np.array([fm.mouth_aspect_ratio(m) for m in d["mesh2"]])
    best = {}
    for what, value, ref, current in (("EyesOpen", ear, ref_e, EAR_OPEN), ("MouthOpen", mar, ref_m, MAR_OPEN)):
        grid = np.round(np.arange(0.05, 0.5, 0.005), 3)
        agree = [float(np.mean((value > t) == ref)) for t in grid]
        # balanced agreement: the 68-point verdicts are mostly "open" (eyes) / "closed" (mouth)
        balanced = [0.5 * (np.mean(value[ref] > t) + np.mean(value[~ref] <= t)) if ref.any() and (~ref).any()
                    else agree[k] for k, t in enumerate(grid)]
        t_best = float(grid[int(np.argmax(balanced))])
        best[what] = t_best
        now = float(np.mean((value > current) == ref))
        rows.append([what, f"{int(ref.sum())} / {len(ref)}", f"{t_best:g}", f"{100 * max(agree):.1f}% at "
                     f"{grid[int(np.argmax(agree))]:g}", f"{current:g}", f"{100 * now:.1f}%",
                     f"{100 * np.mean(value[ref] > current):.1f}% / {100 * np.mean(value[~ref] <= current):.1f}%"])
    text = table(["attribute", "open by dlib-68", "balanced best threshold", "best raw agreement",
                  "threshold in faces.py", "agreement there", "open / closed agreement there"], rows)
    return text, best["EyesOpen"], best["MouthOpen"]


def accuracies(d: dict[str, np.ndarray], pairs: list[Any], w: float, view2: bool) -> list[list[object]]:
    idx = {p: i for i, p in enumerate(d["paths"])}
    ia = np.array([idx[p.first] for p in pairs])
    ib = np.array([idx[p.second] for p in pairs])
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs]) if view2 else np.arange(len(pairs)) % 10
    res = d["res"]
    s_r = np.sum(res[ia] * res[ib], 1)
    rows: list[list[object]] = []
    for a in ALIGNMENTS:
        m = d[f"mfn_{a}"]
        s_m = np.sum(m[ia] * m[ib], 1)
        for kind, scores in (("fast (MobileFaceNet)", s_m), (f"fused ({w:g}/{1 - w:g})", w * s_m + (1 - w) * s_r)):
            r = evaluate_scores(scores, same, folds, lambda s: s)
            errors = round((1 - r.accuracy) * len(scores))
            rows.append([a, kind, f"{100 * r.accuracy:.2f}% +- {100 * r.accuracy_std:.2f}", f"~{errors}",
                         f"{100 * r.tar_at_far['1e-3']:.2f}%"])
    return rows


def all_vs_all(d: dict[str, np.ndarray], w: float) -> list[list[object]]:
    """TAR at FAR 1e-3..1e-5 over every pair of the set's images (millions of impostor pairs)."""
    ident = np.array([str(p).split("/")[1] for p in d["paths"]])
    genuine = ident[:, None] == ident[None, :]
    upper = np.triu(np.ones(genuine.shape, bool), 1)
    rows: list[list[object]] = []
    for a in ALIGNMENTS:
        m = d[f"mfn_{a}"]
        for kind, gram in (("fast (MobileFaceNet)", m @ m.T),
                           (f"fused ({w:g}/{1 - w:g})", w * (m @ m.T) + (1 - w) * (d["res"] @ d["res"].T))):
            imp = np.sort(gram[~genuine & upper])[::-1]
            gen = gram[genuine & upper]
            tars = [f"{100 * np.mean(gen > imp[int(far * len(imp))]):.2f}%" for far in (1e-3, 1e-4, 1e-5)]
            rows.append([a, kind, len(gen), f"{len(imp):,}", *tars])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.environ.get("CLEARSIGHT_DATA", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--view2", action="store_true", help="also LFW View 2 (pairs.txt, 10 folds)")
    parser.add_argument("--limit", type=int, default=0, help="only this many devtrain images (a smoke run)")
    args = parser.parse_args()
    root = Path(args.data) / "lfw"
    cal = Calibration.load(model=FUSED)
    analyzer = FaceAnalyzer(Settings.load(), cal)
    w = cal.recipe.weight_mobilefacenet
    dev_pairs = read_pairs(root / "pairsDevTrain.txt")
    dev_paths = sorted({p.first for p in dev_pairs} | {p.second for p in dev_pairs})
    if args.limit:
        dev_paths = dev_paths[:args.limit]
        dev_pairs = [p for p in dev_pairs if p.first in dev_paths and p.second in dev_paths]
    detail = set(dev_paths[::max(1, len(dev_paths) // DETAIL)][:DETAIL])  # spread over the identities
    dev = cached(analyzer, root, dev_paths, detail)
    rows = np.array([p in detail for p in dev_paths])
    dev_detail = {k: v[rows] for k, v in dev.items()}
    ms = timings(analyzer, root, dev_paths)
    agree_text, _ = agreement(dev_detail)
    open_text, ear_t, mar_t = open_agreement(dev_detail)
    acc_rows = [["devtrain (10-fold CV)", *r] for r in accuracies(dev, dev_pairs, w, False)]
    ava_rows = all_vs_all(dev, w)
    if args.view2:
        v2_pairs = read_pairs(root / "pairs.txt")
        v2_paths = sorted({p.first for p in v2_pairs} | {p.second for p in v2_pairs})
        v2 = cached(analyzer, root, v2_paths)
        acc_rows += [["View 2 (10 folds)", *r] for r in accuracies(v2, v2_pairs, w, True)]
    fallbacks = int(dev["fallback"].sum())
    md = f"""## Landmarks: MediaPipe Face Mesh (468 points) against dlib's 68; the alignment lever

`python bench/landmarks.py{' --view2' if args.view2 else ''}` on {machine()}; {len(dev_paths)} LFW pairsDevTrain images
(the centred face; {fallbacks} without a detection fall back to dlib's 68 points at the image centre).

Agreement with dlib's 68 points (mean distance over inter-ocular distance, dlib's outer eye
corners; each dlib point against the mesh vertex nearest it on average over 200 images, measured on
500 others). The two sets are different annotations (the iBUG jaw is the visible contour, the mesh
jaw a 3-D surface projected), so a few percent is the convention gap, not an error:

{agree_text}
ms per face (median over 100 faces, one onnxruntime thread for the mesh and the iris, the box shared
with other jobs; attributes=ALL adds the 2-pass mesh and the iris to DEFAULT's cost, and no longer
dlib's 68 points):

{table(list(ms), [[f"{v:.1f}" for v in ms.values()]])}
EyesOpen / MouthOpen from the mesh (aspect ratios, models/mesh.py) against the 68-point verdicts
they replace, on the same images (balanced: the mean of the open and closed agreements). There is no
human ground truth here; dlib's rule (EAR 0.21) calls ~15% of these LFW faces closed, mostly open
eyes that squint or are small, so the mesh's eye threshold in faces.py comes from LFW eye crops
checked by eye (docs/faces.md), not from this table; the mouth threshold is the best agreement:

{open_text}
Face verification with MobileFaceNet aligned on each set of 5 points (dlib's ResNet keeps its own
5-point chip; fused weights {w:g}/{1 - w:g} as {FUSED}); devtrain accuracies are 10-fold
cross-validated over its 2,200 pairs, View 2 the official protocol (every pair counted):

{table(["set", "MobileFaceNet aligned on", "model", "accuracy", "errors", "TAR@FAR=1e-3"], acc_rows)}
The same embeddings over every pair of the {len(dev_paths)} devtrain images (genuine: same identity):

{table(["MobileFaceNet aligned on", "model", "genuine pairs", "impostor pairs", "TAR@FAR=1e-3", "TAR@1e-4",
        "TAR@1e-5"], ava_rows)}"""
    print(md)
    print(f"best balanced thresholds: EAR {ear_t} MAR {mar_t}", file=sys.stderr)
    if not args.limit:
        write_section("landmarks", md)


if __name__ == "__main__":
    main()
