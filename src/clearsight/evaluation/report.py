"""Accuracy report on the operator's own data: a folder per person (LFW's layout).

Every image's largest face is embedded; every same-person pair is genuine and every
different-person pair an impostor (sampled down to at most 5 million). The report gives the ROC
curve, FMR and FNMR at Similarity 80/90/95/99, the Similarity needed for a target FMR, and, when
the operator supplies a CSV of ``person,group``, the same figures per group side by side
(impostor pairs within a group, as NIST's demographic studies do). ClearSight never infers
groups: they come only from the operator's labels.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..engine import Engine
from ..errors import ClearSightError, InvalidParameterException
from .lfw import roc_png

LEVELS = (80.0, 90.0, 95.0, 99.0)
TARGET_FMRS = (1e-3, 1e-4, 1e-5)
MAX_IMPOSTORS = 5_000_000
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def embed_folder(engine: Engine, root: Path, max_per_person: int, quiet: bool) -> tuple[np.ndarray, np.ndarray, int]:
    people = sorted(p for p in root.iterdir() if p.is_dir())
    if len(people) < 2:
        raise InvalidParameterException(f"{root} needs a folder per person (at least two people)")
    names, vecs, skipped = [], [], 0
    files = [(person.name, f) for person in people for f in sorted(person.iterdir())[:max_per_person or None]
             if f.suffix.lower() in SUFFIXES]
    for i, (name, path) in enumerate(files):
        try:
            img = engine.decode(path)
            faces = engine.faces.detect(img.rgb, max_faces=1)
        except ClearSightError:
            skipped += 1
            continue
        if not faces:
            skipped += 1
            continue
        engine.faces.embed(img.rgb, faces)
        assert faces[0].embedding is not None
        names.append(name)
        vecs.append(faces[0].embedding)
        if not quiet and (i + 1) % 250 == 0:
            print(f"embedded {i + 1}/{len(files)}", file=sys.stderr, flush=True)
    return np.array(names), np.array(vecs, np.float32), skipped


def cached_embeddings(engine: Engine, root: Path, cache: Path, max_per_person: int,
                      quiet: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Embed once per dataset and model: rerunning with other groups reuses out/embeddings.npz."""
    key = f"{engine.model_version}|{root.resolve()}|{max_per_person}"
    if cache.is_file():
        with np.load(cache) as z:
            if str(z["key"]) == key:
                return z["names"], z["vectors"], int(z["skipped"])
    names, vecs, skipped = embed_folder(engine, root, max_per_person, quiet)
    np.savez(cache, key=np.array(key), names=names, vectors=vecs, skipped=np.array(skipped))
    return names, vecs, skipped


