"""Live cameras: stream processors searching faces on 1, 4 and 8 concurrent 640x360 cameras (the
Hamilton clip served as live MPEG-TS over HTTP on 127.0.0.1, paced and looped), in this process
(the Engine, no HTTP server). Per configuration: frame -> record latency (p50/p99; from the frame's
arrival at the decoder, and end to end from the camera sending it), frames analysed and dropped
per stream, CPU per stream, and RSS sampled over a longer run. Writes the "streams" section of
docs/benchmarks.md.

    python bench/streams.py --seconds 60 --rss-seconds 600 --rss-streams 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
ACCOUNT = "111122223333"
OUT = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/out"


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def run(streams: int, seconds: float, work: Path, rss_every: float = 0.0) -> dict[str, Any]:
    from clearsight import Engine
    from clearsight.streams.replay import ReplayCamera

    camera = ReplayCamera(CLIP).start()
    names = [f"cam{i}" for i in range(streams)]
    kvs = {n: f"arn:aws:kinesisvideo:us-east-1:{ACCOUNT}:stream/{n}/1" for n in names}
    out = work / f"out{streams}-{int(seconds)}"
    engine = Engine(data_dir=str(work / f"data{streams}-{int(seconds)}"),
                    stream_sources=";".join(f"{kvs[n]}={camera.url(n)}" for n in names),
                    stream_sinks=f"{OUT}={out}")
    c = engine.collections
    c.create_collection(collection_id="hamilton")
    for p in PEOPLE:
        c.index_faces(collection_id="hamilton", image=(DATA / "video" / f"{p}.png").read_bytes(), external_image_id=p)
    s = engine.streams
    engine.models.warm(engine.faces.model_names)
    for n in names:
        s.create_stream_processor(input={"KinesisVideoStream": {"Arn": kvs[n]}}, output={"KinesisDataStream": {
            "Arn": OUT}}, name=n, settings={"FaceSearch": {"CollectionId": "hamilton", "FaceMatchThreshold": 80}},
            role_arn=f"arn:aws:iam::{ACCOUNT}:role/r")
        s.start_stream_processor(name=n)
    s.runner.start()
    cpu0, t0, rss = time.process_time(), time.monotonic(), [(0.0, rss_mb())]
    while time.monotonic() - t0 < seconds:
        time.sleep(min(rss_every or 5.0, seconds))
        rss.append((time.monotonic() - t0, rss_mb()))
    cpu = time.process_time() - cpu0
    stats = {n: s.runner.sessions[n].stats.to_json() if n in s.runner.sessions else {} for n in names}
    engine.close()
    camera.stop()
    inside, end_to_end, matched = [], [], 0
    for n in names:
        path = out / f"{n}.jsonl"
        for line in path.read_text().splitlines() if path.exists() else []:
            r = json.loads(line)
            cs = r["ClearSight"]
            inside.append(cs["LatencyMillis"])
            sent = camera.starts[n][0] + cs["StreamTimestampMillis"] / 1000.0
            end_to_end.append(1000 * (cs["WrittenAt"] - sent))
            matched += any(m["Face"].get("ExternalImageId") == PEOPLE[0] for f in r["FaceSearchResponse"]
                           for m in f["MatchedFaces"])
    analysed = sum(st.get("FramesAnalysed", 0) for st in stats.values())
    dropped = sum(st.get("FramesDropped", 0) for st in stats.values())
    return {"streams": streams, "seconds": seconds, "records": len(inside), "miranda_records": matched,
            "p50": pct(inside, 0.5), "p99": pct(inside, 0.99), "e2e_p50": pct(end_to_end, 0.5),
            "e2e_p99": pct(end_to_end, 0.99), "analysed_per_stream_s": analysed / streams / seconds,
            "dropped": dropped, "drop_share": dropped / max(1, analysed + dropped),
            "cpu_per_stream": cpu / seconds / streams, "rss": rss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=60.0, help="run length per stream count")
    ap.add_argument("--rss-seconds", type=float, default=600.0, help="the RSS run's length")
    ap.add_argument("--rss-streams", type=int, default=2, help="the RSS run's cameras")
    ap.add_argument("--counts", default="1,4,8")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(int(n), args.seconds, Path(tmp)) for n in args.counts.split(",")]
        soak = run(args.rss_streams, args.rss_seconds, Path(tmp), rss_every=max(5.0, args.rss_seconds / 20))
    print(json.dumps([*rows, soak], indent=1))
    md = ["## Live cameras: stream processors", "",
          f"Stream processors (`bench/streams.py --seconds {args.seconds:g} --rss-seconds {args.rss_seconds:g}`), "
          f"{machine()}, shared with other work (load average {os.getloadavg()[0]:.1f} at the end); "
          "sampling 200 ms (5 frames/s per camera), latency budget 1000 ms, "
          "face search of a 2-face collection, the engine's executor with one worker per core. Each camera is the "
          "Hamilton clip (640x360, 29.97 fps) served live over HTTP MPEG-TS from this process. Latency: from the "
          "frame's arrival at the decoder to its record written (ClearSight), and end to end from the camera sending "
          "it. CPU per stream: this process's CPU time (camera server included) / run time / streams.", "",
          table(["streams", "records", "records matching Miranda", "latency p50 ms", "p99 ms",
                 "end-to-end p50 ms", "p99 ms", "frames analysed /s /stream", "dropped", "dropped share",
                 "CPU per stream (cores)"],
                [[r["streams"], r["records"], r["miranda_records"], r["p50"], r["p99"], r["e2e_p50"], r["e2e_p99"],
                  r["analysed_per_stream_s"], r["dropped"], f"{100 * r['drop_share']:.0f}%", r["cpu_per_stream"]]
                 for r in rows]), "",
          f"RSS over a {args.rss_seconds:g} s run of {args.rss_streams} streams ({soak['records']} records, "
          f"{soak['dropped']} frames dropped; MB, sampled): "
          + ", ".join(f"{t:.0f} s: {m:.0f}" for t, m in soak["rss"])
          + f"; peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB over the whole script."]
    if not args.no_write:
        write_section("streams", "\n".join(md))


if __name__ == "__main__":
    main()
