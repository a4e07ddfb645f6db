"""Mixed load on a real server: 32 boto3 clients for 10 minutes, with the server's RSS over time.

Starts `clearsight serve` on 127.0.0.1 (a fresh data directory and admin key), warms every
operation up once (so model loading is not counted as growth), then runs ``--clients`` client
threads for ``--seconds`` doing a weighted mix of DetectFaces, CompareFaces, IndexFaces,
SearchFacesByImage, ListFaces, DeleteFaces and, occasionally, DetectLabels and DetectText on
real photos. The server's VmRSS is sampled every ``--sample`` seconds. Prints a table and
writes it into docs/benchmarks.md (section "Mixed load, 32 clients").

    python bench/soak.py [--seconds 600] [--clients 32] [--mix DetectFaces=1,...] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, machine, table, write_section
from _server import start_server

DATA = Path(os.environ.get("CLEARSIGHT_DATA", ROOT.parent / "shared" / "data"))
MIX = {"DetectFaces": 25, "SearchFacesByImage": 20, "IndexFaces": 15, "CompareFaces": 10, "ListFaces": 12,
       "DeleteFaces": 12, "DetectLabels": 3, "DetectText": 3}
COLLECTION = "soak"


def photos() -> dict[str, list[bytes]]:
    """Real photos by use: faces (LFW and larger group/portrait photos), scenes, text."""
    lfw = sorted((DATA / "lfw" / "images").glob("*/*_0001.jpg"))
    rnd = random.Random(7)
    faces = [p.read_bytes() for p in rnd.sample(lfw, min(120, len(lfw)))]
    fr = DATA / "faces" / "face_recognition"
    big = [fr / "obama-480p.jpg", fr / "obama-720p.jpg", fr / "biden.jpg", fr / "two_people.jpg",
           DATA / "faces" / "deepface" / "couple.jpg", DATA / "faces" / "insightface" / "t1.jpg"]
    faces += [p.read_bytes() for p in big if p.exists()]
    scenes = [p.read_bytes() for p in sorted((DATA / "coco" / "images").glob("*.jpg"))[:12]]
    text = [p.read_bytes() for p in sorted((DATA / "ocr" / "mmocr" / "icdar2015_images").glob("*.jpg"))[:8]]
    return {"faces": faces, "scenes": scenes or faces[:4], "text": text or faces[:4]}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def client(url: str, key: dict[str, str]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("rekognition", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                        config=Config(retries={"max_attempts": 1}, read_timeout=120, connect_timeout=10,
                                      max_pool_connections=2))


class Load:
    """One client's operations; every call is recorded as (operation, seconds, error code or None)."""

    def __init__(self, rk: Any, images: dict[str, list[bytes]], seed: int) -> None:
        self.rk = rk
        self.images = images
        self.rnd = random.Random(seed)
        self.mine: list[str] = []  # face ids this client indexed and has not deleted yet
        self.seed = seed

    def face(self) -> bytes:
        return self.rnd.choice(self.images["faces"])

    def run(self, op: str) -> None:
        rk, c = self.rk, COLLECTION
        if op == "DetectFaces":
            rk.detect_faces(Image={"Bytes": self.face()}, Attributes=[self.rnd.choice(["DEFAULT", "ALL"])])
        elif op == "CompareFaces":
            rk.compare_faces(SourceImage={"Bytes": self.face()}, TargetImage={"Bytes": self.face()},
                             SimilarityThreshold=80)
        elif op == "IndexFaces":
            out = rk.index_faces(CollectionId=c, Image={"Bytes": self.face()}, MaxFaces=1,
                                 ExternalImageId=f"client{self.seed}")
            self.mine += [r["Face"]["FaceId"] for r in out["FaceRecords"]]
        elif op == "SearchFacesByImage":
            rk.search_faces_by_image(CollectionId=c, Image={"Bytes": self.face()}, MaxFaces=10,
                                     FaceMatchThreshold=80)
        elif op == "ListFaces":
            rk.list_faces(CollectionId=c, MaxResults=50)
        elif op == "DeleteFaces":
            if not self.mine:
                return self.run("IndexFaces")
            batch, self.mine = self.mine[:2], self.mine[2:]
            rk.delete_faces(CollectionId=c, FaceIds=batch)
        elif op == "DetectLabels":
            rk.detect_labels(Image={"Bytes": self.rnd.choice(self.images["scenes"])}, MaxLabels=10)
        elif op == "DetectText":
            rk.detect_text(Image={"Bytes": self.rnd.choice(self.images["text"])})
        else:
            raise ValueError(op)
        return None


def call(load: Load, op: str) -> tuple[str, float, str | None]:
    from botocore.exceptions import ClientError

    started = time.perf_counter()
    error: str | None = None
    try:
        load.run(op)
    except ClientError as exc:
        error = str(exc.response.get("Error", {}).get("Code", "ClientError"))
    except Exception as exc:  # connection refused/reset, timeouts: counted by type
        error = type(exc).__name__
    return op, time.perf_counter() - started, error


def sampler(pid: int, samples: list[tuple[float, float]], stop: threading.Event, every: float) -> None:
    t0 = time.monotonic()
    while not stop.is_set():
        try:
            samples.append((time.monotonic() - t0, rss_mb(pid)))
        except (OSError, RuntimeError):
            return
        stop.wait(every)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=float, default=3.0, help="seconds between RSS samples")
    parser.add_argument("--mix", default="", help="op=weight,... (default: the mixed load)")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="stop after this many requests")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    mix = {k: float(v) for k, v in (p.split("=") for p in args.mix.split(","))} if args.mix else MIX
    images = photos()
    with tempfile.TemporaryDirectory(prefix="clearsight-soak-") as tmp:
        proc, url, key = start_server(Path(tmp), args.workers)
        try:
            result = soak(proc, url, key, images, mix, args)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        log = (Path(tmp) / "server.log").read_text(errors="replace")
        result["tracebacks"] = log.count("Traceback")
    report(result, args, mix)


