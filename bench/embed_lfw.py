"""Embed the centred face of every LFW image with the default face model (cached for the
collection benchmarks): out/lfw_<model>.npz with paths, identities and vectors.

    python bench/embed_lfw.py [--limit N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from clearsight import Engine  # noqa: E402
from clearsight.evaluation.lfw import centred_face  # noqa: E402


def cache_path(model: str) -> Path:
    return ROOT / "out" / f"lfw_{model}.npz"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    data = Path(os.environ.get("CLEARSIGHT_DATA", ROOT.parent / "shared" / "data")) / "lfw" / "images"
    engine = Engine()
    paths = sorted(data.glob("*/*.jpg"))
    if args.limit:
        paths = paths[: args.limit]
    vecs = np.zeros((len(paths), engine.calibration.recipe.dimension), np.float32)
    fallbacks = np.zeros(len(paths), bool)
    start = time.perf_counter()
    for i, p in enumerate(paths):
        rgb = engine.decode(p).rgb
        face, fallbacks[i] = centred_face(engine.faces, rgb)
        engine.faces.embed(rgb, [face])
        assert face.embedding is not None
        vecs[i] = face.embedding
        if i % 1000 == 0:
            print(f"{i}/{len(paths)} {time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)
    out = cache_path(engine.model_version)
    out.parent.mkdir(exist_ok=True)
    np.savez(out, paths=np.array([str(p.relative_to(data)) for p in paths]),
             identities=np.array([p.parent.name for p in paths]), vectors=vecs, fallbacks=fallbacks,
             seconds=time.perf_counter() - start)
    print(f"wrote {out}: {len(paths)} faces in {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
