"""QualityFilter: the levels' rules, and AUTO's EXTREME_POSE limit derived again from the published
pose-stratified LFW table (docs/benchmarks.md, written by bench/lfw_pose.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clearsight import quality
from clearsight.calibration import Calibration
from clearsight.evaluation import pose

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _detail(yaw: float = 0.0, pitch: float = 0.0) -> dict[str, object]:
    return {"Pose": {"Yaw": yaw, "Pitch": pitch, "Roll": 0.0}, "Quality": {"Brightness": 60.0, "Sharpness": 60.0},
            "BoundingBox": {"Width": 0.2, "Height": 0.3, "Left": 0.1, "Top": 0.1}, "Confidence": 99.0}


@pytest.mark.parametrize(("level", "yaw", "pitch", "refused"), [
    ("AUTO", 44.9, 0, False), ("AUTO", -45.0, 0, True), ("AUTO", 50.0, 0, True), ("AUTO", 0, 59, False),
    ("AUTO", 0, 61, True),
    ("MEDIUM", 59.0, 0, False), ("MEDIUM", 61.0, 0, True), ("LOW", 70.0, 70.0, False), ("HIGH", 41.0, 0, True),
    ("NONE", 90.0, 90.0, False)])
def test_pose_limits(level: str, yaw: float, pitch: float, refused: bool) -> None:
    assert ("EXTREME_POSE" in quality.reasons(_detail(yaw, pitch), 640, 480, level)) is refused


def test_auto_is_a_level_of_its_own() -> None:
    assert quality.level(None, "AUTO") == "AUTO" and quality.level("MEDIUM", "AUTO") == "MEDIUM"


def _published_pose_table() -> pose.PoseResult:
    text = (DOCS / "benchmarks.md").read_text()
    section = text[text.index("<!-- bench:lfw_pose -->"):text.index("<!-- /bench:lfw_pose -->")]
    model = re.search(r"face model `([^`]+)`", section)
    assert model and model[1] == Calibration.load().model_version, "the published pose table is not the default's"
    bins = []
    for label, genuine, m80, m99 in re.findall(
            r"^\| (<15|15-30|30-45|>=45) \| \d+ \((\d+)/\d+\) \|.*\| ([\d.]+)% \| ([\d.]+)% \|$", section, re.M):
        bins.append(pose.PoseBin(label, int(genuine), 0, float("nan"), float("nan"), float("nan"),
                                 {80: float(m80) / 100, 99: float(m99) / 100}))
    assert [b.label for b in bins] == pose.bin_labels()
    return pose.PoseResult(bins, bins[0], 1e-3, 0.0, pose.YAW_EDGES)


def test_auto_yaw_limit_is_what_the_published_table_decides() -> None:
    cal = Calibration.load()
    promised = {s: cal.fnmr_at(s) for s in pose.SIMILARITIES}
    limit = pose.auto_yaw_limit(_published_pose_table(), promised)
    assert (quality.UNMEASURED_YAW if limit is None else limit) == quality.AUTO_MAX_YAW
    accuracy = (DOCS / "accuracy.md").read_text()
    assert f"refuses EXTREME_POSE at |yaw| >= {quality.AUTO_MAX_YAW:g}" in accuracy


def test_auto_yaw_limit_rule() -> None:
    def result(match99: list[float]) -> pose.PoseResult:
        bins = [pose.PoseBin(lab, 100, 100, 1.0, 1.0, 0.0, {99: m}) for lab, m in zip(pose.bin_labels(), match99)]
        return pose.PoseResult(bins, bins[0], 1e-3, 0.0, pose.YAW_EDGES)

    assert pose.auto_yaw_limit(result([0.95, 0.95, 0.95, 0.95]), {99: 0.05}) is None
    assert pose.auto_yaw_limit(result([0.95, 0.95, 0.80, 0.5]), {99: 0.05}) == 30.0  # 20 of 100 missed
    assert pose.auto_yaw_limit(result([0.95, 0.95, 0.88, 0.5]), {99: 0.05}) == 45.0  # 12 of 100: within doubt
    assert pose.wilson_lower(0, 10) == 0.0 and 0.05 < pose.wilson_lower(20, 100) < 0.2


def _landmarks(eye_left: tuple[float, float], eye_right: tuple[float, float], nose: tuple[float, float]
               ) -> list[dict[str, object]]:
    return [{"Type": t, "X": x / 640, "Y": y / 480}
            for t, (x, y) in (("eyeLeft", eye_left), ("eyeRight", eye_right), ("nose", nose))]


@pytest.mark.parametrize(("points", "cut"), [
    (((300, 200), (340, 200), (320, 220)), False),  # inside, eyes 40 px apart
    (((0, 200), (30, 200), (12, 220)), True),  # the image-left eye on the edge (clamped there)
    (((5, 200), (45, 200), (25, 220)), True),  # within 0.2 eye distances (8 px) of the edge
    (((9, 200), (49, 200), (29, 220)), False),
    (((300, 440), (340, 440), (320, 479)), True),  # nose on the bottom edge
])
def test_faces_cut_by_the_frame_edge(points: tuple[tuple[float, float], ...], cut: bool) -> None:
    detail = {**_detail(), "Landmarks": _landmarks(*points)}
    assert quality.cut_by_frame(detail["Landmarks"], 640, 480) is cut  # type: ignore[arg-type]
    for level in ("AUTO", "MEDIUM", "HIGH"):
        assert ("LOW_FACE_QUALITY" in quality.reasons(detail, 640, 480, level)) is cut
    assert quality.reasons(detail, 640, 480, "LOW") == [] and quality.reasons(detail, 640, 480, "NONE") == []
