"""DetectText and DetectLabels accuracy and speed on the shared real data.

    python bench/text_labels.py [--only text|labels] [--limit N]

Text: ClearSight (PP-OCRv6 through rapidocr) against Tesseract (Debian's tesseract-ocr, run as
``tesseract IMAGE stdout tsv`` in a subprocess: the plain output plus word boxes) on the same
images in the same run. Character error rate (CER, edit distance / reference characters) and
word recall (share of the reference words found, as a multiset) per set:
- tesseract: phototest (+ its 3 rotated copies) and eurotext, exact page text, whitespace
  normalised, reading order as produced;
- ICDAR 2015 and SROIE: each reference box (a word for ICDAR, a line for SROIE) is compared with
  the words whose centre falls inside it (left to right), so reading order does not matter;
  ICDAR's "###" boxes are skipped; comparisons are case-insensitive;
- word crops (mmocr + clova): the crop's text; Tesseract gets ``--psm 7`` (one text line) there.
Labels: the 128 COCO val2017 images; image-level precision/recall of the 80 COCO classes at
MinConfidence thresholds, per class at the default (55); box AP@0.5 for Person, Car, Dog, Cat
and over all classes; time per image.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, machine, table, write_section

sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("CLEARSIGHT_DATA", ROOT.parent / "shared" / "data"))
OCR = DATA / "ocr"

Word = tuple[str, float, float]  # text, centre x, centre y (pixels)


# --- metrics ----------------------------------------------------------------------------------------
def edits(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def recall_count(ref: list[str], got: list[str]) -> int:
    return sum((collections.Counter(ref) & collections.Counter(got)).values())


def norm(text: str) -> str:
    return " ".join(text.split())


class Score:
    def __init__(self) -> None:
        self.errors = self.chars = self.found = self.words = 0
        self.seconds: list[float] = []

    def add(self, ref: str, got: str, ref_words: list[str], got_words: list[str], seconds: float) -> None:
        self.errors += edits(ref, got)
        self.chars += len(ref)
        self.found += recall_count(ref_words, got_words)
        self.words += len(ref_words)
        self.seconds.append(seconds)

    def row(self) -> list[object]:
        return [f"{100 * self.errors / max(1, self.chars):.1f}%", f"{100 * self.found / max(1, self.words):.1f}%",
                f"{1000 * float(np.mean(self.seconds)):.0f}"]


# --- the two readers --------------------------------------------------------------------------------
def ours(reader: Any, rgb: np.ndarray) -> tuple[str, list[Word], float]:
    t = time.perf_counter()
    lines = reader.read(rgb)
    seconds = time.perf_counter() - t
    words = [(w.text, *w.quad.mean(axis=0)) for line in lines for w in line.words]
    return "\n".join(line.text for line in lines), words, seconds


def tesseract(path: Path, psm: int | None = None) -> tuple[str, list[Word], float]:
    cmd = ["tesseract", str(path), "stdout", *(["--psm", str(psm)] if psm else []), "tsv"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t
    lines: dict[tuple[str, ...], list[str]] = {}
    words: list[Word] = []
    for row in proc.stdout.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        left, top, width, height = (float(c) for c in cols[6:10])
        words.append((cols[11].strip(), left + width / 2, top + height / 2))
        lines.setdefault(tuple(cols[1:5]), []).append(cols[11].strip())
    return "\n".join(" ".join(ws) for ws in lines.values()), words, seconds


def rgb_of(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


# --- text sets --------------------------------------------------------------------------------------
def page_set(reader: Any, names: list[tuple[str, str]]) -> tuple[Score, Score]:
    mine, theirs = Score(), Score()
    for image, truth in names:
        path = OCR / "tesseract" / image
        ref = norm((OCR / "tesseract" / truth).read_text())
        for score, (text, _, seconds) in ((mine, ours(reader, rgb_of(path))), (theirs, tesseract(path))):
            score.add(ref, norm(text), ref.split(), norm(text).split(), seconds)
    return mine, theirs


def inside(quad: np.ndarray, x: float, y: float) -> bool:
    import cv2

    return cv2.pointPolygonTest(quad.astype(np.float32), (float(x), float(y)), False) >= 0


def boxed_set(reader: Any, items: list[tuple[Path, list[tuple[np.ndarray, str]]]]) -> tuple[Score, Score]:
    """Reference boxes with text: compare each with the words whose centre is inside it."""
    mine, theirs = Score(), Score()
    for path, refs in items:
        for score, (_, words, seconds) in ((mine, ours(reader, rgb_of(path))), (theirs, tesseract(path))):
            errors = chars = found = total = 0
            for quad, ref in refs:
                got = sorted((w for w in words if inside(quad, w[1], w[2])), key=lambda w: w[1])
                text = " ".join(w[0] for w in got).lower()
                errors += edits(ref.lower(), text)
                chars += len(ref)
                total += len(ref.split())
                found += recall_count(ref.lower().split(), text.split())
            score.errors += errors
            score.chars += chars
            score.found += found
            score.words += total
            score.seconds.append(seconds)
    return mine, theirs


def icdar_items(limit: int | None) -> list[tuple[Path, list[tuple[np.ndarray, str]]]]:
    items = []
    for gt in sorted((OCR / "mmocr" / "icdar2015_gt" / "test").glob("gt_img_*.txt"))[:limit]:
        refs = []
        for row in gt.read_text(encoding="utf-8-sig").splitlines():
            parts = row.split(",", 8)
            if len(parts) == 9 and parts[8].strip() != "###":
                refs.append((np.array([float(v) for v in parts[:8]]).reshape(4, 2), parts[8].strip()))
        items.append((OCR / "mmocr" / "icdar2015_images" / gt.name.replace("gt_", "").replace(".txt", ".jpg"), refs))
    return items


def sroie_items(limit: int | None) -> list[tuple[Path, list[tuple[np.ndarray, str]]]]:
    items = []
    for box in sorted((OCR / "sroie" / "box").glob("*.csv"))[:limit]:
        refs = []
        for row in box.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = row.split(",", 8)
            if len(parts) == 9 and parts[8].strip():
                refs.append((np.array([float(v) for v in parts[:8]]).reshape(4, 2), parts[8].strip()))
        items.append((OCR / "sroie" / "img" / (box.stem + ".jpg"), refs))
    return items


def crops_set(reader: Any) -> tuple[Score, Score, int, int, int]:
    crops = [(OCR / "mmocr" / "word_crops" / "imgs" / d["img_path"], d["instances"][0]["text"])
             for d in json.loads((OCR / "mmocr" / "word_crops" / "labels.json").read_text())["data_list"]]
    crops += [(OCR / "clova" / name, text) for name, text in (("demo_2.jpg", "SHAKESHACK"), ("demo_9.jpg", "BALLYS"))]
    mine, theirs = Score(), Score()
    exact = [0, 0]
    for path, ref in crops:
        readings = ((mine, ours(reader, rgb_of(path))), (theirs, tesseract(path, 7)))
        for k, (score, (text, _, seconds)) in enumerate(readings):
            got = "".join(text.split()).lower()
            score.add(ref.lower(), got, [ref.lower()], [got], seconds)
            exact[k] += got == ref.lower()
    return mine, theirs, exact[0], exact[1], len(crops)


def bench_text(limit: int | None) -> str:
    from clearsight import Engine

    if shutil.which("tesseract") is None:
        sys.exit("tesseract is not installed: apt-get install -y tesseract-ocr")
    version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    reader = Engine().text
    reader.read(rgb_of(OCR / "tesseract" / "phototest.tif"))  # warm-up
    rows = []
    pages = [("phototest.tif", "phototest.txt"), ("eurotext.tif", "eurotext.txt")]
    rotated = [(f"phototest-rotated-{k}.png", "phototest.txt") for k in ("L", "R", "180")]
    for name, (mine, theirs), count in (
        ("tesseract pages (phototest, eurotext)", page_set(reader, pages), 2),
        ("phototest rotated 90/270/180", page_set(reader, rotated), 3),
        ("ICDAR 2015 scene text (words)", boxed_set(reader, icdar_items(limit)), len(icdar_items(limit))),
        ("SROIE receipts (lines)", boxed_set(reader, sroie_items(limit)), len(sroie_items(limit))),
    ):
        rows.append([name, count, *mine.row(), *theirs.row()])
        print(rows[-1], flush=True)
    mine, theirs, exact_mine, exact_theirs, n = crops_set(reader)
    rows.append(["word crops (mmocr + clova), exact", n, *mine.row()[:1], f"{exact_mine}/{n}", mine.row()[2],
                 *theirs.row()[:1], f"{exact_theirs}/{n}", theirs.row()[2]])
    print(rows[-1], flush=True)
    header = ["set", "images", "CER ours", "word recall ours", "ms/image ours",
              "CER Tesseract", "word recall Tesseract", "ms/image Tesseract"]
    return (f"## DetectText: accuracy against Tesseract\n\nMachine: {machine()}. Script: `bench/text_labels.py "
            f"--only text`. Ours: PP-OCRv6 small det/rec + cls (rapidocr 3.10.0) with our rotation handling, "
            f"2 threads; Tesseract: `{version}` (eng), `tesseract IMAGE stdout tsv` per image in a subprocess "
            "(process start included), `--psm 7` on word crops. CER = edit distance / reference characters "
            "(lower is better); word recall = share of reference words read exactly. Boxed sets compare each "
            "reference box with the words whose centre falls inside it, case-insensitively.\n\n"
            + table(header, rows))


# --- labels ------------------------------------------------------------------------------------------
def average_precision(scored: list[tuple[float, bool]], positives: int) -> float:
    if positives == 0:
        return float("nan")
    scored.sort(key=lambda s: -s[0])
    hits = np.cumsum([tp for _, tp in scored]) if scored else np.zeros(0)
    precision = hits / np.arange(1, len(scored) + 1) if scored else np.zeros(0)
    recall = hits / positives
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def bench_labels(limit: int | None) -> str:
    from clearsight import Engine
    from clearsight.label_taxonomy import COCO_LABELS, COCO_NAMES

    truth = json.loads((DATA / "coco" / "labels.json").read_text())
    names = sorted(truth)[:limit]
    to_label = dict(zip(COCO_NAMES, COCO_LABELS))
    analyzer = Engine().labels
    analyzer.analyze(rgb_of(DATA / "coco" / "images" / names[0]))  # warm-up
    results, seconds = {}, []
    for name in names:
        rgb = rgb_of(DATA / "coco" / "images" / name)
        t = time.perf_counter()
        results[name] = analyzer.analyze(rgb)
        seconds.append(time.perf_counter() - t)
    coco = set(COCO_LABELS)
    gt_labels = {n: {to_label[x] for x in truth[n]["object_labels"]} for n in names}

    def predicted(n: str, threshold: float, detector_only: bool) -> set[str]:
        instances, labels = results[n]
        if detector_only:
            return {i.name for i in instances if i.confidence >= threshold}
        return {k for k, (c, _) in labels.items() if k in coco and c >= threshold}

    rows = []
    for threshold in (30.0, 45.0, 55.0, 70.0, 85.0):
        for detector_only in (True, False):
            tp = fp = fn = 0
            for n in names:
                got, want = predicted(n, threshold, detector_only), gt_labels[n]
                tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
            rows.append([f"{threshold:g}", "detector" if detector_only else "detector + classifier",
                         f"{100 * tp / max(1, tp + fp):.1f}%", f"{100 * tp / max(1, tp + fn):.1f}%", tp, fp, fn])
    micro = table(["MinConfidence", "models", "precision", "recall", "TP", "FP", "FN"], rows)
    per_class = []
    counts = collections.Counter(lbl for n in names for lbl in gt_labels[n])
    for label, count in counts.most_common():
        if count < 3:
            continue
        got = {n for n in names if label in predicted(n, 55.0, False)}
        want = {n for n in names if label in gt_labels[n]}
        per_class.append([label, count, f"{100 * len(got & want) / max(1, len(got)):.0f}%" if got else "-",
                          f"{100 * len(got & want) / len(want):.0f}%"])
    ap_rows = []
    aps, boxes = [], 0
    for coco_name, label in zip(COCO_NAMES, COCO_LABELS):
        scored, positives = [], 0
        for n in names:
            gts = [np.array(o["box_xywh_px"]) for o in truth[n]["objects"] if o["label"] == coco_name]
            gts = [np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]]) for b in gts]
            positives += len(gts)
            used = [False] * len(gts)
            for inst in sorted((i for i in results[n][0] if i.name == label), key=lambda i: -i.confidence):
                best, j = max(((iou(inst.box, g), k) for k, g in enumerate(gts)), default=(0.0, -1))
                hit = best >= 0.5 and not used[j]
                if hit:
                    used[j] = True
                scored.append((inst.confidence, hit))
        boxes += positives
        if positives:
            ap = average_precision(scored, positives)
            aps.append(ap)
            if label in ("Person", "Car", "Dog", "Cat", "Bus", "Truck", "Bird", "Horse"):
                ap_rows.append([label, positives, f"{100 * ap:.1f}"])
    ap_rows.append([f"mean over the {len(aps)} classes present", boxes, f"{100 * np.mean(aps):.1f}"])
    scene_rows = []
    panoptic = [n for n in names if "panoptic_stuff" in truth[n]]
    for label, stuff in (("Water", {"sea", "river", "water-other"}), ("Landscape", {"mountain-merged"})):
        want = {n for n in panoptic if set(truth[n]["panoptic_stuff"]) & stuff}
        got = {n for n in panoptic if results[n][1].get(label, (0.0, ()))[0] >= 55.0}
        scene_rows.append([label, ", ".join(sorted(stuff)), len(want), len(got & want), len(got - want)])
    ms = 1000 * float(np.mean(seconds))
    return (f"## DetectLabels: COCO val2017 (first {len(names)} images)\n\nMachine: {machine()}. Script: "
            "`bench/text_labels.py --only labels`. Detector: MobileNetV3 CenterNet (COCO-80) at 512x512; "
            "classifier: EfficientNet-Lite0 (ImageNet-1k) at 224x224; both ONNX on onnxruntime, 2 threads. "
            f"Time per image (decode excluded, both models, no IMAGE_PROPERTIES): {ms:.0f} ms "
            f"(median {1000 * float(np.median(seconds)):.0f} ms).\n\n"
            "Image-level labels, the 80 COCO classes only (a label counts when its Confidence is at least "
            "MinConfidence; the classifier adds Dog, Cat, Bird... from ImageNet classes):\n\n" + micro
            + "\nPer class at the default MinConfidence 55 (classes in at least 3 images):\n\n"
            + table(["label", "images", "precision", "recall"], per_class)
            + "\nBox AP@0.5 (VOC all-point interpolation, detector instances of every confidence):\n\n"
            + table(["label", "boxes", "AP@0.5"], ap_rows)
            + f"\nScenes against COCO's panoptic stuff labels ({len(panoptic)} images have them), "
            "at MinConfidence 55:\n\n"
            + table(["label", "stuff labels that mean it", "images with them", "found", "false"], scene_rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["text", "labels"])
    parser.add_argument("--limit", type=int, help="at most N images per set (quick runs; not written to docs)")
    args = parser.parse_args()
    if args.only in (None, "text"):
        section = bench_text(args.limit)
        print(section)
        if args.limit is None:
            write_section("text", section)
    if args.only in (None, "labels"):
        section = bench_labels(args.limit)
        print(section)
        if args.limit is None:
            write_section("labels", section)


if __name__ == "__main__":
    main()
