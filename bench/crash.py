"""Crash safety: kill -9 the server in the middle of IndexFaces load, restart it, and check that
every face whose IndexFaces call was answered is still listed and searchable, and that the
audit chain verifies.

Each round: ``--clients`` boto3 threads index distinct LFW photos; after a random 4-10 s the
server gets SIGKILL; it is restarted on the same data directory; then every acknowledged face
must appear in ListFaces and come back from SearchFacesByImage with its own photo, and
`clearsight audit verify` must pass. Prints a table and writes it into docs/benchmarks.md
(section "Crash safety (kill -9)").

    python bench/crash.py [--rounds 5] [--clients 6] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, table, write_section
from soak import DATA, client, start_server

COLLECTION = "crash"


def index_until_killed(url: str, key: dict[str, str], photos: list[Path], clients: int,
                       stop: threading.Event) -> tuple[dict[str, Path], int]:
    """Client threads index photos until the server dies: ({acknowledged FaceId: photo}, requests sent)."""
    acked: dict[str, Path] = {}
    sent = [0]
    lock = threading.Lock()
    queue = list(photos)

    def worker() -> None:
        rk = client(url, key)
        while not stop.is_set():
            with lock:
                if not queue:
                    return
                photo = queue.pop()
                sent[0] += 1
            try:
                out = rk.index_faces(CollectionId=COLLECTION, Image={"Bytes": photo.read_bytes()}, MaxFaces=1,
                                     ExternalImageId=photo.stem)
            except Exception:  # the server was killed under this request: not acknowledged
                continue
            with lock:
                for r in out["FaceRecords"]:
                    acked[r["Face"]["FaceId"]] = photo

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    return acked, sent[0]


def listed(rk: Any) -> set[str]:
    ids: set[str] = set()
    kwargs: dict[str, Any] = {"CollectionId": COLLECTION, "MaxResults": 4096}
    while True:
        page = rk.list_faces(**kwargs)
        ids |= {f["FaceId"] for f in page["Faces"]}
        if "NextToken" not in page:
            return ids
        kwargs["NextToken"] = page["NextToken"]


def searchable(rk: Any, face_id: str, photo: Path) -> bool:
    out = rk.search_faces_by_image(CollectionId=COLLECTION, Image={"Bytes": photo.read_bytes()}, MaxFaces=20,
                                   FaceMatchThreshold=95)
    return face_id in {m["Face"]["FaceId"] for m in out["FaceMatches"]}


def audit_verify(data_dir: Path) -> bool:
    out = subprocess.run([sys.executable, "-m", "clearsight.cli", "audit", "verify", "--data-dir", str(data_dir)],
                         capture_output=True, text=True, timeout=300)
    return out.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--min-seconds", type=float, default=4.0, help="shortest load before the kill")
    parser.add_argument("--max-seconds", type=float, default=10.0, help="longest load before the kill")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rnd = random.Random(11)
    people = sorted((DATA / "lfw" / "images").glob("*/*_0001.jpg"))
    rnd.shuffle(people)
    per_round = 400  # more than a round can index before the kill
    rows: list[list[object]] = []
    with TemporaryDirectory(prefix="clearsight-crash-") as tmp:
        data_dir = Path(tmp)
        proc, url, key = start_server(data_dir, args.workers)
        client(url, key).create_collection(CollectionId=COLLECTION)
        all_acked: dict[str, Path] = {}
        try:
            for n in range(1, args.rounds + 1):
                photos = people[(n - 1) * per_round : n * per_round]
                stop = threading.Event()
                delay = rnd.uniform(args.min_seconds, args.max_seconds)
                killer = threading.Timer(delay, lambda p=proc, s=stop: (os.kill(p.pid, signal.SIGKILL), s.set()))
                killer.start()
                acked, sent = index_until_killed(url, key, photos, args.clients, stop)
                killer.join()
                proc.wait(timeout=30)
                all_acked.update(acked)
                proc, url, key = start_server(data_dir, args.workers)  # same data dir; a fresh key each time
                rk = client(url, key)
                present = listed(rk)
                lost = [f for f in acked if f not in present]
                unsearchable = [f for f, p in acked.items() if f in present and not searchable(rk, f, p)]
                earlier_lost = sum(f not in present for f in all_acked)
                extra = len(present) - len(all_acked) + earlier_lost  # committed, but the answer never arrived
                ok = audit_verify(data_dir)
                rows.append([n, f"{delay:.1f}", sent, len(acked), len(lost), len(unsearchable), extra, len(present),
                             "ok" if ok else "FAILED"])
                print(rows[-1], flush=True)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    lost_total = sum(int(r[4]) + int(r[5]) for r in rows)
    text = (f"## Crash safety (kill -9)\n\nMachine: {machine()} (shared). Script: `bench/crash.py` "
            f"(`--rounds {args.rounds} --clients {args.clients}`). Each round, {args.clients} boto3 clients index "
            f"distinct LFW photos (MaxFaces=1) into one collection; the server gets SIGKILL after the given "
            f"time, is restarted on the same data directory, and then every face whose IndexFaces call was "
            f"answered must be in ListFaces and be found by SearchFacesByImage with its own photo "
            f"(threshold 95), and `clearsight audit verify` must pass. \"In flight, kept\" counts faces that "
            f"were committed although the client never got the answer (the kill hit between commit and "
            f"response); they are listed, which is allowed. Acknowledged faces lost in total: {lost_total}.\n\n"
            + table(["round", "kill after s", "requests sent", "acknowledged", "lost", "not searchable",
                     "in flight, kept", "faces listed", "audit verify"], rows))
    print(text)
    if not args.no_write:
        write_section("crash", text)


if __name__ == "__main__":
    main()
