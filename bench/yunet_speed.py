"""One YuNet pass: libfacedetection (the yuface wheel, through ctypes) against ClearSight's ONNX
transcription of it (models/prepare/yunet.py) on onnxruntime, one thread, the two calls alternated
on the same images, median of --runs. Process CPU time beside wall time: on a shared machine the
wall time also counts other jobs.

    python bench/yunet_speed.py [--runs 25] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("CLEARSIGHT_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import cv2
import numpy as np

from _report import machine, table, write_section
from soak import DATA


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from clearsight.models import detector
    from clearsight.models.loader import ModelLoader
    from clearsight.models.prepare.yunet import libfacedetection_detect
    from clearsight.settings import Settings

    session = ModelLoader.from_settings(Settings.load()).get("yunet", detector.YuNetDetector).session
    faces = DATA / "faces"
    t1 = cv2.imread(str(faces / "insightface" / "t1.jpg"))
    images = {"obama-480p.jpg resized to 640x480": cv2.resize(
                  cv2.imread(str(faces / "face_recognition" / "obama-480p.jpg")), (640, 480)),
              "t1.jpg at 640 px (640x443)": cv2.resize(t1, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
              "t1.jpg at full size (1280x886)": t1}
    paths = {"libfacedetection": libfacedetection_detect,
             "ONNX": lambda bgr: detector._raw_detect(session, bgr)}
    rows = []
    load = os.getloadavg()[0]
    for label, img in images.items():
        img = np.ascontiguousarray(img)
        wall: dict[str, list[float]] = {p: [] for p in paths}
        cpu: dict[str, list[float]] = {p: [] for p in paths}
        for run in range(args.runs + 3):
            for name, fn in paths.items():
                w0, c0 = time.perf_counter(), time.process_time()
                fn(img)
                if run >= 3:  # warm-up
                    wall[name].append(time.perf_counter() - w0)
                    cpu[name].append(time.process_time() - c0)
        med = {k: {p: 1000 * float(np.median(v[p])) for p in paths} for k, v in (("wall", wall), ("cpu", cpu))}
        rows.append([label, *(f"{med['cpu'][p]:.1f} ({med['wall'][p]:.1f})" for p in paths),
                     f"{med['cpu']['libfacedetection'] / med['cpu']['ONNX']:.1f}x"])
    text = (f"## YuNet: libfacedetection and its ONNX transcription\n\nMachine: {machine()}; load average "
            f"{load:.1f} (1 min) at the start. Script: `bench/yunet_speed.py`. One YuNet pass (network, decoding "
            f"and NMS), one thread, the two alternated, median of {args.runs} runs; process CPU ms (wall ms). "
            "The same detections on both paths (tests/models/test_yunet.py).\n\n"
            + table(["image", "libfacedetection (yuface 2023.5.1)", "ONNX on onnxruntime", "CPU ratio"], rows))
    print(text)
    if not args.no_write:
        write_section("yunet_speed", text)


if __name__ == "__main__":
    main()
