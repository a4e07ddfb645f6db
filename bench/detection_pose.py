"""Face detection by pose and size: recall per yaw bin and per face size on
tests/data/face_boxes.json (97 faces verified by eye on 20 COCO photos, the insightface pose
photos and the deepface selfie), for ClearSight's detector and dlib's HOG detector.

    python bench/detection_pose.py

dlib's HOG is called as face_recognition 1.3.0's face_locations calls it
(``dlib.get_frontal_face_detector()(rgb, 1)``: one 2x upsampling), from the dlib the project
already has, so out/peer is not needed. Prints the tables and writes them to docs/benchmarks.md.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, machine, table, write_section

sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("CLEARSIGHT_DATA", ROOT.parent / "shared" / "data"))
BOXES = ROOT / "tests" / "data" / "face_boxes.json"


def hog_detector() -> Callable[[Path], list[np.ndarray]]:
    import dlib

    from clearsight.images import decode

    hog = dlib.get_frontal_face_detector()

    def detect(path: Path) -> list[np.ndarray]:  # the same decoded (EXIF-oriented) pixels as ours
        rgb = np.ascontiguousarray(decode(path).rgb)
        return [np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], float) for r in hog(rgb, 1)]

    return detect


def main() -> None:
    from clearsight import Engine
    from clearsight.evaluation import detection as d

    truth = d.face_boxes(BOXES)
    engine = Engine()

    def ours(path: Path) -> list[np.ndarray]:
        return [f.box for f in engine.faces.detect(engine.decode(path).rgb)]

    systems = {"YuNet + O-Net (ClearSight)": ours, "dlib HOG (face_recognition's detector)": hog_detector()}
    results, seconds = {}, {}
    for name, fn in systems.items():
        t = time.perf_counter()
        results[name] = d.pose_size_recall(DATA, truth, fn)
        seconds[name] = time.perf_counter() - t

    def cell(r: d.Recall) -> str:
        return f"{r.found}/{r.total} ({100 * r.recall:.0f}%)" if r.total else "-"

    yaw_rows = []
    for name, r in results.items():
        yaw_rows.append([name] + [cell(r.goal(yaw=y)) for y in d.YAW_BINS]
                        + [cell(r.goal()), cell(r.recall(findable=False)), r.false_positives, f"{seconds[name]:.0f}"])
    size_rows = [[name] + [cell(r.recall(size=s)) for s in d.SIZE_BINS] for name, r in results.items()]
    size_yaw_rows = []
    for name, r in results.items():
        for y in d.YAW_BINS:
            size_yaw_rows.append([name, y] + [cell(r.recall(yaw=y, size=s)) for s in d.SIZE_BINS])
    n_faces = sum(len(im.faces) for im in truth)
    n_find = sum(f.findable for im in truth for f in im.faces)
    n_goal = sum(f.in_goal for im in truth for f in im.faces)
    missed = []
    for name, r in results.items():
        for o in r.missed():
            b = ", ".join(f"{v:.0f}" for v in o.face.box)
            missed.append([name, f"`{o.image}`", f"[{b}]", o.face.yaw, f"{o.face.size:.0f}",
                           f"{o.best_iou:.2f}", o.face.note or "-"])
    text = (
        f"Machine: {machine()}. Script: `bench/detection_pose.py`. Set: `tests/data/face_boxes.json`, "
        f"{len(truth)} photos (20 COCO val2017 with people, the 6 insightface pose photos, the deepface "
        f"selfie), {n_faces} faces verified by eye (from the approximate hints in `coco/face_boxes_approx`, "
        f"tightened, faces they missed added), {n_find} of them findable (both eyes, or one eye and the "
        f"nose, visible), {n_goal} findable and at least {d.GOAL_MIN_SIZE} px (the goal). A face is found "
        "by a detection with IoU >= 0.4 (one detection per face); a detection matching no labelled face "
        "and outside the ignore regions (crowds of tiny or doubtful faces) is an extra box. Yaw bins are "
        "judged by eye: frontal |yaw| < 30, three-quarter 30-60, profile > 60 degrees. Default confidence "
        "for ClearSight (0.75); dlib HOG as face_recognition 1.3.0 runs it (one upsampling).\n\n"
        "Recall on the goal's faces (findable, >= 24 px) per yaw bin; \"all faces\" counts every labelled "
        "face, findable or not, of any size:\n\n"
        + table(["detector", "frontal", "three-quarter", "profile", "goal (all yaws)", "all faces",
                 "extra boxes", "seconds"], yaw_rows)
        + "\nRecall on findable faces per size (shorter side of the labelled box, pixels of the original "
        "image; all images here are at most 1,023 px, so ClearSight's 640 px downscale shrinks only the "
        "pose photos, whose faces are large):\n\n"
        + table(["detector", *d.SIZE_BINS], size_rows)
        + "\nFindable faces by yaw and size:\n\n"
        + table(["detector", "yaw", *d.SIZE_BINS], size_yaw_rows)
        + "\nMissed goal faces (findable, >= 24 px); best IoU with any detection:\n\n"
        + (table(["detector", "image", "box", "yaw", "size px", "best IoU", "note"], missed) if missed else "none\n")
    )
    print(text)
    write_section("face_pose", "## Face detection by pose and size\n\n" + text)


if __name__ == "__main__":
    main()
