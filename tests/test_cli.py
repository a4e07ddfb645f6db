"""The command line, run as a real subprocess (the contract acceptance checks use)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import data_path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clearsight.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_detect_several_images_json_and_draw(tmp_path: Path) -> None:
    t1 = data_path("faces", "insightface", "t1.jpg")
    obama = data_path("faces", "face_recognition", "obama.jpg")
    out = tmp_path / "faces.png"
    proc = run("detect", str(t1), str(obama), "--json", "--draw", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [len(r["FaceDetails"]) for r in lines] == [6, 1]
    assert lines[0]["Image"] == str(t1)
    assert (tmp_path / "faces_1.png").stat().st_size > 0 and (tmp_path / "faces_2.png").is_file()


def test_detect_human_output_and_bad_file() -> None:
    good = data_path("faces", "face_recognition", "biden.jpg")
    bad = data_path("faces", "compreface", "formats", "corrupted.png")
    proc = run("detect", str(good), str(bad))
    assert proc.returncode == 1
    assert "1 face" in proc.stdout
    assert "InvalidImageFormatException" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_compare_json() -> None:
    a = data_path("faces", "face_recognition", "obama.jpg")
    b = data_path("faces", "face_recognition", "two_people.jpg")
    proc = run("compare", str(a), str(b), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert len(result["FaceMatches"]) == 1 and len(result["UnmatchedFaces"]) == 1
    assert set(result) == {"SourceImageFace", "FaceMatches", "UnmatchedFaces"}


def test_eval_lfw_on_a_small_pairs_file(tmp_path: Path) -> None:
    lfw_dir = data_path("lfw")
    lines = (lfw_dir / "pairs.txt").read_text().splitlines()[1:]
    # 2 folds x 8 pairs, taken from the official folds 1 and 2
    small = []
    for fold in range(2):
        block = lines[fold * 600:(fold + 1) * 600]
        small += block[:8] + block[300:308]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("2\t8\n" + "\n".join(small) + "\n")
    roc = tmp_path / "roc.png"
    proc = run("eval", "lfw", "--pairs", str(pairs), "--data", str(lfw_dir), "--json", "--roc", str(roc))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for key in ("accuracy", "accuracy_std", "tar_at_far_1e-3"):
        assert key in result
    assert result["accuracy"] >= 0.9 and result["pairs"] == 32
    assert roc.stat().st_size > 1000


def test_eval_lfw_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    proc = run("eval", "lfw", "--data", str(tmp_path))
    assert proc.returncode == 1
    assert "images/" in proc.stderr and "Traceback" not in proc.stderr


def test_models_list() -> None:
    proc = run("models", "list")
    assert proc.returncode == 0 and "mobilefacenet" in proc.stdout and "licence" in proc.stdout