def pair_scores(names: np.ndarray, vecs: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(genuine scores, impostor scores) over all pairs, impostors sampled to MAX_IMPOSTORS."""
    gen, imp = [], []
    rng = np.random.default_rng(seed)
    n = len(names)
    total_imp = n * (n - 1) // 2
    keep = min(1.0, MAX_IMPOSTORS / max(1, total_imp))
    for start in range(0, n, 2048):
        block = vecs[start:start + 2048] @ vecs.T
        for r in range(block.shape[0]):
            i = start + r
            row, same = block[r, i + 1:], names[i + 1:] == names[i]
            gen.append(row[same])
            others = row[~same]
            if keep < 1.0:
                others = others[rng.random(len(others)) < keep]
            imp.append(others)
    return np.concatenate(gen) if gen else np.zeros(0), np.concatenate(imp) if imp else np.zeros(0)


def figures(engine: Engine, gen: np.ndarray, imp: np.ndarray) -> dict[str, Any]:
    cal = engine.calibration
    out: dict[str, Any] = {"genuine_pairs": len(gen), "impostor_pairs": len(imp), "at_similarity": {}, "for_fmr": {}}
    for level in LEVELS:
        t = cal.score_for(level)
        out["at_similarity"][f"{level:g}"] = {"FMR": float(np.mean(imp >= t)) if len(imp) else None,
                                              "FNMR": float(np.mean(gen < t)) if len(gen) else None}
    srt = np.sort(imp)[::-1]
    for target in TARGET_FMRS:
        allowed = int(np.floor(target * len(srt)))
        if allowed == 0:
            out["for_fmr"][f"{target:g}"] = None  # not enough impostor pairs to measure
            continue
        score = float(srt[allowed]) + 1e-9 if allowed < len(srt) else float(srt[-1])
        out["for_fmr"][f"{target:g}"] = {"Similarity": float(cal.similarity(score)),
                                         "FNMR": float(np.mean(gen < score)) if len(gen) else None}
    return out


def _read_groups(path: Path) -> dict[str, str]:
    try:
        rows = list(csv.reader(path.read_text().splitlines()))
    except OSError as exc:
        raise InvalidParameterException(f"cannot read {path}: {exc}") from exc
    groups = {r[0].strip(): r[1].strip() for r in rows if len(r) >= 2 and r[0].strip() and r[0] != "person"}
    if not groups:
        raise InvalidParameterException(f"{path} has no person,group rows")
    return groups


def run_report(engine: Engine, root: Path, *, out: Path, groups_csv: Path | None = None, max_per_person: int = 0,
               quiet: bool = False) -> dict[str, Any]:
    if not root.is_dir():
        raise InvalidParameterException(f"{root} is not a folder (a folder per person is expected)")
    out.mkdir(parents=True, exist_ok=True)
    names, vecs, skipped = cached_embeddings(engine, root, out / "embeddings.npz", max_per_person, quiet)
    gen, imp = pair_scores(names, vecs)
    summary: dict[str, Any] = {"dataset": str(root), "model": engine.model_version, "people": len(set(names)),
                               "faces": len(names), "skipped_images": skipped, "overall": figures(engine, gen, imp)}
    if groups_csv is not None:
        groups = _read_groups(groups_csv)
        summary["groups"] = {}
        for g in sorted(set(groups.values())):
            mask = np.array([groups.get(str(n)) == g for n in names])
            if mask.sum() >= 2:
                gg, gi = pair_scores(names[mask], vecs[mask])
                summary["groups"][g] = figures(engine, gg, gi)
    out.mkdir(parents=True, exist_ok=True)
    scores = np.concatenate([gen, imp])
    same = np.concatenate([np.ones(len(gen), bool), np.zeros(len(imp), bool)])
    if len(gen) and len(imp):
        roc_png(scores, same, out / "roc.png", f"{root.name}: {engine.model_version}")
    (out / "report.json").write_text(json.dumps(summary, indent=1))
    (out / "report.md").write_text(markdown(summary))
    return summary


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.3g}%"


def markdown(s: dict[str, Any]) -> str:
    def block(f: dict[str, Any]) -> list[str]:
        rows = ["| Similarity | FMR | FNMR |", "|---|---|---|"]
        rows += [f"| {k} | {_pct(v['FMR'])} | {_pct(v['FNMR'])} |" for k, v in f["at_similarity"].items()]
        rows += ["", "| target FMR | Similarity needed | FNMR there |", "|---|---|---|"]
        for k, v in f["for_fmr"].items():
            rows.append(f"| {k} | " + ("not measurable (too few impostor pairs) | |" if v is None else
                                       f"{v['Similarity']:.3f} | {_pct(v['FNMR'])} |"))
        return rows

    o = s["overall"]
    lines = [f"# Accuracy report: {s['dataset']}", "",
             f"Model {s['model']}; {s['people']} people, {s['faces']} faces ({s['skipped_images']} images skipped: "
             f"no face or unreadable); {o['genuine_pairs']:,} genuine and {o['impostor_pairs']:,} impostor pairs.",
             "", "![ROC](roc.png)", "", *block(o)]
    for g, f in s.get("groups", {}).items():
        lines += ["", f"## Group {g}", "", f"{f['genuine_pairs']:,} genuine, {f['impostor_pairs']:,} impostor pairs "
                  "(both people in this group).", "", *block(f)]
    return "\n".join(lines) + "\n"