def soak(proc: subprocess.Popen[bytes], url: str, key: dict[str, str], images: dict[str, list[bytes]],
         mix: dict[str, float], args: argparse.Namespace) -> dict[str, Any]:
    rk = client(url, key)
    rk.create_collection(CollectionId=COLLECTION)
    for img in images["faces"][:20]:  # a standing gallery the searches can match
        rk.index_faces(CollectionId=COLLECTION, Image={"Bytes": img}, MaxFaces=1)
    warm = Load(rk, images, seed=-1)
    for op in mix:  # load every model before the measured run
        call(warm, op)
    idle_rss = rss_mb(proc.pid)
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    sampler_thread = threading.Thread(target=sampler, args=(proc.pid, samples, stop, args.sample), daemon=True)
    records: list[tuple[str, float, str | None]] = []
    lock = threading.Lock()
    end = time.monotonic() + args.seconds
    ops, weights = list(mix), list(mix.values())

    def worker(seed: int) -> None:
        load = Load(client(url, key), images, seed)
        while time.monotonic() < end:
            with lock:
                if len(records) >= args.max_requests:
                    return
            rec = call(load, load.rnd.choices(ops, weights)[0])
            with lock:
                records.append(rec)

    sampler_thread.start()
    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.clients)]
    for t in threads:
        t.start()
    last = 0.0
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        if time.monotonic() - last > 30 and samples:
            last = time.monotonic()
            print(f"  {samples[-1][0]:6.0f} s  {len(records):6d} requests  server RSS {samples[-1][1]:.0f} MB",
                  flush=True)
        if time.monotonic() > end + 300:
            break  # a stuck client must not hold the run forever
    elapsed = time.perf_counter() - started
    stop.set()
    sampler_thread.join(timeout=10)
    return {"records": records, "samples": samples, "elapsed": elapsed, "idle_rss": idle_rss,
            "final_rss": rss_mb(proc.pid)}


def rss_at_time(samples: list[tuple[float, float]], t: float) -> float:
    return min(samples, key=lambda s: abs(s[0] - t))[1]


def report(result: dict[str, Any], args: argparse.Namespace, mix: dict[str, float]) -> None:
    records, samples, elapsed = result["records"], result["samples"], result["elapsed"]
    by_op: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, Counter[str]] = defaultdict(Counter)
    for op, seconds, error in records:
        by_op[op].append(seconds)
        if error:
            errors[op][error] += 1
    rows: list[list[object]] = []
    for op in mix:
        lat = np.array(by_op.get(op) or [0.0]) * 1000
        errs = ", ".join(f"{k} {v}" for k, v in errors[op].most_common()) or "0"
        rows.append([op, len(by_op.get(op, [])), f"{len(by_op.get(op, [])) / elapsed:.2f}",
                     f"{np.percentile(lat, 50):.0f}", f"{np.percentile(lat, 99):.0f}", errs])
    total_err = sum(sum(c.values()) for c in errors.values())
    rows.append(["all", len(records), f"{len(records) / elapsed:.2f}", "", "", str(total_err)])

    def rss_at(fraction: float) -> float:
        t = fraction * samples[-1][0]
        return min(samples, key=lambda s: abs(s[0] - t))[1]

    third = [s for s in samples if s[0] >= samples[-1][0] / 3]
    slope = float(np.polyfit([s[0] for s in third], [s[1] for s in third], 1)[0]) * 60 if len(third) > 2 else 0.0
    rss_rows: list[list[object]] = [
        ["after warm-up (idle)", f"{result['idle_rss']:.0f}"], ["start of load", f"{rss_at(0.0):.0f}"],
        ["middle", f"{rss_at(0.5):.0f}"], ["end", f"{rss_at(1.0):.0f}"],
        ["peak", f"{max(s[1] for s in samples):.0f}"],
        ["trend over the last two thirds", f"{slope:+.2f} MB/min"],
    ]
    text = (f"## Mixed load, {args.clients} clients\n\nMachine: {machine()}, shared with other engineers' jobs "
            f"during the run, so throughput and latency are low and noisy; the server's memory (VmRSS, sampled "
            f"every {args.sample:g} s from /proc) is what this run is for. Script: `bench/soak.py` "
            f"(`--seconds {args.seconds:g} --clients {args.clients}`). Server: `clearsight serve --workers "
            f"{args.workers}` (fused model), fresh data directory; every operation was warmed up once before the "
            f"run. Clients: {args.clients} boto3 clients in threads of the bench process, {elapsed:.0f} s; photos: "
            f"LFW, face_recognition, deepface and insightface photos (250 px to 1280 px), COCO scenes and ICDAR "
            f"text. DeleteFaces removes faces the same client indexed, so the collection stays small. Server "
            f"tracebacks in the log: {result['tracebacks']}.\n\n"
            + table(["operation", "requests", "requests/s", "p50 ms", "p99 ms", "errors"], rows)
            + "\nServer memory:\n\n" + table(["when", "RSS MB"], rss_rows)
            + "\nRSS every minute (MB): " + ", ".join(f"{rss_at_time(samples, m * 60):.0f}"
                                                     for m in range(int(samples[-1][0] // 60) + 1)) + "\n")
    print(text)
    if not args.no_write:
        write_section("soak", text)


if __name__ == "__main__":
    main()
