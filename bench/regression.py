"""Before/after a range of commits, in one run on one machine: the face pipeline, collections and
the HTTP service of revision BEFORE (default ab476ed, the start of the restructuring session)
against AFTER (default HEAD), each checked out in its own git worktree.

    python bench/regression.py [--quick] [--before REV] [--after REV]

Each version runs in its own subprocess (``PYTHONPATH=<worktree>/src``, this interpreter), one
persistent worker per version and face model, driven in lockstep: every single measurement is
taken on both versions back to back, in alternating order, so drift in the machine's load falls on
both alike. The HTTP rows run both versions' ``clearsight serve`` side by side and alternate load
segments between them. Only the public API both versions share is used (DetectLabels is left
out: the label model's expected checksum changed in between). Writes the section
``regression`` of docs/benchmarks.md; the worktrees are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _server
from _report import ROOT, machine, table, write_section

DATA = Path(os.environ.get("CLEARSIGHT_DATA", ROOT.parent / "shared" / "data"))
FAST, FUSED = "clearsight-face-fast-1", "clearsight-face-fused-1"
VERSIONS = ("before", "after")
HTTP_PHOTO = DATA / "faces" / "face_recognition" / "obama-480p.jpg"
FLAG = 0.10  # a time more than 10% longer (a rate more than 10% lower) is called a regression

# One worker per (version, model): JSON commands on stdin, one JSON answer per line on the
# original stdout (fd 1 is pointed at stderr so library chatter cannot corrupt the protocol).
WORKER = r"""
import json, os, sys, time, uuid
out = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
import numpy as np
import clearsight
from clearsight import Engine

engine = Engine(data_dir=sys.argv[1])
coll = engine.collections
coll.create_collection(collection_id="scratch")
blobs, vectors = {}, {}


def read(path):
    if path not in blobs:
        blobs[path] = open(path, "rb").read()
    return blobs[path]


def timed(fn):
    t = time.perf_counter()
    r = fn()
    return 1000 * (time.perf_counter() - t), r


def embed(data):
    img = engine.decode(data)
    faces = engine.faces.detect(img.rgb)
    engine.faces.embed(img.rgb, faces)
    return faces


def probe_vector(path):
    if path not in vectors:
        faces = embed(read(path))
        big = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        vectors[path] = np.asarray(big.embedding, np.float32)
    return vectors[path]


