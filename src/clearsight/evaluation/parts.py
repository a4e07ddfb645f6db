"""Embed LFW images in parts (separate processes) and combine the cached parts.

A benchmark that needs the centred face of thousands of LFW images runs ``embed_part`` for
``paths[i::n]`` in n processes (CLEARSIGHT_THREADS=1 each), each writing
``out/<prefix>_<model>_<i>of<n>.npz`` with the image paths (relative to the LFW folder), the
embeddings, the yaw estimated from the 5 landmarks and whether the detector fell back to the
image centre. ``load_parts`` combines every such file of a model (any prefix, any split: the
face of an image does not depend on which bench embedded it) and embeds what they lack.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import geometry
from ..engine import Engine
from .lfw import centred_face


@dataclass(frozen=True)
class EmbeddedFaces:
    """The centred face of each image: row k of ``vectors`` is ``paths[k]``."""

    paths: list[str]
    vectors: np.ndarray  # (n, d) float32, L2-normalised
    yaw: np.ndarray  # (n,) degrees
    fallbacks: np.ndarray  # (n,) bool: no detection, the image centre was used
    seconds: float  # embedding time summed over the parts (one thread each)
    embedded: int  # images whose time ``seconds`` counts

    def index(self) -> dict[str, int]:
        return {p: k for k, p in enumerate(self.paths)}


def part_path(out_dir: Path, prefix: str, model: str, i: int, n: int) -> Path:
    return out_dir / f"{prefix}_{model}_{i}of{n}.npz"


def parse_part(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n) with 0 <= i < n."""
    i, n = (int(v) for v in text.split("/"))
    if not 0 <= i < n:
        raise ValueError(f"--part {text}: want I/N with 0 <= I < N, e.g. 0/2")
    return i, n


def embed_part(
    engine: Engine, root: Path, paths: list[str], out: Path | None, *, save_every: int = 500
) -> EmbeddedFaces:
    """Embed the centred face of each image (paths relative to ``root``); save to ``out`` (also
    every ``save_every`` images, so an interrupted part can be resumed or combined)."""
    n = len(paths)
    vectors = np.zeros((n, engine.calibration.recipe.dimension), np.float32)
    yaw = np.zeros(n)
    fallbacks = np.zeros(n, bool)
    done, before = 0, 0.0
    if out is not None and out.exists():  # resume a part that was interrupted
        z = np.load(out)
        done = len(z["paths"])
        if [str(v) for v in z["paths"]] == paths[:done]:
            vectors[:done], yaw[:done], fallbacks[:done] = z["vectors"], z["yaw"], z["fallbacks"]
            before = float(z["seconds"])
        else:
            done = 0
    start = time.perf_counter() - before
    for k in range(done, n):
        rel = paths[k]
        rgb = engine.decode(root / rel).rgb
        face, fallbacks[k] = centred_face(engine.faces, rgb)
        engine.faces.embed(rgb, [face])
        assert face.embedding is not None
        vectors[k] = face.embedding
        yaw[k] = float(geometry.pose(face.points)["Yaw"])
        if k % 250 == 0:
            print(f"{k}/{n} {time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)
        if out is not None and (k + 1) % save_every == 0 and k + 1 < n:  # a killed part keeps its work
            _save(out, paths[: k + 1], vectors[: k + 1], yaw[: k + 1], fallbacks[: k + 1],
                  time.perf_counter() - start)
    seconds = time.perf_counter() - start
    if out is not None:
        _save(out, paths, vectors, yaw, fallbacks, seconds)
        print(f"wrote {out}: {n} faces in {seconds:.0f}s", file=sys.stderr, flush=True)
    return EmbeddedFaces(list(paths), vectors, yaw, fallbacks, seconds, n)


def _save(out: Path, paths: list[str], vectors: np.ndarray, yaw: np.ndarray, fallbacks: np.ndarray,
          seconds: float) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with tmp.open("wb") as f:
        np.savez(f, paths=np.array(paths), vectors=vectors, yaw=yaw, fallbacks=fallbacks, seconds=seconds)
    tmp.replace(out)


def load_parts(engine: Engine, root: Path, paths: list[str], out_dir: Path) -> EmbeddedFaces:
    """The faces of ``paths`` from every cached part of the engine's model, in the order of
    ``paths``; images no part holds are embedded here (and counted in ``seconds``)."""
    model = engine.model_version
    found: dict[str, tuple[np.ndarray, float, bool]] = {}
    seconds, embedded = 0.0, 0
    for f in sorted(out_dir.glob(f"*_{model}_*of*.npz")):
        z = np.load(f)
        if not {"paths", "vectors", "yaw", "fallbacks"} <= set(z.files):
            continue
        seconds += float(z["seconds"]) if "seconds" in z.files else 0.0
        embedded += len(z["paths"])
        for rel, vec, y, fb in zip(z["paths"], z["vectors"], z["yaw"], z["fallbacks"], strict=True):
            found[str(rel)] = (vec, float(y), bool(fb))
    missing = [p for p in paths if p not in found]
    if missing:
        print(f"embedding {len(missing)} images not in {out_dir}", file=sys.stderr)
        extra = embed_part(engine, root, missing, None)
        seconds += extra.seconds
        embedded += extra.embedded
        for k, rel in enumerate(missing):
            found[rel] = (extra.vectors[k], float(extra.yaw[k]), bool(extra.fallbacks[k]))
    return EmbeddedFaces(
        list(paths),
        np.array([found[p][0] for p in paths], np.float32),
        np.array([found[p][1] for p in paths]),
        np.array([found[p][2] for p in paths], bool),
        seconds, embedded,
    )
