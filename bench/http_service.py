"""HTTP service throughput: DetectFaces and SearchFacesByImage with 1, 4 and 16 concurrent
clients (a load generator in a separate process, over loopback, bounded in time) against the same
work done in-process, in the same run.

    python bench/http_service.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, machine, table, write_section

DATA = Path(os.environ.get("CLEARSIGHT_DATA", ROOT.parent / "shared" / "data"))
PHOTO = DATA / "faces" / "face_recognition" / "obama-480p.jpg"

LOAD = r"""
import json, sys, time, threading, boto3
from botocore.config import Config
url, key, secret, op, clients, seconds, photo = sys.argv[1:8]
clients, seconds = int(clients), float(seconds)
data = open(photo, "rb").read()
lat, errors, lock = [], [0], threading.Lock()
def worker():
    rk = boto3.client("rekognition", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                      aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}, max_pool_connections=4))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        try:
            if op == "DetectFaces":
                rk.detect_faces(Image={"Bytes": data})
            else:
                rk.search_faces_by_image(CollectionId="bench", Image={"Bytes": data}, FaceMatchThreshold=90)
            with lock: lat.append(time.perf_counter() - t)
        except Exception:
            with lock: errors[0] += 1
threads = [threading.Thread(target=worker) for _ in range(clients)]
start = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"n": len(lat), "errors": errors[0], "seconds": time.perf_counter() - start, "lat": lat}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def in_process(op: str, seconds: float) -> float:
    """Requests/s doing the same work in-process with 2 threads (the server's worker count)."""
    sys.path.insert(0, str(ROOT / "src"))
    from clearsight import Engine, Settings

    engine = Engine(Settings.load(data_dir=os.environ["BENCH_DATA_DIR"]))
    data = PHOTO.read_bytes()

    def call() -> None:
        if op == "DetectFaces":
            engine.detect_faces(data)
        else:
            engine.collections.search_faces_by_image(collection_id="bench", image=data, face_match_threshold=90)

    call()
    done = 0
    end = time.monotonic() + seconds
    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        while time.monotonic() < end:
            list(pool.map(lambda _: call(), range(4)))
            done += 4
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    bin_ = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BENCH_DATA_DIR"] = tmp
        key = json.loads(subprocess.run([str(bin_ / "clearsight"), "keys", "create", "--name", "bench", "--scope",
                                         "admin", "--data-dir", tmp, "--json"], capture_output=True, text=True,
                                        check=True).stdout)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(Path(tmp) / "server.log", "w")
        server = subprocess.Popen([str(bin_ / "clearsight"), "serve", "--port", str(port), "--data-dir", tmp,
                                   "--workers", "2"], stdout=log, stderr=log)
        import httpx

        for _ in range(240):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        import boto3

        rk = boto3.client("rekognition", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        rk.create_collection(CollectionId="bench")
        for p in sorted((DATA / "lfw" / "images").glob("A*/*.jpg"))[:200]:
            rk.index_faces(CollectionId="bench", Image={"Bytes": p.read_bytes()}, MaxFaces=1)
        rows = []
        for op in ("DetectFaces", "SearchFacesByImage"):
            for clients in (1, 4, 16):
                out = subprocess.run([sys.executable, "-c", LOAD, url, key["AccessKeyId"], key["SecretAccessKey"], op,
                                      str(clients), str(args.seconds), str(PHOTO)], capture_output=True, text=True,
                                     check=True)
                r = json.loads(out.stdout)
                lat = np.array(r["lat"]) * 1000
                rows.append([op, clients, f"{r['n'] / r['seconds']:.1f}", f"{np.percentile(lat, 50):.0f}",
                             f"{np.percentile(lat, 99):.0f}", r["errors"]])
        server.terminate()
        server.wait(timeout=60)
        log.close()
        base = {op: in_process(op, args.seconds) for op in ("DetectFaces", "SearchFacesByImage")}
    for row in rows:
        row.insert(3, f"{float(row[2]) / base[row[0]] * 100:.0f}%")
    text = (f"## HTTP service\n\nMachine: {machine()}. Script: `bench/http_service.py`. Server: `clearsight serve "
            f"--workers 2` (fused model); load: boto3 clients in threads of a separate process on loopback, "
            f"{args.seconds:g} s per row; probe: a 854x480 photo with one face; SearchFacesByImage over a "
            f"200-face collection. In-process baseline: the same calls on the same engine from 2 threads: "
            f"DetectFaces {base['DetectFaces']:.1f}/s, SearchFacesByImage {base['SearchFacesByImage']:.1f}/s.\n\n"
            + table(["operation", "clients", "requests/s", "of in-process", "p50 ms", "p99 ms", "errors"], rows))
    print(text)
    write_section("http", text)


if __name__ == "__main__":
    main()
