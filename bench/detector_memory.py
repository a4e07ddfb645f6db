"""YuNet memory per call: the yuface wheel's ``detect``, a ctypes call of the same libfacedetection
function (the reference prepare/yunet.py checks its transcription against) and ClearSight's YuNet on
onnxruntime, each in a fresh process on the same 640 px photo, RSS every 500 calls.

    python bench/detector_memory.py [--calls 2000] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, table, write_section
from soak import DATA

LOOP = r"""
import json, sys, time
import cv2, numpy as np
which, calls, photo = sys.argv[1], int(sys.argv[2]), sys.argv[3]
img = cv2.imread(photo)
s = 640 / max(img.shape[:2])
img = np.ascontiguousarray(cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA))
if which == "yuface":
    import yuface
    detect = yuface.c_detect
elif which == "ctypes":
    from clearsight.models.prepare.yunet import libfacedetection_detect as detect
else:
    from clearsight.models import detector
    from clearsight.models.loader import ModelLoader
    from clearsight.settings import Settings
    session = ModelLoader.from_settings(Settings.load()).get("yunet", detector.YuNetDetector).session
    detect = lambda bgr: detector._raw_detect(session, bgr)
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
for _ in range(20):
    detect(img)
r0, t0, points = rss(), time.perf_counter(), []
for i in range(1, calls + 1):
    detect(img)
    if i % 500 == 0:
        points.append([i, rss()])
print(json.dumps({"start": r0, "points": points, "ms": (time.perf_counter() - t0) / calls * 1000}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    photo = DATA / "faces" / "face_recognition" / "two_people.jpg"
    rows: list[list[object]] = []
    paths = (("yuface", "yuface.detect (the wheel)"), ("ctypes", "facedetect_cnn via ctypes (until 2026-12)"),
             ("onnx", "YuNet ONNX on onnxruntime (now)"))
    for which, label in paths:
        out = subprocess.run([sys.executable, "-c", LOOP, which, str(args.calls), str(photo)], capture_output=True,
                             text=True, check=True, timeout=1800)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        end = r["points"][-1]
        per_call = (end[1] - r["start"]) * 1024 / end[0]
        rows.append([label, f"{r['start']:.1f}", *[f"{p[1]:.1f}" for p in r["points"]], f"{per_call:.1f}",
                     f"{r['ms']:.0f}"])
    counts = [str(i) for i in range(500, args.calls + 1, 500)]
    text = (f"## YuNet memory per call\n\nMachine: {machine()} (shared, so ms/call is noisy). Script: "
            f"`bench/detector_memory.py`. One process per row, {args.calls} YuNet passes on two_people.jpg at "
            f"640 px; RSS in MB after 20 warm-up calls and then every 500 calls. The wheel's pybind11 `detect` "
            f"mallocs libfacedetection's 0x9000-byte (36,864 B) result buffer on every call and never frees it; "
            f"ClearSight called `facedetect_cnn` itself with a buffer it owned (same detections, column for "
            f"column) and now runs the network transcribed to ONNX (models/prepare/yunet.py; onnxruntime's CPU "
            f"arena and memory patterns off, as for every ClearSight session).\n\n"
            + table(["path", "start", *[f"after {c}" for c in counts], "KB per call", "ms per call"], rows))
    print(text)
    if not args.no_write:
        write_section("detector-memory", text)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
