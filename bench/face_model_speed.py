"""Face model versions side by side: per-image time (decode + detect + embed every face) and the
embed step per face, at 1 thread (and 2 with --threads 1 2), median of --runs runs after a warm-up,
interleaved rounds.

    python bench/face_model_speed.py [--runs 9] [--threads 1 2] [--models clearsight-face-mesh-1 face_recognition ...]

``--threads N``: every process gets CLEARSIGHT_THREADS = OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = N
(ClearSight's onnxruntime sessions, dlib's BLAS); each count is its own table, and a run with some
counts keeps the other counts' last tables.

``face_recognition`` is the peer: face_recognition 1.3.0's documented pipeline (load_image_file,
face_locations with HOG, face_encodings), installed only for benchmarks into out/peer (as
bench/face_pipeline.py does), run in the same interleaved rounds.

Images: obama-480p.jpg resized to 640x480 (1 face), as bench/face_pipeline.py does, and
insightface/t1.jpg (1280x886, 6 faces). Prints a markdown table and writes out/face_model_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("CLEARSIGHT_DATA", ROOT.parent / "shared" / "data"))

# the timing loop every pipeline shares: once(data) -> (faces, seconds in all, seconds embedding);
# the process CPU time of the whole call is measured around it (at 1 thread it is the wall time
# minus what other jobs on a shared machine took from us)
_LOOP = r"""
out = []
for data in images:
    n, _, _ = once(data)  # warm-up (loads the models)
    total, embed, cpu = [], [], []
    for _ in range(runs):
        c0 = time.process_time()
        _, a, b = once(data)
        cpu.append(time.process_time() - c0)
        total.append(a)
        embed.append(b)
    out.append({"faces": n, "image_ms": 1000 * float(np.median(total)),
                "embed_ms_per_face": 1000 * float(np.median(embed)) / max(1, n),
                "cpu_ms": 1000 * float(np.median(cpu))})
print(json.dumps(out))
"""

CODE = r"""
import json, sys, time
from pathlib import Path
import numpy as np
from clearsight import Engine
which, runs = sys.argv[1], int(sys.argv[2])
images = [Path(p).read_bytes() for p in sys.argv[3:]]
engine = Engine(face_model=which)
def once(data):
    t0 = time.perf_counter()
    img = engine.decode(data)
    faces = engine.faces.detect(img.rgb)
    t1 = time.perf_counter()
    engine.faces.embed(img.rgb, faces)
    t2 = time.perf_counter()
    return len(faces), t2 - t0, t2 - t1
""" + _LOOP

PEER_CODE = r"""
import io, json, sys, time
from pathlib import Path
import numpy as np
import face_recognition
runs = int(sys.argv[2])
images = [Path(p).read_bytes() for p in sys.argv[3:]]
def once(data):
    t0 = time.perf_counter()
    img = face_recognition.load_image_file(io.BytesIO(data))
    locs = face_recognition.face_locations(img)
    t1 = time.perf_counter()
    face_recognition.face_encodings(img, locs)
    t2 = time.perf_counter()
    return len(locs), t2 - t0, t2 - t1
