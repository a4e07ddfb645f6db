"""Face pipeline benchmark: LFW accuracy, per-image speed and detection recall, each against
the face_recognition library (dlib HOG + ResNet) in the same run, on the same images.

    python bench/face_pipeline.py [--quick]

face_recognition is installed only for this script, into out/peer (pip --no-deps --target),
never into the project's environment. Prints the tables and writes them to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, machine, table, write_section

sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("CLEARSIGHT_DATA", ROOT.parent / "shared" / "data"))
PEER = ROOT / "out" / "peer"
FAST, FUSED = "clearsight-face-fast-1", "clearsight-face-fused-1"


def ensure_peer() -> None:
    if not (PEER / "face_recognition").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(PEER),
                        "face-recognition==1.3.0"], check=True)
    sys.path.insert(0, str(PEER))


# --- peer: face_recognition's documented pipeline --------------------------------------------
def peer_boxes(path: Path) -> list[np.ndarray]:
    import face_recognition

    img = face_recognition.load_image_file(str(path))
    return [np.array([left, t, r, b], float) for t, r, b, left in face_recognition.face_locations(img)]


def peer_embed_centred(path: Path) -> np.ndarray:
    import face_recognition

    img = face_recognition.load_image_file(str(path))
    h, w = img.shape[:2]
    locs = face_recognition.face_locations(img)
    if locs:
        loc = min(locs, key=lambda b: abs((b[1] + b[3]) / 2 - w / 2) + abs((b[0] + b[2]) / 2 - h / 2))
    else:  # the same centre fallback our evaluation uses
        s = int(0.4 * min(w, h))
        loc = ((h - s) // 2, (w + s) // 2, (h + s) // 2, (w - s) // 2)
    v = face_recognition.face_encodings(img, [loc])[0]
    return np.asarray(v / np.linalg.norm(v), np.float32)


# --- accuracy ---------------------------------------------------------------------------------
def lfw_accuracy(quick: bool) -> tuple[str, dict[str, object]]:
    from clearsight import Engine
    from clearsight.evaluation import lfw
    from clearsight.models.embedders import l2_normalise

    root = DATA / "lfw"
    pairs = lfw.read_pairs(root / "pairs.txt")
    if quick:
        pairs = [p for p in pairs if p.fold < 2]
    engine = Engine(face_model=FUSED)
    cache = ROOT / "out" / f"lfw_{FUSED}.npz"
    wanted = {p.first for p in pairs} | {p.second for p in pairs}
    if cache.is_file():  # bench/embed_lfw.py ran the same pipeline (centred face, fused embedding)
        with np.load(cache) as z:  # read each array once (NpzFile re-reads on every access)
            paths, vectors, fell_back, total_s = z["paths"], z["vectors"], z["fallbacks"], float(z["seconds"])
        keep = [i for i, rel in enumerate(paths) if f"images/{rel}" in wanted]
        vecs = {f"images/{paths[i]}": vectors[i] for i in keep}
        fallbacks = int(fell_back[keep].sum())
        seconds = total_s * len(keep) / len(paths)
    else:
        t0 = time.perf_counter()
        vecs, fallbacks = lfw.embed_images(engine.faces, root, sorted(wanted))
        seconds = time.perf_counter() - t0
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    fused = np.array([float(vecs[p.first] @ vecs[p.second]) for p in pairs])
    fast_vec = {k: l2_normalise(v[:192]) for k, v in vecs.items()}
    fast = np.array([float(fast_vec[p.first] @ fast_vec[p.second]) for p in pairs])
    from clearsight.calibration import Calibration

    rows, results = [], {}
    for name, scores in ((FUSED, fused), (FAST, fast)):
        cal = Calibration.load(model=name)
        r = lfw.evaluate_scores(scores, same, folds, cal.similarity)
        results[name] = r.to_json()
        rows.append([name, f"{100 * r.accuracy:.2f} ± {100 * r.accuracy_std:.2f}",
                     f"{100 * r.tar_at_far['1e-3']:.2f}", f"{100 * r.tar_at_far['1e-4']:.2f}",
                     f"{100 * r.accuracy_at_similarity['80']:.2f}", f"{100 * r.accuracy_at_similarity['99']:.2f}",
                     f"{fallbacks}"])
        lfw.roc_png(scores, same, ROOT / "docs" / f"roc_{name}.png", f"LFW View 2, {name}")
    # the peer on the first fold (its pipeline is slow: ~1,200 images)
    ensure_peer()
    fold0 = [p for p in pairs if p.fold == 0]
    peer = {}
    t1 = time.perf_counter()
    for rel in sorted({p.first for p in fold0} | {p.second for p in fold0}):
        peer[rel] = peer_embed_centred(root / rel)
    peer_seconds = time.perf_counter() - t1
    s_peer = np.array([float(peer[p.first] @ peer[p.second]) for p in fold0])
    s0 = same[folds == 0]
    m0 = folds == 0
    fold_rows = []
    for name, sc in (("face_recognition 1.3.0 (dlib HOG + ResNet)", s_peer), (FUSED, fused[m0]), (FAST, fast[m0])):
        t = lfw.best_threshold(sc, s0)  # oracle threshold on this fold, same for every system
        fold_rows.append([name, f"{100 * np.mean((sc >= t) == s0):.2f}"])
    text = (
        f"LFW View 2 (`pairs.txt`, {len(pairs)} pairs, {len(set(folds))} folds, threshold chosen on the "
        f"other folds, every pair counted; {len(vecs)} images embedded in {seconds:.0f} s; "
        f"{fallbacks} images had no detection and used the centre fallback):\n\n"
        + table(["model", "accuracy %", "TAR@FAR=1e-3 %", "TAR@FAR=1e-4 %", "acc. at Similarity 80 %",
                 "acc. at Similarity 99 %", "no detection"], rows)
        + f"\nSame images, fold 1 only ({len(fold0)} pairs), best threshold on that fold for every "
        f"system (peer took {peer_seconds:.0f} s for {len(peer)} images):\n\n"
        + table(["system", "accuracy %"], fold_rows)
        + "\nWith 3,000 impostor pairs, TAR@FAR=1e-4 is TAR at zero false accepts (below the set's "
        "resolution); docs/accuracy.md measures small FMRs over millions of impostor pairs.\n"
    )
    return text, results


# --- speed ------------------------------------------------------------------------------------
SPEED_CODE = r"""
import json, sys, time, numpy as np
from pathlib import Path
which, path, runs = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
data = path.read_bytes()
if which == "peer":
    sys.path.insert(0, sys.argv[4])
    import io, face_recognition
    def once():
        img = face_recognition.load_image_file(io.BytesIO(data))
        locs = face_recognition.face_locations(img)
        return len(face_recognition.face_encodings(img, locs))
