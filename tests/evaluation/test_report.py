"""`clearsight eval DIR`: the operator's own folder-per-person data, with optional groups."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..conftest import data_path


def test_eval_dir_with_groups(tmp_path: Path) -> None:
    people = tmp_path / "people"
    lfw = data_path("lfw", "images")
    chosen = ["Abdullah_Gul", "Adrien_Brody", "Ai_Sugiyama", "Alejandro_Toledo", "Ali_Naimi", "Amelie_Mauresmo"]
    for name in chosen:
        (people / name).mkdir(parents=True)
        for img in sorted((lfw / name).glob("*.jpg"))[:3]:
            (people / name / img.name).write_bytes(img.read_bytes())
    (people / "notes.txt").write_text("not a person folder")
    groups = tmp_path / "groups.csv"
    groups.write_text("person,group\n" + "".join(f"{n},{'A' if i % 2 else 'B'}\n" for i, n in enumerate(chosen)))
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "clearsight.cli", "eval", str(people), "--groups", str(groups),
                           "--out", str(out), "--json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["people"] == 6 and summary["faces"] == 18
    overall = summary["overall"]
    assert overall["genuine_pairs"] == 18 and overall["impostor_pairs"] == 153 - 18
    assert set(overall["at_similarity"]) == {"80", "90", "95", "99"}
    assert overall["at_similarity"]["99"]["FMR"] == 0.0
    assert set(summary["groups"]) == {"A", "B"}
    assert summary["groups"]["A"]["genuine_pairs"] == 9
    assert (out / "roc.png").stat().st_size > 1000 and "## Group A" in (out / "report.md").read_text()


def test_eval_dir_refuses_a_non_folder(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "clearsight.cli", "eval", str(tmp_path / "missing")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "InvalidParameterException" in proc.stderr and "Traceback" not in proc.stderr
