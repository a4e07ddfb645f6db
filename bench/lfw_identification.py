"""LFW all-vs-all verification and open-set identification with the 5,749-identity gallery.

    python bench/lfw_identification.py --part 0/2 &  python bench/lfw_identification.py --part 1/2 &  wait
    python bench/lfw_identification.py     # combines the parts, prints the tables, writes docs/benchmarks.md

Each of the 13,233 images' centred face (the one `clearsight eval lfw` uses) is embedded once
per face model. ``--part i/n`` embeds every n-th image with the model CLEARSIGHT_FACE_MODEL
names into out/lfw_all_<model>_<i>of<n>.npz (run parts as separate processes,
CLEARSIGHT_THREADS=1); without it both MODELS are evaluated from every cached part
(clearsight.evaluation.parts; images no part holds are embedded in-process).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, machine, table, write_section

sys.path.insert(0, str(ROOT / "src"))
from clearsight import Engine
from clearsight.calibration import Calibration, fmr_target
from clearsight.evaluation import identification, parts

DATA = Path(os.environ.get("CLEARSIGHT_DATA", ROOT.parent / "shared" / "data")) / "lfw"
OUT = ROOT / "out"
PREFIX = "lfw_all"
# the default before this work ("today's" in the goal), then the default now
MODELS = ("clearsight-face-fused-1", "clearsight-face-mesh-1")
FARS = (1e-3, 1e-4, 1e-5, 1e-6)
FMR_AT = (80.0, 90.0, 95.0, 99.0, 99.5)
FPIR_AT = (80.0, 90.0, 95.0, 99.0)

# LFW label errors among the impostor pairs above the FAR 1e-6 threshold, checked by eye on the
# fused-2 run: one person under two names (or one photo filed under both), and images whose
# centred face is another identity's. Only the clear cases; twins and siblings (Tia/Tamara
# Mowry, Ashley/Mary-Kate Olsen) are real impostors and are not here.
SAME_PERSON = {frozenset(p) for p in [
    ("Carlos_Beltran", "Raul_Ibanez"), ("Bart_Hendricks", "Ricky_Ray"), ("Emmy_Rossum", "Eva_Amurri"),
    ("Gabrielle_Rose", "Martha_Bowen"), ("Andrew_Caldecott", "Andrew_Gilligan"),
    ("Shinya_Taniguchi", "Takahiro_Mori"), ("Choi_Sung-hong", "Sung_Hong_Choi"), ("Noer_Moeis", "Noer_Muis"),
    ("Diana_Taurasi", "Shavon_Earp"), ("Anja_Paerson", "Janica_Kostelic"), ("Wang_Yingfan", "Yingfan_Wang"),
    ("Hasan_Wirayuda", "Hassan_Wirajuda"), ("Joseph_Blatter", "Sepp_Blatter"),
    ("Chyung_Dai-chul", "Dai_Chul_Chyung"), ("Mireya_Elisa_Moscoso_Rodriguez", "Mireya_Moscoso"),
    ("Doc_Rivers", "Glenn_Rivers"), ("Felipe_De_Borbon", "Prince_Felipe"), ("Nan_Wang", "Wang_Nan"),
    ("Odai_Hussein", "Uday_Hussein"), ("Ruano_Pascual", "Virgina_Ruano_Pascal"),
    ("Talisa_Bratt", "Talisa_Soto"), ("John_Gruden", "Jon_Gruden"), ("Bison_Dele", "Brian_Williams"),
]}
SHOWS = {  # image -> the identity whose face it shows
    "images/Recep_Tayyip_Erdogan/Recep_Tayyip_Erdogan_0004.jpg": "Abdullah_Gul",
    "images/Carlos_Ruckauf/Carlos_Ruckauf_0001.jpg": "Eduardo_Duhalde",
    "images/Michael_Schumacher/Michael_Schumacher_0008.jpg": "Rubens_Barrichello",
}


def label_error(first: str, second: str) -> bool:
    a, b = (SHOWS.get(p, p.split("/")[1]) for p in (first, second))
    return a == b or frozenset((a, b)) in SAME_PERSON


def all_images() -> list[str]:
    return sorted(str(p.relative_to(DATA)) for p in (DATA / "images").glob("*/*.jpg"))


def calibrations(cal: Calibration) -> dict[str, Calibration]:
    """The model's calibration now and before 2026-12 (the logistic fit, still in calibration.json's
    ``a``/``b``: ``bench/calibrate.py`` refits it on the same pairs, so it is the old map)."""
    return {"before": replace(cal, kind="logistic", knots=()), "now": cal}


def evaluate(model: str, paths: list[str]) -> tuple[dict[str, Any], np.ndarray]:
    """The figures of one model, under both calibrations, and its embeddings (row k: paths[k])."""
    engine = Engine(face_model=model)
    faces = parts.load_parts(engine, DATA, paths, OUT)
    labels = np.array([p.split("/")[1] for p in paths])
    cals = calibrations(engine.calibration)
    at = {k: {s: c.score_for(s) for s in sorted({*FMR_AT, *FPIR_AT})} for k, c in cals.items()}
    avsa = identification.all_vs_all(faces.vectors, labels,
                                      thresholds=[t for a in at.values() for t in a.values()])
    ident = identification.open_set(faces.vectors, labels)
    tars = [avsa.tar_at_far(f) for f in FARS]
    worst = identification.impostors_above(faces.vectors, labels, tars[-1].threshold)
    # FAR 1e-6 again without the audited label errors: the next impostors down move up
    near = identification.impostors_above(faces.vectors, labels, tars[-2].threshold)
    clean = sorted((v for i, j, v in near if not label_error(paths[i], paths[j])), reverse=True)
    t_clean = float(np.nextafter(np.float32(clean[int(np.floor(FARS[-1] * avsa.impostors))]), np.float32(np.inf)))
    out: dict[str, Any] = {
        "model": model, "images": len(paths), "identities": len(ident.gallery),
        "fallbacks": int(faces.fallbacks.sum()), "embed_seconds": faces.seconds,
        "embedded": faces.embedded, "genuine": len(avsa.genuine), "impostors": avsa.impostors,
        "max_exact_far": avsa.max_exact_far, "impostors_kept": len(avsa.impostor_top),
        "tar_at_far": [{"far": t.far, "threshold": t.threshold, "false_accepts": t.false_accepts, "tar": t.tar,
                        **{f"similarity_{k}": float(c.similarity(t.threshold)) for k, c in cals.items()}}
                       for t in tars],
        "mated": len(ident.mated), "nonmated": len(ident.nonmated_best), "never_enrolled": int(ident.single.sum()),
        "rank1": ident.rank1(),
        "impostors_at_far_1e-6": [[paths[i], paths[j], round(v, 4)] for i, j, v in worst],
        "label_errors_at_far_1e-6": sum(label_error(paths[i], paths[j]) for i, j, _ in worst),
        "tar_at_far_1e-6_without_label_errors": {"threshold": t_clean, "tar": 1 - avsa.fnmr(t_clean)},
    }
    for k, c in cals.items():
        a = at[k]
        out[k] = {
            "fmr": [{"similarity": s, "score": a[s], "false_matches": avsa.counts[a[s]], "fmr": avsa.fmr(a[s]),
                     "fnmr": avsa.fnmr(a[s]), "published_fmr": c.fmr_at(s),
                     "target_fmr": float(fmr_target(s))} for s in FMR_AT],
            "open_set": [{"similarity": s, "fpir": ident.fpir(a[s]),
                          "fpir_never_enrolled": ident.fpir(a[s], single_only=True),
                          "tpir": ident.tpir(a[s])} for s in FPIR_AT],
        }
    return out, faces.vectors


def pct(v: float, digits: int = 2) -> str:
    return f"{100 * v:.{digits}f}%"


def ratio(new: float, old: float, goal: float | None = 0.5) -> str:
    if old == 0:
        return "n/a (0 today)"
    r = new / old
    return f"{r:.2f}" + ("" if goal is None else (" (halved)" if r <= goal else " (not halved)"))


def render(res: dict[str, dict[str, Any]], agree: np.ndarray | None) -> str:
    one, two = (res[m] for m in MODELS)
    old, new = (m.removeprefix("clearsight-face-") for m in MODELS)
    base = one["before"]  # "today's" in the goal: fused-1 under the logistic calibration
    cols = [(one, "before"), (one, "now"), (two, "before"), (two, "now")]
    rows: list[list[object]] = []
    for k, far in enumerate(FARS):
        t = one["tar_at_far"][k]
        cells = [f"{pct(r['tar_at_far'][k]['tar'])} (score {r['tar_at_far'][k]['threshold']:.4f}, Similarity "
                 f"{r['tar_at_far'][k][f'similarity_{c}']:.2f})" for r, c in cols]
        rows.append([f"TAR @ FAR {far:.0e} (<= {int(np.floor(far * one['impostors'])):,} impostor pairs)", *cells,
                     ratio(two["tar_at_far"][k]["tar"], t["tar"], None), "1.00"])
    for k, s in enumerate(FMR_AT):
        cells = [f"{r[c]['fmr'][k]['fmr']:.2e} ({r[c]['fmr'][k]['false_matches']:,}); "
                 f"FNMR {pct(r[c]['fmr'][k]['fnmr'])}" for r, c in cols]
        rows.append([f"FMR @ Similarity {s:g} (target now {one['now']['fmr'][k]['target_fmr']:.2e})", *cells,
                     ratio(two["now"]["fmr"][k]["fmr"], base["fmr"][k]["fmr"]),
                     ratio(one["now"]["fmr"][k]["fmr"], base["fmr"][k]["fmr"])])
    n, ne = one["nonmated"], one["never_enrolled"]
    for k, s in enumerate(FPIR_AT):
        cells = [f"{pct(r[c]['open_set'][k]['fpir'])} ({round(r[c]['open_set'][k]['fpir'] * n):,}); never enrolled "
                 f"{pct(r[c]['open_set'][k]['fpir_never_enrolled'])}" for r, c in cols]
        rows.append([f"FPIR @ Similarity {s:g}, {one['identities']:,}-identity gallery (own masked)", *cells,
                     ratio(two["now"]["open_set"][k]["fpir"], base["open_set"][k]["fpir"]),
                     ratio(one["now"]["open_set"][k]["fpir"], base["open_set"][k]["fpir"])])
    rows.append([f"rank-1 hit rate ({one['mated']:,} mated searches)", *(pct(r["rank1"]) for r, _ in cols),
                 ratio(two["rank1"], one["rank1"], None), "1.00"])
    for k, s in enumerate(FPIR_AT):
        rows.append([f"TPIR @ Similarity {s:g} (rank 1 and >= it)",
                     *(pct(r[c]["open_set"][k]["tpir"]) for r, c in cols),
                     ratio(two["now"]["open_set"][k]["tpir"], base["open_set"][k]["tpir"], None),
                     ratio(one["now"]["open_set"][k]["tpir"], base["open_set"][k]["tpir"], None)])
    header = ["LFW, 13,233 centred faces", f"`{MODELS[0]}`, logistic calibration (today's)",
              f"`{MODELS[0]}`, fmr-anchored (now)", f"`{MODELS[1]}`, logistic (before)",
              f"`{MODELS[1]}`, fmr-anchored (now; the default)",
              f"{new} now / {old} today's (goal for FMR, FPIR: <= 0.5)", f"{old} now / {old} today's"]
    fmr_rows = [r for r in rows if str(r[0]).startswith("FMR")]
    short = [f"{r[0]}" for r in fmr_rows if not (str(r[5]).endswith("(halved)") and str(r[6]).endswith("(halved)"))]
    timing = "; ".join(f"`{r['model']}` {1000 * r['embed_seconds'] / max(1, r['embedded']):.0f} ms per image "
                       f"({r['embedded']:,} images, {r['embed_seconds'] / 60:.0f} min summed over the parts)"
                       for r in (one, two))
    worst = one["impostors_at_far_1e-6"]
    gap = [two["now"]["fmr"][k]["fmr"] / two["now"]["fmr"][k]["target_fmr"] for k in range(len(FMR_AT))]
    return (
        "## LFW all-vs-all and open-set identification\n\n"
        f"Every LFW image ({one['images']:,}, {one['identities']:,} identities; detector fallbacks "
        f"{one['fallbacks']} / {two['fallbacks']}), the centred face of each (the one `clearsight eval lfw` "
        "uses), both models in the same run, each under the calibration it had before 2026-12 (logistic, "
        "equal priors) and the one it has now (fmr-anchored: Similarity S is the score above which a "
        "target fraction of pairsDevTrain's impostor pairs lie; docs/accuracy.md \"What Similarity means\"). "
        "Written by `bench/lfw_identification.py` (`clearsight.evaluation.identification`) from the cached "
        "embeddings: the calibration changes which score a Similarity is, not the embeddings.\n\n"
        + table(header, rows)
        + "\n"
        f"- **Goal \"halve today's FMR at every Similarity\"** (today's = `{MODELS[0]}` under the logistic "
        "calibration): "
        + ("**met** at every Similarity measured (80, 90, 95, 99, 99.5) by both models now"
           if not short else "not met at: " + "; ".join(short))
        + f". The cost is FNMR: at each Similarity the threshold is a higher score than before (see the FNMR in "
        "each cell). The target FMR is a devtrain figure; all of LFW (which contains the 3,443 devtrain images, "
        f"so this is not a disjoint test) gives {new} {min(gap):.2f}-{max(gap):.2f}x the target at these "
        "Similarities: a larger, different set of impostors (more images per identity, and LFW's label errors, "
        "below), which is why the target is a quarter of today's devtrain FMR and not half. FPIR, the chance "
        f"that a search of the {one['identities']:,}-identity gallery finds anyone else, is "
        + "; ".join(f"{'' if str(r[5]).endswith('(halved)') else 'not '}halved at {str(r[0]).split()[3].rstrip(',')}"
                    for r in rows if str(r[0]).startswith("FPIR"))
        + ": at 80 and 90 the per-comparison FMR times the gallery size is still above 1 (expected false "
        "matches per search), so nearly every search still finds someone; identification needs 99 or more.\n"
        f"- **All-vs-all**: every pair i < j: {one['genuine']:,} genuine (same identity) and "
        f"{one['impostors']:,} impostor pairs, cosine in float32 blocks. The top "
        f"{one['impostors_kept']:,} impostor scores are kept exactly, so the "
        "FAR thresholds are exact, not histogram bins: the threshold is just above the (k+1)-th highest impostor "
        "score with k = floor(FAR x impostor pairs); ties are left out, so false accepts can be below k. TAR @ FAR "
        "does not depend on the calibration (only the Similarity it is reached at does). At FAR "
        f"1e-6 that is {len(worst)} pairs, and {one['label_errors_at_far_1e-6']} of {old}'s ({new}: "
        f"{two['label_errors_at_far_1e-6']}) are LFW label errors, not two people (checked by eye, listed in the "
        "bench: one person under two names such as Joseph_Blatter / Sepp_Blatter, photos filed under two names, "
        "and Recep_Tayyip_Erdogan_0004, Carlos_Ruckauf_0001 and Michael_Schumacher_0008, which show Abdullah Gul, "
        "Eduardo Duhalde and Rubens Barrichello). Without them (the next impostors down taking their place, "
        "themselves not checked) TAR @ FAR 1e-6 is "
        f"{pct(one['tar_at_far_1e-6_without_label_errors']['tar'])} for {old} and "
        f"{pct(two['tar_at_far_1e-6_without_label_errors']['tar'])} for {new} (score "
        f"{one['tar_at_far_1e-6_without_label_errors']['threshold']:.4f} / "
        f"{two['tar_at_far_1e-6_without_label_errors']['threshold']:.4f}); read the row above as a lower bound. "
        "FMR/FNMR at a Similarity count pairs at or above `Calibration.score_for(Similarity)` of each model and "
        "calibration (the API's Similarity is monotonic in the score).\n"
        + (f"- The two models' embeddings of one image agree to cosine {agree.min():.4f} at worst (median "
           f"{np.median(agree):.5f}) over the {len(agree):,} images.\n" if agree is not None else "")
        + f"- **Open set**: the gallery holds the first image of each of the {one['identities']:,} identities. "
        f"Mated searches: the other {one['mated']:,} images (of the 1,680 identities with 2+ images) against the "
        "whole gallery; rank-1 = the own identity scores strictly highest; TPIR @ N = rank 1 and Similarity "
        f">= N. Non-mated searches: all {n:,} images, each against the gallery with its own identity's entry "
        f"masked (leave-one-identity-out, {one['identities'] - 1:,} entries); FPIR @ N = best match at "
        f"Similarity >= N. \"never enrolled\" restricts to the {ne:,} identities with one image (their only "
        "image is the masked entry).\n"
        "- **Embedding time** (decode, detection, landmarks and both nets per image; parts in parallel, one "
        f"thread each): {timing}. The 2 cores were shared with other jobs whose load varied during the run, "
        "so these are upper bounds and do not compare the models' speed; `bench/face_model_speed.py` does.\n"
        "- **Caveats**: LFW identities are mostly celebrities and public figures (news photos, mostly frontal, "
        "adult, skewed male and light-skinned), so these rates describe that population, not family photos or "
        "surveillance. One image per gallery identity (real galleries often enrol several). The face of each "
        "image is the detection nearest the centre, or the image centre when nothing is found, as LFW labels "
        "it. LFW's label errors count as errors of the model here (see above), at every FAR and Similarity; "
        "they matter most at the strictest ones. "
        f"The highest impostor pairs of {old}: "
        + "; ".join(f"{Path(i).name} / {Path(j).name} ({s})" for i, j, s in worst[:5])
        + f".\n- Machine: {machine()}.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", metavar="I/N", help="embed every N-th image starting at I, then stop")
    args = parser.parse_args()
    paths = all_images()
    if args.part:
        engine = Engine()
        i, n = parts.parse_part(args.part)
        parts.embed_part(engine, DATA, paths[i::n], parts.part_path(OUT, PREFIX, engine.model_version, i, n))
        return
    res: dict[str, dict[str, Any]] = {}
    vectors = []
    for m in MODELS:
        res[m], v = evaluate(m, paths)
        vectors.append(v)
    same_space = vectors[0].shape == vectors[1].shape  # one image's embedding by the two models, if comparable
    agree = np.einsum("ij,ij->i", vectors[0], vectors[1]) if same_space else None
    md = render(res, agree)
    print(md)
    write_section("lfw_identification", md)
    out = OUT / "lfw_identification.json"
    out.write_text(json.dumps(res, indent=2))
    print(f"wrote docs/benchmarks.md and {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