else:
    from clearsight import Engine
    engine = Engine(face_model=which)
    def once():
        img = engine.decode(data)
        faces = engine.faces.detect(img.rgb)
        engine.faces.embed(img.rgb, faces)
        return len(faces)
n = once()
times = []
for _ in range(runs):
    t = time.perf_counter(); once(); times.append(time.perf_counter() - t)
print(json.dumps({"faces": n, "ms": 1000 * float(np.median(times))}))
"""


def speed(images: dict[str, Path], runs: int) -> str:
    ensure_peer()
    rows = []
    for label, path in images.items():
        for threads in (1, 2):
            env = dict(os.environ, OMP_NUM_THREADS=str(threads), CLEARSIGHT_THREADS=str(threads),
                       OPENBLAS_NUM_THREADS=str(threads))
            res = {}
            for which in ("peer", FAST, FUSED):
                out = subprocess.run([sys.executable, "-c", SPEED_CODE, which, str(path), str(runs), str(PEER)],
                                     env=env, capture_output=True, text=True, check=True)
                res[which] = json.loads(out.stdout.strip().splitlines()[-1])
            p = res["peer"]["ms"]
            rows.append([label, threads, f"{p:.0f} ({res['peer']['faces']} faces)",
                         f"{res[FAST]['ms']:.0f} ({res[FAST]['faces']})", f"{p / res[FAST]['ms']:.1f}x",
                         f"{res[FUSED]['ms']:.0f} ({res[FUSED]['faces']})", f"{p / res[FUSED]['ms']:.1f}x"])
    return ("Per-image time, decode + detect + embed every face, median of "
            f"{runs} runs after a warm-up, in milliseconds (faces found):\n\n"
            + table(["image", "threads", "face_recognition", FAST, "speed-up", FUSED, "speed-up"], rows))


# --- detection recall -------------------------------------------------------------------------
def recall(quick: bool) -> str:
    from clearsight import Engine
    from clearsight.evaluation import detection

    ensure_peer()
    engine = Engine()

    def ours(path: Path) -> list[np.ndarray]:
        return [f.box for f in engine.faces.detect(engine.decode(path).rgb)]

    def peer(path: Path) -> list[np.ndarray]:
        return peer_boxes(path)

    boxes_dir = DATA / "faces" / "dlib_boxes"
    truth = detection.imglab_boxes(boxes_dir / "training.xml", boxes_dir / "testing.xml")
    cf = DATA / "faces" / "compreface"
    points = detection.nose_points(cf / "labels.json")
    lfw_imgs = sorted((DATA / "lfw" / "images").glob("*/*.jpg"))
    if quick:
        lfw_imgs = lfw_imgs[:500]
    rows = []
    for name, fn in (("YuNet + O-Net (ClearSight)", ours), ("dlib HOG (face_recognition)", peer)):
        t = time.perf_counter()
        b = detection.box_recall(boxes_dir, truth, fn)
        p = detection.point_recall(cf / "sample_images", points, fn)
        imgs = lfw_imgs if fn is ours else lfw_imgs[:2000]
        hit = 0
        for path in imgs:
            hit += any(d[0] <= 125 <= d[2] and d[1] <= 125 <= d[3] for d in fn(path))
        rows.append([name, f"{b.found}/{b.total} ({100 * b.recall:.1f}%)", b.false_positives,
                     f"{p.found}/{p.total} ({100 * p.recall:.1f}%)", p.false_positives,
                     f"{hit}/{len(imgs)} ({100 * hit / len(imgs):.2f}%)", f"{time.perf_counter() - t:.0f}"])
    return ("Detection recall at the default confidence (0.75: YuNet candidates verified by MTCNN's O-Net). "
            "dlib_boxes: hand-drawn boxes, IoU >= 0.4; "
            "CompreFace: a nose point inside a detected box; LFW: a detection containing the image "
            "centre (HOG on the first 2,000 images only, for time):\n\n"
            + table(["detector", "dlib_boxes", "extra boxes", "CompreFace points", "extra boxes",
                     "LFW centred face", "seconds"], rows))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2 LFW folds, 500 LFW images for recall")
    parser.add_argument("--only", choices=["accuracy", "speed", "recall"])
    args = parser.parse_args()
    head = (f"Machine: {machine()}. Script: `bench/face_pipeline.py --only {{part}}`"
            f"{' --quick' if args.quick else ''}.\n\n")
    if args.only in (None, "speed"):
        from PIL import Image

        one = ROOT / "out" / "obama_640x480.jpg"
        one.parent.mkdir(parents=True, exist_ok=True)
        Image.open(DATA / "faces" / "face_recognition" / "obama-480p.jpg").convert("RGB").resize((640, 480)).save(one)
        text = speed({"640x480, 1 face": one, "t1.jpg 1280x886, 6 faces": DATA / "faces" / "insightface" / "t1.jpg"},
                     runs=5 if args.quick else 15)
        print(text)
        write_section("face_speed", "## Face pipeline: speed\n\n" + head.format(part="speed") + text)
    if args.only in (None, "recall"):
        text = recall(args.quick)
        print(text)
        write_section("face_recall", "## Face detection: recall\n\n" + head.format(part="recall") + text)
    if args.only in (None, "accuracy"):
        text, results = lfw_accuracy(args.quick)
        print(text)
        write_section("face_accuracy", "## Face verification: LFW\n\n" + head.format(part="accuracy") + text)
        (ROOT / "out").mkdir(exist_ok=True)
        (ROOT / "out" / "lfw_results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