def setup(real, synthetic, seed):
    # synthetic unit vectors straight into the store, then real faces through IndexFaces (the index
    # is first loaded by that call, from everything the store holds)
    coll.create_collection(collection_id="big")
    dim = len(probe_vector(real[0]))
    rng = np.random.default_rng(seed)
    store_mod = sys.modules[type(coll.store).__module__]
    NewFace = getattr(store_mod, "NewFace", None)
    if NewFace is None:
        from clearsight.storage.base import NewFace
    box = {"Width": 0.5, "Height": 0.5, "Left": 0.25, "Top": 0.25}
    t = time.perf_counter()
    for start in range(0, synthetic, 5000):
        n = min(5000, synthetic - start)
        x = rng.standard_normal((n, dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        coll.store.add_faces("big", [NewFace(str(uuid.UUID(int=seed * 10**9 + start + i)), "synthetic", None, box,
                                             99.0, x[i]) for i in range(n)])
    store_s = time.perf_counter() - t
    indexed = sum(len(coll.index_faces(collection_id="big", image=read(p), max_faces=1)["FaceRecords"])
                  for p in real)
    size = len(coll.index("big"))
    if size != synthetic + indexed:  # an index loaded before the store writes: reopen from disk
        coll.close()
        del engine.__dict__["collections"]
        size = len(engine.collections.index("big"))
    return {"store_s": store_s, "indexed": indexed, "size": size, "dim": dim}


def search(path):
    ms, r = timed(lambda: engine.collections.search_faces_by_image(collection_id="big", image=read(path)))
    return {"ms": ms, "matches": len(r["FaceMatches"])}


def search_index(path):
    q = probe_vector(path)
    idx = engine.collections.index("big")
    ms, hits = timed(lambda: idx.search(q, k=80, min_score=-1.0))
    return {"ms": ms, "matches": len(hits)}


def throughput(paths, collection):
    c = engine.collections
    c.create_collection(collection_id=collection)
    for p in paths:
        read(p)
    t = time.perf_counter()
    faces = sum(len(c.index_faces(collection_id=collection, image=read(p))["FaceRecords"]) for p in paths)
    return {"s": time.perf_counter() - t, "images": len(paths), "faces": faces}


OPS = {
    "detect": lambda path: (lambda ms, r: {"ms": ms, "faces": len(r["FaceDetails"])})(
        *timed(lambda: engine.detect_faces(read(path)))),
    "embed": lambda path: (lambda ms, r: {"ms": ms, "faces": len(r)})(*timed(lambda: embed(read(path)))),
    "index": lambda path: (lambda ms, r: {"ms": ms, "faces": len(r["FaceRecords"])})(
        *timed(lambda: engine.collections.index_faces(collection_id="scratch", image=read(path)))),
    "setup": setup, "search": search, "search_index": search_index, "throughput": throughput,
}
out.write(json.dumps({"file": clearsight.__file__, "model": engine.model_version}) + "\n")
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["op"] == "quit":
        break
    out.write(json.dumps(OPS[cmd["op"]](*cmd["args"])) + "\n")
engine.close()
"""

# A load generator: CLIENTS threads, each its own boto3 client, DetectFaces for SECONDS.
LOAD = r"""
import json, sys, threading, time, boto3
from botocore.config import Config
url, key, secret, clients, seconds, photo = sys.argv[1:7]
clients, seconds = int(clients), float(seconds)
data = open(photo, "rb").read()
lat, errors, lock = [], {}, threading.Lock()
rks = [boto3.client("rekognition", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                    aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}, read_timeout=120))
       for _ in range(clients)]
def worker(rk):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        try:
            rk.detect_faces(Image={"Bytes": data})
            with lock: lat.append(time.perf_counter() - t)
        except Exception as exc:
            k = type(exc).__name__ + ": " + str(exc)[:120]
            with lock: errors[k] = errors.get(k, 0) + 1
