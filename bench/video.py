"""Stored video: decode speed (PyAV vs OpenCV), face search speed at 360p and 1080p (200 ms sampling),
against a face_recognition-style frame loop (dlib HOG + dlib embedding per sampled frame), in one run.

Each pipeline runs in its own process (so its peak RSS is its own). The 1080p video is the Hamilton
clip upscaled with PyAV/libx264 into a temporary folder (no 1080p source ships). Writes the "video"
section of docs/benchmarks.md.

    python bench/video.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, table, write_section

DATA = Path(os.environ.get("CLEARSIGHT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CLIP = DATA / "video" / "short_hamilton_clip.mp4"
PEOPLE = ("lin-manuel-miranda", "alex-lacamoire")
SAMPLE_MS = 200


def upscale(src: Path, dest: Path, width: int = 1920, height: int = 1080) -> Path:
    import av
    import cv2

    with av.open(str(src)) as inp, av.open(str(dest), "w") as out:
        stream = out.add_stream("libx264", rate=inp.streams.video[0].average_rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in inp.decode(video=0):
            big = cv2.resize(frame.to_ndarray(format="rgb24"), (width, height), interpolation=cv2.INTER_CUBIC)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(big, format="rgb24")))
        out.mux(stream.encode(None))
    return dest


def decode_fps(path: Path) -> dict[str, Any]:
    import av
    import cv2

    t = time.perf_counter()
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        n = sum(1 for f in c.decode(s) if f.to_ndarray(format="rgb24") is not None)
    pyav = n / (time.perf_counter() - t)
    t = time.perf_counter()
    cap = cv2.VideoCapture(str(path))
    m = 0
    while cap.read()[0]:
        m += 1
    cap.release()
    return {"frames": n, "pyav_fps": pyav, "opencv_fps": m / (time.perf_counter() - t)}


def clearsight_search(path: Path) -> dict[str, Any]:
    from clearsight.engine import Engine
    from clearsight.settings import Settings

    engine = Engine(Settings.load(data_dir=tempfile.mkdtemp(prefix="bench-video-")))
    c = engine.collections
    c.create_collection(collection_id="bench")
    for name in PEOPLE:
        c.index_faces(collection_id="bench", image=(DATA / "video" / f"{name}.png").read_bytes(),
                      external_image_id=name)
    engine.models.warm(engine.faces.model_names)
    job_id = engine.video.start_face_search(video=path, collection_id="bench")["JobId"]
    t, cpu = time.perf_counter(), time.process_time()
    engine.video.run_now(job_id)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    first = engine.video.get_face_search(job_id=job_id, max_results=1000)
    job = engine.store.job(job_id)
    assert job is not None and first["JobStatus"] == "SUCCEEDED"
    rows = engine.store.job_results(job_id, limit=1_000_000)
    result_bytes = sum(len(item) for _, _, item in rows) + len(job.summary or "") + len(job.metadata)
    tracks = first["ClearSightAppearances"]
    samples = len({ts for ts, _, _ in rows}) or 1
    duration = first["VideoMetadata"]["DurationMillis"] / 1000
    names = {m["Face"]["FaceId"]: m["Face"]["ExternalImageId"] for p in first["Persons"] for m in p["FaceMatches"]}
    found = sorted({names[t["FaceId"]] for t in tracks if "FaceId" in t})
    engine.close()
    return {"model": engine.model_version, "wall": wall, "cpu": cpu, "duration": duration,
            "samples_with_faces": samples, "tracks": len(tracks),
            "embeddings_per_track": sum(t["ComparedFaces"] for t in tracks) / max(1, len(tracks)),
            "result_bytes": result_bytes, "found": found}


def face_recognition_loop(path: Path) -> dict[str, Any]:
    """face_recognition's examples (facerec_from_video_file.py): every sampled frame, HOG detection
    (upsample 1), 68-point landmarks, dlib's ResNet descriptor per face, compared with the known faces."""
    import av
    import dlib
    import face_recognition_models as frm
    import numpy as np

    detector = dlib.get_frontal_face_detector()
    shapes = dlib.shape_predictor(frm.pose_predictor_model_location())
    resnet = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

    def encodings(rgb: np.ndarray) -> list[np.ndarray]:
        return [np.array(resnet.compute_face_descriptor(rgb, shapes(rgb, box), 1)) for box in detector(rgb, 1)]

    import cv2

    known = [encodings(cv2.cvtColor(cv2.imread(str(DATA / "video" / f"{n}.png")), cv2.COLOR_BGR2RGB))[0]
             for n in PEOPLE]
    t, cpu = time.perf_counter(), time.process_time()
    found: set[str] = set()
    faces = 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        target = 0.0
        for frame in c.decode(s):
            ms = float(frame.time or 0) * 1000
            if ms < target:
                continue
            target = (ms // SAMPLE_MS + 1) * SAMPLE_MS
            for enc in encodings(frame.to_ndarray(format="rgb24")):
                faces += 1
                dist = [float(np.linalg.norm(enc - k)) for k in known]
                if min(dist) <= 0.6:
                    found.add(PEOPLE[int(np.argmin(dist))])
            duration = ms / 1000
    return {"wall": time.perf_counter() - t, "cpu": time.process_time() - cpu, "duration": duration, "faces": faces,
            "found": sorted(found)}


def peak_rss_mb() -> float:
    """This process's peak RSS since :func:`reset_peak` (VmHWM; exec keeps the parent's ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def one(kind: str, path: Path) -> None:
    reset_peak()
    run = {"clearsight": clearsight_search, "face_recognition": face_recognition_loop}[kind]
    out = run(path)
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def child(kind: str, path: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--one", kind, str(path)], capture_output=True, text=True,
                          check=True)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", nargs=2, metavar=("KIND", "VIDEO"))
    args = ap.parse_args()
    if args.one:
        one(args.one[0], Path(args.one[1]))
        return
    if not CLIP.exists():
        sys.exit(f"the Hamilton clip is missing: {CLIP} (set CLEARSIGHT_DATA)")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        hd = upscale(CLIP, Path(tmp) / "hamilton-1080p.mp4")
        decode = {"360p": decode_fps(CLIP), "1080p": decode_fps(hd)}
        runs = {(kind, res): child(kind, path) for res, path in (("360p", CLIP), ("1080p", hd))
                for kind in ("clearsight", "face_recognition")}
    rows = []
    for (kind, res), r in runs.items():
        speed = r["duration"] / r["wall"]
        samples = r["duration"] * 1000 / SAMPLE_MS
        extra = (f"{r['tracks']} tracks, {r['embeddings_per_track']:.1f} embeddings/track, "
                 f"{r['result_bytes'] / (r['duration'] / 3600) / 1e6:.1f} MB results/video hour"
                 if kind == "clearsight" else f"{r['faces']} faces embedded")
        rows.append([kind, res, f"{speed:.2f}x", f"{r['duration'] / r['cpu']:.2f}x",
                     f"{1000 * r['wall'] / samples:.0f}", f"{r['peak_rss_mb']:.0f}",
                     ", ".join(r["found"]) or "-", extra])
    ratio = {res: runs[("face_recognition", res)]["cpu"] / runs[("clearsight", res)]["cpu"]
             for res in ("360p", "1080p")}
    decode_rows = [[res, d["frames"], f"{d['pyav_fps']:.0f}", f"{d['opencv_fps']:.0f}"] for res, d in decode.items()]
    md = (f"## Stored video: face search speed\n\n`bench/video.py` on {machine()} (load average {load:.1f} when "
          f"it started: other work shared the cores), the 10 s Hamilton clip, one frame every {SAMPLE_MS} ms, "
          f"both reference photos enrolled, the default face model ({runs[('clearsight', '360p')]['model']}); "
          "1080p is the clip upscaled. x real time = "
          "video seconds per wall-clock second of analysis (decode, detect, track, embed, search, commit).\n\n"
          "x real time per CPU second = video seconds per CPU second the analysis used (all its threads): what a "
          "core of its own would give, whatever else ran.\n\n"
          + table(["pipeline", "video", "x real time", "x real time per CPU second", "ms per sampled frame",
                   "peak RSS MB", "identified", "notes"], rows)
          + f"\nClearSight vs the face_recognition loop, in CPU seconds: {ratio['360p']:.1f}x faster at 360p, "
            f"{ratio['1080p']:.1f}x at 1080p.\n\nDecoding every frame (RGB out):\n\n"
          + table(["video", "frames", "PyAV fps", "OpenCV fps"], decode_rows))
    print(md)
    write_section("video", md)


if __name__ == "__main__":
    main()
