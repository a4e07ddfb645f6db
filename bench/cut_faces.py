"""Faces cut by the frame edge: are they found, and do they match as well as whole faces?

Every genuine pair of LFW pairsDevTrain (the calibration's own split): the first image is cut
between its image-left eye and the nose (the columns left of that line removed), so one eye and
the nose stay in the frame, as for a person half out of the picture. The cut image goes through
the full pipeline (detection, with the mirrored-border retry of faces at the edge, and the
default face model); its face is compared with the second image, whole. Impostors: each cut face
against the second image of every pair of another person. Also: how many cut faces the
QualityFilter rule (quality.cut_by_frame) flags, and how many faces it flags in the shared photo
sets (COCO, faces/), where whole faces should not be flagged.

    python bench/cut_faces.py [--pairs N]

Writes the "cut_faces" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, machine, table, write_section

sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("CLEARSIGHT_DATA", ROOT.parent / "shared" / "data"))
THRESHOLDS = (80.0, 90.0, 99.0)


def main() -> None:
    from clearsight import Engine, geometry, quality
    from clearsight.errors import ClearSightError
    from clearsight.evaluation.lfw import centred_face, read_pairs
    from clearsight.faces import Face

    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=0, help="first N genuine pairs only (0: all)")
    args = ap.parse_args()
    lfw = DATA / "lfw"
    if not (lfw / "pairsDevTrain.txt").exists():
        sys.exit(f"LFW is missing under {DATA} (set CLEARSIGHT_DATA)")
    engine = Engine()
    faces = engine.faces
    pairs = [p for p in read_pairs(lfw / "pairsDevTrain.txt") if p.same]
    pairs = pairs[:args.pairs] if args.pairs else pairs

    def flagged(face: Face, w: int, h: int) -> bool:
        return quality.cut_by_frame(geometry.landmarks(face.points, w, h), w, h)

    t = time.perf_counter()
    whole_sims, cut_sims, flags = [], [], []
    cut_faces: list[Face] = []
    second: list[Face] = []
    people: list[str] = []
    missed = 0
    for p in pairs:
        a, b = engine.decode(lfw / p.first).rgb, engine.decode(lfw / p.second).rgb
        fa, _ = centred_face(faces, a)
        fb, _ = centred_face(faces, b)
        faces.embed(a, [fa])
        faces.embed(b, [fb])
        x = int((fa.points[0, 0] + fa.points[2, 0]) / 2)  # between the image-left eye and the nose
        part = np.ascontiguousarray(a[:, x:])
        h, w = part.shape[:2]
        box = geometry.clip_box(fa.box - np.array([x, 0, x, 0], np.float32), w, h)

        def overlap(f: Face, w: int = w, h: int = h, box: np.ndarray = box) -> float:
            return geometry.iou(geometry.clip_box(f.box, w, h), box)

        found = [f for f in faces.detect(part) if overlap(f) >= 0.3]
        if not found:
            missed += 1
            continue
        fc = max(found, key=overlap)
        faces.embed(part, [fc])
        whole_sims.append(float(engine.similarities(fa, [fb])[0]))
        cut_sims.append(float(engine.similarities(fc, [fb])[0]))
        flags.append(flagged(fc, w, h))
        cut_faces.append(fc)
        second.append(fb)
        people.append(p.first.split("/")[1])
    elapsed = time.perf_counter() - t
    whole, cut, flag = np.array(whole_sims), np.array(cut_sims), np.array(flags)
    impostors = 0
    above = dict.fromkeys(THRESHOLDS, 0)
    for i, fc in enumerate(cut_faces):
        others = [second[j] for j in range(len(second)) if people[j] != people[i]]
        sims = np.asarray(engine.similarities(fc, others), float)
        impostors += len(sims)
        for th in THRESHOLDS:
            above[th] += int((sims >= th).sum())
    photo_faces, photo_flagged = 0, []
    for path in sorted((DATA / "coco" / "images").glob("*.jpg")) + sorted((DATA / "faces").rglob("*.jpg")):
        try:
            img = engine.decode(path)
        except ClearSightError:  # a damaged sample photo (the shared set has one) is skipped
            continue
        for f in faces.detect(img.rgb):
            photo_faces += 1
            if flagged(f, img.width, img.height):
                photo_flagged.append(str(path.relative_to(DATA)))

    rows = [[f"{th:g}", f"{100 * (whole >= th).mean():.1f}%", f"{100 * (cut >= th).mean():.1f}%",
             f"{100 * (cut[flag] >= th).mean():.1f}%" if flag.any() else "-",
             f"{100 * (cut[~flag] >= th).mean():.1f}%" if (~flag).any() else "-",
             f"{above[th]} ({above[th] / max(1, impostors):.1e})"] for th in THRESHOLDS]
    md = (f"## Faces cut by the frame edge\n\n`bench/cut_faces.py` on {machine()}, the default face model "
          f"({engine.model_version}). The {len(pairs)} genuine pairs of LFW pairsDevTrain: the first image cut "
          "between its image-left eye and the nose (one eye and the nose stay in the frame), through the full "
          f"pipeline; its face against the second image, whole. Cut face found in {len(cut)}/{len(pairs)} "
          f"({missed} not found); {int(flag.sum())} of those found are flagged by QualityFilter's rule (an eye "
          "or the nose within 0.2 eye distances of the frame edge: LOW_FACE_QUALITY from AUTO up). "
          f"Impostors: each cut face against the second image of every other person's pair ({impostors:,} "
          f"comparisons). {elapsed:.0f} s.\n\n"
          + table(["Similarity", "genuine pairs reaching it, whole", "cut", "cut, flagged", "cut, not flagged",
                   "impostors reaching it (FMR)"], rows)
          + f"\nThe same rule on the shared photo sets (COCO val2017 and faces/, {photo_faces} detected faces): "
            f"{len(photo_flagged)} flagged"
          + (f" ({', '.join(f'`{p}`' for p in sorted(set(photo_flagged)))}: faces at the frame edge)" if photo_flagged
             else "") + ".\n")
    print(md)
    write_section("cut_faces", md)


if __name__ == "__main__":
    main()