threads = [threading.Thread(target=worker, args=(rk,)) for rk in rks]
start = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"n": len(lat), "errors": errors, "seconds": time.perf_counter() - start, "lat": lat}))
"""


# --- plumbing ---------------------------------------------------------------------------------
def git(*args: str) -> str:
    for attempt in range(20):  # other sessions share the repository: retry while its lock is held
        r = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.strip()
        if ".lock" not in r.stderr or attempt == 19:
            raise RuntimeError(f"git {' '.join(args)}: {r.stderr.strip()}")
        time.sleep(0.5)
    raise AssertionError


def version_env(tree: Path, model: str | None = None, threads: int | None = 1) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARSIGHT_") or k == "CLEARSIGHT_MODEL_DIR"}
    env["PYTHONPATH"] = str(tree / "src")
    if model:
        env["CLEARSIGHT_FACE_MODEL"] = model
    if threads:
        env.update(CLEARSIGHT_THREADS=str(threads), OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
    return env


class Worker:
    def __init__(self, name: str, tree: Path, model: str | None, tmp: Path) -> None:
        self.name = name
        data_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=tmp))
        self.log_path = data_dir / "worker.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, str(data_dir)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=tmp,
                                     env=version_env(tree, model))
        hello = self._read()
        if not hello["file"].startswith(str(tree)):
            raise RuntimeError(f"{name} imported clearsight from {hello['file']}, not from {tree}")
        self.model = hello["model"]

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            self.log.flush()
            raise RuntimeError(f"worker {self.name} died:\n{self.log_path.read_text()[-3000:]}")
        return json.loads(line)

    def call(self, op: str, *args: Any) -> dict[str, Any]:
        assert self.proc.stdin
        self.proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.write('{"op": "quit"}\n')
                self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.log.close()


def both(workers: dict[str, Worker], i: int, op: str, *args: Any) -> dict[str, dict[str, Any]]:
    """One measurement on each version, back to back; who goes first alternates with ``i``."""
    order = VERSIONS if i % 2 == 0 else VERSIONS[::-1]
    return {v: workers[v].call(op, *args) for v in order}


def ratio_ci(before: np.ndarray, after: np.ndarray, stat: Any = np.median, n: int = 2000) -> tuple[float, float]:
    """90% bootstrap interval of stat(after) / stat(before)."""
    rng = np.random.default_rng(0)
    b = stat(rng.choice(before, (n, len(before))), axis=1)
    a = stat(rng.choice(after, (n, len(after))), axis=1)
    lo, hi = np.percentile(a / b, [5, 95])
    return float(lo), float(hi)


def fmt_ratio(r: float, ci: tuple[float, float] | None = None) -> str:
    return f"{r:.2f}" + (f" ({ci[0]:.2f}–{ci[1]:.2f})" if ci else "")


def p95(x: np.ndarray, axis: Any = None) -> Any:
    return np.percentile(x, 95, axis=axis)


# --- data -------------------------------------------------------------------------------------
def lfw_people(min_images: int) -> list[Path]:
    root = DATA / "lfw" / "images"
    return [d for d in sorted(root.iterdir()) if d.is_dir() and len(list(d.glob("*.jpg"))) >= min_images]


def spaced(items: list[Any], n: int, offset: int = 0) -> list[Any]:
    step = max(1, len(items) // n)
    return [items[(offset + i * step) % len(items)] for i in range(n)]


def pipeline_images(tmp: Path) -> dict[str, Path]:
    from PIL import Image

    portrait = tmp / "obama_640x480.jpg"
    Image.open(DATA / "faces" / "face_recognition" / "obama-480p.jpg").convert("RGB").resize((640, 480)).save(portrait)
    fr = DATA / "faces" / "face_recognition"
    images = {
        "obama 640x480": portrait,
        "insightface t1.jpg 1280x886": DATA / "faces" / "insightface" / "t1.jpg",
        "two_people.jpg 1126x661": fr / "two_people.jpg",
        "biden.jpg 970x2204": fr / "biden.jpg",
        "deepface couple.jpg 2280x1588": DATA / "faces" / "deepface" / "couple.jpg",
    }
    for person in spaced(lfw_people(1), 5, offset=7):
        images[f"LFW {person.name} 250x250"] = sorted(person.glob("*.jpg"))[0]
    return images


# --- the three parts --------------------------------------------------------------------------
def face_part(workers: dict[str, Worker], images: dict[str, Path], reps: int) -> dict[str, Any]:
    ops = ("detect", "embed", "index")
    times: dict[str, dict[str, dict[str, list[float]]]] = {
        op: {img: {v: [] for v in VERSIONS} for img in images} for op in ops}
    faces: dict[str, dict[str, int]] = {img: {} for img in images}
    for j, path in enumerate(images.values()):  # warm-up: every operation on every image, once
        for k, op in enumerate(ops):
            both(workers, j + k, op, str(path))
    for rep in range(reps):
        for j, (label, path) in enumerate(images.items()):
            for k, op in enumerate(ops):
                for v, r in both(workers, rep + j + k, op, str(path)).items():
                    times[op][label][v].append(r["ms"])
                    if op == "detect":
                        faces[label][v] = r["faces"]
    return {"times": times, "faces": faces}


def collections_part(workers: dict[str, Worker], synthetic: int, n_probes: int, reps: int,
                     throughput_rounds: int) -> dict[str, Any]:
    people = lfw_people(2)
    chosen = spaced(people, n_probes, offset=3)
    real = [str(sorted(p.glob("*.jpg"))[0]) for p in chosen]
    probes = [str(sorted(p.glob("*.jpg"))[1]) for p in chosen]
    setup = {v: workers[v].call("setup", real, synthetic, 7) for v in VERSIONS}
    lat: dict[str, dict[str, list[float]]] = {op: {v: [] for v in VERSIONS} for op in ("search", "search_index")}
    matched = {v: 0 for v in VERSIONS}
    for j, p in enumerate(probes):  # warm-up (and the probe vectors for the index-only search)
        both(workers, j, "search", p)
        both(workers, j + 1, "search_index", p)
    for rep in range(reps):
        for j, p in enumerate(probes):
            for k, op in enumerate(("search", "search_index")):
                for v, r in both(workers, rep + j + k, op, p).items():
                    lat[op][v].append(r["ms"])
                    if op == "search" and rep == 0:
                        matched[v] += r["matches"] > 0
    tp_paths = [str(sorted(p.glob("*.jpg"))[0]) for p in spaced(lfw_people(1), 30, offset=11)]
    rates: dict[str, list[float]] = {v: [] for v in VERSIONS}
    tp_faces: dict[str, int] = {}
    for r in range(throughput_rounds):
        for v, res in both(workers, r, "throughput", tp_paths, f"tp{r}").items():
            rates[v].append(res["images"] / res["s"])
            tp_faces[v] = res["faces"]
    return {"setup": setup, "lat": lat, "matched": matched, "n_probes": len(probes), "rates": rates,
            "tp_images": len(tp_paths), "tp_faces": tp_faces}


Server = tuple[subprocess.Popen[bytes], str, dict[str, str]]  # process, URL, admin key


def start_server(name: str, tree: Path, tmp: Path) -> Server:
    """One version's `clearsight serve` as an operator runs it (default model and threads)."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"http-{name}-", dir=tmp))
    try:
        return _server.start_server(data_dir, env=version_env(tree, threads=None), key_name="b", cwd=tmp)
    except RuntimeError as exc:
        raise RuntimeError(f"{name}: {exc}") from exc