""" + _LOOP
PEER = "face_recognition"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per model (medians of rounds)")
    parser.add_argument("--report", action="store_true", help="only re-render out/face_model_speed.json")
    parser.add_argument("--models", nargs="+", default=["clearsight-face-mesh-1", "clearsight-face-fused-2", PEER])
    parser.add_argument("--threads", type=int, nargs="+", default=[1],
                        help="thread counts to measure, each in its own rounds (e.g. --threads 1 2)")
    args = parser.parse_args()
    saved_path = ROOT / "out" / "face_model_speed.json"
    saved = _load(saved_path)
    if args.report:
        report(saved)
        return
    from PIL import Image

    one = ROOT / "out" / "obama_640x480.jpg"
    one.parent.mkdir(parents=True, exist_ok=True)
    Image.open(DATA / "faces" / "face_recognition" / "obama-480p.jpg").convert("RGB").resize((640, 480)).save(one)
    images = {"640x480, 1 face": one, "t1.jpg 1280x886, 6 faces": DATA / "faces" / "insightface" / "t1.jpg"}
    if PEER in args.models:
        sys.path.insert(0, str(ROOT / "bench"))
        from face_pipeline import PEER as PEER_DIR
        from face_pipeline import ensure_peer

        ensure_peer()
    for threads in args.threads:
        n = str(threads)
        env = dict(os.environ, CLEARSIGHT_THREADS=n, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n,
                   PYTHONPATH=str(ROOT / "src"))
        load_before = os.getloadavg()
        results: dict[str, list[list[dict[str, float]]]] = {m: [] for m in args.models}
        for _ in range(args.rounds):
            for model in args.models:
                peer = model == PEER
                code, extra = (PEER_CODE, {"PYTHONPATH": f"{PEER_DIR}:{env['PYTHONPATH']}"}) if peer else (CODE, {})
                out = subprocess.run([sys.executable, "-c", code, model, str(args.runs), *map(str, images.values())],
                                     env=dict(env, **extra), capture_output=True, text=True, check=True)
                results[model].append(json.loads(out.stdout.strip().splitlines()[-1]))
        load = f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after (1 min)"
        summary: dict[str, dict[str, dict[str, float]]] = {m: {} for m in args.models}
        for i, label in enumerate(images):
            for m in args.models:
                rounds = [r[i] for r in results[m]]
                summary[m][label] = {"faces": rounds[0]["faces"], **{
                    key: sorted(r[key] for r in rounds)[len(rounds) // 2]
                    for key in ("image_ms", "embed_ms_per_face", "cpu_ms")}}
        saved[n] = {"runs": args.runs, "rounds": args.rounds, "load": load, "results": summary}
    saved_path.write_text(json.dumps(saved, indent=1))
    report(saved)


def _load(path: Path) -> dict[str, Any]:
    """The saved runs by thread count (a file from before --threads holds one 1-thread run)."""
    if not path.is_file():
        return {}
    saved: dict[str, Any] = json.loads(path.read_text())
    return {"1": saved} if "results" in saved else saved


def report(saved: dict[str, Any]) -> None:
    """Print the tables (one per thread count) and write them to docs/benchmarks.md (section face_model_speed)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from _report import machine, write_section

    parts = ["## Face model versions and face_recognition, per photo\n\n"
             "Decode + detect + embed every face at a given thread count (`CLEARSIGHT_THREADS`, `OMP_NUM_THREADS` "
             "and `OPENBLAS_NUM_THREADS` all set to it), every model and face_recognition 1.3.0 (HOG + dlib ResNet, "
             "its documented pipeline) in the same interleaved rounds, the median of the runs after a warm-up, the "
             "median round. Written by `bench/face_model_speed.py --threads 1 2`. Wall time is what a caller waits; "
             "process CPU time (all threads) is less disturbed by other jobs on a shared machine, and at 1 thread "
             "it is the wall time an idle machine would show.\n"]
    for threads in sorted(saved, key=int):
        run = saved[threads]
        summary = run["results"]
        models = list(summary)
        labels = list(summary[models[0]])
        rows = ["| image | " + " | ".join(f"`{m}` ms/image (embed ms/face)" for m in models) + " |",
                "|---|" + "---|" * len(models)]
        for label in labels:
            cells = [summary[m][label] for m in models]
            rows.append(f"| {label} | " + " | ".join(f"{c['image_ms']:.0f} ({c['embed_ms_per_face']:.1f})"
                                                     for c in cells) + " |")
        has_cpu = all("cpu_ms" in summary[m][label] for m in models for label in labels)
        if has_cpu:
            for label in labels:
                rows.append(f"| {label}: process CPU ms | " + " | ".join(
                    f"{summary[m][label]['cpu_ms']:.0f}" for m in models) + " |")
        if PEER in summary:
            for key, what in (("image_ms", "time"), ("cpu_ms", "CPU time"))[:2 if has_cpu else 1]:
                for label in labels:
                    peer_ms = summary[PEER][label][key]
                    rows.append(f"| {label}: face_recognition's {what} / this one's | " + " | ".join(
                        f"{peer_ms / summary[m][label][key]:.2f}x" for m in models) + " |")
        title = "1 thread" if threads == "1" else f"{threads} threads"
        parts.append(f"### {title}\n\n{run['runs']} runs, {run['rounds']} interleaved rounds per model; "
                     f"{run['load']}.\n\n" + "\n".join(rows) + "\n")
    md = "\n".join(parts) + (
        f"\nMachine: {machine()}, shared with other jobs, so absolute times are inflated; the ratios within one "
        "round are the comparable figures.\n")
    print(md)
    write_section("face_model_speed", md)


if __name__ == "__main__":
    main()