def http_part(trees: dict[str, Path], tmp: Path, segments: int, seg_seconds: float, clients: int) -> dict[str, Any]:
    servers: dict[str, Server] = {}
    res: dict[str, dict[str, Any]] = {v: {"n": 0, "seconds": 0.0, "lat": [], "errors": {}} for v in VERSIONS}
    try:
        for v in VERSIONS:
            servers[v] = start_server(v, trees[v], tmp)
        for i in range(2 * segments + 1):  # segment 0 warms both up and is not counted
            order = VERSIONS if i % 2 == 0 else VERSIONS[::-1]
            for v in order:
                _, url, key = servers[v]
                out = subprocess.run([sys.executable, "-c", LOAD, url, key["AccessKeyId"], key["SecretAccessKey"],
                                      str(clients), str(seg_seconds if i else 2.0), str(HTTP_PHOTO)],
                                     capture_output=True, text=True, check=True, timeout=600)
                r = json.loads(out.stdout)
                if i == 0:
                    continue
                res[v]["n"] += r["n"]
                res[v]["seconds"] += r["seconds"]
                res[v]["lat"] += r["lat"]
                for e, c in r["errors"].items():
                    res[v]["errors"][e] = res[v]["errors"].get(e, 0) + c
    finally:
        for proc, _, _ in servers.values():
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    return res


# --- the report -------------------------------------------------------------------------------
def face_table(results: dict[str, dict[str, Any]], images: list[str]) -> tuple[str, list[str]]:
    labels = {"detect": "DetectFaces", "embed": "decode+detect+embed", "index": "IndexFaces"}
    header = ["image", "model", "faces"]
    for op in labels.values():
        header += [f"{op} before ms", "after ms", "after/before"]
    rows, flagged = [], []
    for model, res in results.items():
        logs: dict[str, list[float]] = {op: [] for op in labels}
        for img in images:
            f = res["faces"][img]
            row: list[object] = [img, model, f["after"] if f["before"] == f["after"] else f"{f['before']}→{f['after']}"]
            for op in labels:
                b, a = (float(np.median(res["times"][op][img][v])) for v in VERSIONS)
                logs[op].append(np.log(a / b))
                row += [f"{b:.1f}", f"{a:.1f}", fmt_ratio(a / b)]
            rows.append(row)
        summary: list[object] = ["**geometric mean of the ratios**", model, ""]
        for op, name in labels.items():
            g = float(np.exp(np.mean(logs[op])))
            summary += ["", "", f"**{g:.2f}**"]
            if g > 1 + FLAG:
                flagged.append(f"{name} ({model}) {g:.2f}x")
        rows.append(summary)
    return table(header, rows), flagged


def collections_table(results: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    rows, flagged = [], []
    for model, res in results.items():
        for op, name in (("search", "SearchFacesByImage (whole call)"), ("search_index", "index search only")):
            b, a = (np.array(res["lat"][op][v]) for v in VERSIONS)
            for stat, sname in ((np.median, "p50"), (p95, "p95")):
                sb, sa = float(stat(b)), float(stat(a))
                rows.append([f"{name} {sname} ms", model, f"{sb:.2f}", f"{sa:.2f}",
                             fmt_ratio(sa / sb, ratio_ci(b, a, stat))])
                if sa / sb > 1 + FLAG:
                    flagged.append(f"{name} {sname} ({model}) {sa / sb:.2f}x")
        sb, sa = (res["setup"][v]["store_s"] for v in VERSIONS)
        rows.append(["store.add_faces of the synthetic vectors, s (one sample)", model, f"{sb:.2f}", f"{sa:.2f}",
                     fmt_ratio(sa / sb)])
        b, a = (np.array(res["rates"][v]) for v in VERSIONS)
        mb, ma = float(np.median(b)), float(np.median(a))
        rows.append([f"IndexFaces images/s ({res['tp_images']} LFW images, {res['tp_faces']['after']} faces)", model,
                     f"{mb:.2f}", f"{ma:.2f}", fmt_ratio(ma / mb, ratio_ci(b, a) if len(b) > 1 else None)])
        if ma / mb < 1 / (1 + FLAG):
            flagged.append(f"IndexFaces throughput ({model}) {ma / mb:.2f}x")
    return table(["measure", "model", "before", "after", "after/before (90% CI)"], rows), flagged


def http_table(res: dict[str, Any]) -> tuple[str, list[str]]:
    lat = {v: np.array(res[v]["lat"]) * 1000 for v in VERSIONS}
    rps = {v: res[v]["n"] / res[v]["seconds"] for v in VERSIONS}
    rows: list[list[object]] = [["requests/s", f"{rps['before']:.2f}", f"{rps['after']:.2f}",
                                 fmt_ratio(rps["after"] / rps["before"])]]
    flagged = [f"HTTP requests/s {rps['after'] / rps['before']:.2f}x"] if rps["after"] / rps["before"] < 1 / (
        1 + FLAG) else []
    for q in (50, 99):
        b, a = (float(np.percentile(lat[v], q)) for v in VERSIONS)
        ci = ratio_ci(lat["before"], lat["after"], lambda x, axis, q=q: np.percentile(x, q, axis=axis))
        rows.append([f"p{q} ms", f"{b:.0f}", f"{a:.0f}", fmt_ratio(a / b, ci)])
        if a / b > 1 + FLAG:
            flagged.append(f"HTTP p{q} {a / b:.2f}x")
    rows.append(["requests (errors)", *(f"{res[v]['n']} ({sum(res[v]['errors'].values())})" for v in VERSIONS), ""])
    return table(["DetectFaces over HTTP", "before", "after", "after/before (90% CI)"], rows), flagged


def measure(args: argparse.Namespace) -> dict[str, Any]:
    q = args.quick
    reps, probes, search_reps, tp_rounds = (4, 10, 3, 2) if q else (10, 20, 6, 4)
    segments, seg_seconds, synthetic, clients = (2, 5.0, 20_000, 4) if q else (4, 5.0, 20_000, 4)
    if args.smoke:
        reps, probes, search_reps, tp_rounds, segments, seg_seconds, synthetic = 1, 2, 1, 2, 1, 2.0, 2000
    raw: dict[str, Any] = {"quick": q, "reps": reps, "search_reps": search_reps, "tp_rounds": tp_rounds,
                           "segments": segments, "seg_seconds": seg_seconds, "synthetic": synthetic,
                           "clients": clients, "machine": machine(), "load_start": os.getloadavg()}
    t_start = time.perf_counter()
    raw["revs"] = {"before": git("rev-parse", args.before), "after": git("rev-parse", args.after)}
    tmp = Path(tempfile.mkdtemp(prefix="cs-regression-"))
    trees = {v: tmp / f"tree-{v}" for v in VERSIONS}
    raw["faces"], raw["collections"] = {}, {}
    try:
        for v in VERSIONS:
            git("worktree", "add", "--detach", str(trees[v]), raw["revs"][v])
        images = pipeline_images(tmp)
        raw["images"] = list(images)
        for model in (FAST, FUSED):
            print(f"[{time.perf_counter() - t_start:.0f} s] {model}: starting workers", flush=True)
            workers: dict[str, Worker] = {}
            try:
                for v in VERSIONS:
                    workers[v] = Worker(f"{v}-{model}", trees[v], model if model == FAST else None, tmp)
                assert workers["before"].model == workers["after"].model == model, {
                    v: w.model for v, w in workers.items()}
                raw["faces"][model] = face_part(workers, images, reps)
                print(f"[{time.perf_counter() - t_start:.0f} s] {model}: face pipeline done", flush=True)
                raw["collections"][model] = collections_part(workers, synthetic, probes, search_reps, tp_rounds)
                print(f"[{time.perf_counter() - t_start:.0f} s] {model}: collections done", flush=True)
            finally:
                for w in workers.values():
                    w.close()
        raw["http"] = http_part(trees, tmp, segments, seg_seconds, clients)
        print(f"[{time.perf_counter() - t_start:.0f} s] HTTP done", flush=True)
    finally:
        for v in VERSIONS:
            if trees[v].exists():
                try:
                    git("worktree", "remove", "--force", str(trees[v]))
                except RuntimeError as exc:
                    print(exc, file=sys.stderr)
        git("worktree", "prune")
        shutil.rmtree(tmp, ignore_errors=True)
    raw["load_end"] = os.getloadavg()
    raw["minutes"] = (time.perf_counter() - t_start) / 60
    return raw


def render(raw: dict[str, Any]) -> str:
    images = raw["images"]
    ftab, fflag = face_table(raw["faces"], images)
    ctab, cflag = collections_table(raw["collections"])
    htab, hflag = http_table(raw["http"])
    flagged = fflag + cflag + hflag
    load_start, load_end, revs = raw["load_start"], raw["load_end"], raw["revs"]
    coll = raw["collections"][FUSED]
    setup = coll["setup"]["after"]
    errors = {v: raw["http"][v]["errors"] for v in VERSIONS if raw["http"][v]["errors"]}
    busy = load_start[0] > 1.5
    return (
        "## Before/after this session's restructuring\n\n"
        f"Machine: {raw['machine']}. Script: `bench/regression.py{' --quick' if raw['quick'] else ''}` "
        f"({raw['minutes']:.0f} min). Before: `{revs['before'][:7]}` (the start of the session); after: "
        f"`{revs['after'][:7]}` (the operation table with dispatch(), the storage seam, one model loader, the "
        "Engine as composition root, the hardened HTTP service). Both ran in the same run, each from its own "
        "git worktree in a subprocess, one persistent worker per version and face model, one inference thread; "
        "every measurement was taken on both versions back to back, the order alternating, so drift in the "
        "machine's load falls on both alike. DetectLabels is not measured (the label model's expected checksum "
        "changed in between).\n\n"
        + (f"**This ran beside other work**: the load average was {load_start[0]:.1f} / {load_start[1]:.1f} / "
           f"{load_start[2]:.1f} (1/5/15 min) at the start and {load_end[0]:.1f} at the end, on 2 cores, so the "
           "absolute times are inflated and noisy; the ratios are what this section is for.\n\n"
           if busy else
           f"Load average at the start {load_start[0]:.2f} / {load_start[1]:.2f} / {load_start[2]:.2f}, at the "
           f"end {load_end[0]:.2f}.\n\n")
        + f"### Face pipeline\n\nMedian of {raw['reps']} runs per image after a warm-up, in milliseconds; "
        "DetectFaces (DEFAULT attributes), decode + detect + embed every face (`engine.decode`, `faces.detect`, "
        "`faces.embed`), IndexFaces into a scratch collection (the same plus the SQLite commit and the index "
        "add). Faces: as found by DetectFaces (before→after if they differ).\n\n"
        + ftab
        + f"\n### Collections\n\n{raw['synthetic']:,} synthetic unit vectors added through "
        f"`collections.store.add_faces` plus {setup['indexed']} real LFW faces through IndexFaces "
        f"({setup['size']:,} faces, exact index); {coll['n_probes']} probes (another photo of each indexed "
        f"person; {coll['matched']['before']} / {coll['matched']['after']} found their match), "
        f"{raw['search_reps']} rounds; SearchFacesByImage with default parameters (the whole call: decode, detect, "
        "embed the probe, search), and the index search alone (k=80) for the probe's vector. IndexFaces "
        f"throughput: {coll['tp_images']} LFW images into a fresh collection, {raw['tp_rounds']} rounds per "
        "version. Intervals: 90% bootstrap of the ratio.\n\n"
        + ctab
        + "\n### HTTP\n\n`clearsight serve --workers 2` of each version (default fused model and threads, its "
        "own data directory and admin key), both running at once; "
        f"{raw['clients']} boto3 clients (threads of one load process, SigV4 region us-east-1) sending "
        f"DetectFaces with a 853x480 one-face photo, in {2 * raw['segments']} alternating segments of "
        f"{raw['seg_seconds']:g} s ({raw['segments'] * raw['seg_seconds']:g} s per version) after a 2 s warm-up "
        "of each.\n\n"
        + htab
        + (f"\nErrors: {json.dumps(errors)}\n" if errors else "")
        + "\n"
        + ("Over the 10% line: " + "; ".join(flagged) + "." if flagged
           else "No measurement is more than 10% worse after the restructuring.")
        + " The intervals treat the samples as independent, so they leave out the load's drift over the run; "
        "tail percentiles (p95 of a few dozen searches, p99 of a few hundred requests) on a shared machine move "
        "by 10-20% from one run to the next, medians and geometric means by a few percent.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (~5 minutes instead of ~20)")
    parser.add_argument("--before", default="ab476ed")
    parser.add_argument("--after", default="HEAD")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch docs/benchmarks.md")
    parser.add_argument("--from-json", type=Path, help="render a saved run (out/regression.json) instead")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # the plumbing only, tiny sizes
    args = parser.parse_args()
    saved = ROOT / "out" / "regression.json"
    if args.from_json:
        raw = json.loads(args.from_json.read_text())
    else:
        raw = measure(args)
        saved.parent.mkdir(exist_ok=True)
        saved.write_text(json.dumps(raw))
    text = render(raw)
    print(text)
    if not args.no_write and not args.smoke:
        write_section("regression", text)


if __name__ == "__main__":
    main()
