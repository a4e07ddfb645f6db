"""The synthetic labelled video: generation is reproducible, its truth boxes are where the
project's detector finds the pasted faces, and score() / score_faces() give the expected numbers
on hand-built GetFaceSearch / GetFaceDetection answers."""

from __future__ import annotations

import copy
import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clearsight.evaluation import video_truth
from clearsight.evaluation.video_truth import Truth, make_video, score, score_faces
from clearsight.geometry import iou
from tests.conftest import data_path

av = pytest.importorskip("av", reason="PyAV is needed to write and read the clips (pip install av)")

SECONDS, FPS, SAMPLE_MS = 4.0, 10, 200


@pytest.fixture(scope="module")
def lfw() -> Path:
    data_path("coco", "images", "000000007574.jpg")  # the default background
    return data_path("lfw", "images")


@pytest.fixture(scope="module")
def count(engine) -> Callable[[np.ndarray], int]:  # type: ignore[no-untyped-def]
    """The screen make_video applies to each LFW cut-out, on the session's engine."""
    return lambda rgb: len(engine.faces.detect(rgb))


@pytest.fixture(scope="module")
def clip(lfw: Path, count: Callable[[np.ndarray], int], tmp_path_factory: pytest.TempPathFactory,
         ) -> tuple[Path, Truth]:
    path = tmp_path_factory.mktemp("clip") / "a.mp4"
    return path, make_video(path, lfw, seed=7, seconds=SECONDS, fps=FPS, people=3, count_faces=count)


def frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    out = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="rgb24")
    return out


def test_same_seed_same_clip(clip: tuple[Path, Truth], lfw: Path, count: Callable[[np.ndarray], int],
                             tmp_path: Path) -> None:
    path, truth = clip
    again = make_video(tmp_path / "b.mp4", lfw, seed=7, seconds=SECONDS, fps=FPS, people=3, count_faces=count)
    assert again.to_json() == truth.to_json()
    wanted = {0, 13, 27, 39}
    a, b = frames(path, wanted), frames(tmp_path / "b.mp4", wanted)
    assert set(a) == wanted
    assert {i: hashlib.sha256(f.tobytes()).hexdigest() for i, f in a.items()} == {
        i: hashlib.sha256(f.tobytes()).hexdigest() for i, f in b.items()}
    other = make_video(tmp_path / "c.mp4", lfw, seed=8, seconds=SECONDS, fps=FPS, people=3, count_faces=count)
    assert other.to_json() != truth.to_json()


def test_images_with_a_second_face_are_skipped(lfw: Path, tmp_path: Path) -> None:
    calls: list[int] = []

    def two_faces_first(rgb: np.ndarray) -> int:  # the first cut-out screened "holds two faces"
        calls.append(1)
        return 2 if len(calls) == 1 else 1

    truth = make_video(tmp_path / "s.mp4", lfw, seed=7, seconds=3, fps=FPS, people=2, count_faces=two_faces_first)
    assert len(truth.skipped_images) == 1 and truth.appearances
    assert truth.skipped_images[0] not in {a.image for a in truth.appearances}


def test_the_clip_and_its_truth(clip: tuple[Path, Truth], lfw: Path) -> None:
    path, truth = clip
    assert Truth.from_json(truth.to_json()) == truth
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (stream.width, stream.height) == truth.size == (640, 360)
        assert sum(1 for _ in container.decode(video=0)) == truth.frames == SECONDS * FPS
    assert len(truth.appearances) >= 2 and not truth.distractors_only
    for a in truth.appearances:
        assert a.enrol_image and a.enrol_image != a.image
        assert a.enrol_image.split("/")[0] == a.image.split("/")[0] == a.identity
        assert (lfw / a.enrol_image).is_file()
        assert 0 <= a.first_ms <= a.last_ms
        assert a.boxes[0]["truncated"] > 0 and a.boxes[-1]["truncated"] > 0  # enters and leaves
        widths = [r["box"][2] - r["box"][0] for r in a.boxes if r["truncated"] == 0]
        assert 55 <= min(widths) and max(widths) <= 140
    # the first event is a crossing: one face passes in front of the other
    assert max(r["occluded"] for a in truth.appearances for r in a.boxes) > 0.9
    assert {r["visible"] for a in truth.appearances for r in a.boxes} == {True, False}


def test_truth_boxes_are_where_the_detector_finds_the_faces(clip: tuple[Path, Truth], engine) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    path, truth = clip
    shown = {r["frame"] for a in truth.appearances for r in a.boxes if r["visible"]}
    wanted = {f for f in shown if f % 6 == 0}
    checked = 0
    for i, rgb in frames(path, wanted).items():
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG")
        dets = [video_truth._pixels(d["BoundingBox"], truth.size)
                for d in engine.detect_faces(buf.getvalue())["FaceDetails"]]
        for a, rec in truth.faces_at(i):
            if rec["visible"]:
                best = max((iou(np.array(rec["box"]), d) for d in dets), default=0.0)
                assert best >= 0.5, (i, a.identity, rec, dets)
                checked += 1
        assert len(dets) <= len(truth.faces_at(i)), (i, dets)  # nothing on the kitchen itself
    assert checked >= 6


# --- scoring on hand-built answers ----------------------------------------------------------
def ratio(box: list[float], size: tuple[int, int]) -> dict[str, float]:
    w, h = size
    return {"Width": (box[2] - box[0]) / w, "Height": (box[3] - box[1]) / h, "Left": box[0] / w, "Top": box[1] / h}


def perfect(truth: Truth, similarity: float = 99.5) -> list[dict[str, Any]]:
    """What an ideal face search answers: each visible face at each sample, one track per appearance."""
    out = []
    for frame in video_truth._samples(truth, SAMPLE_MS):
        for a, rec in truth.faces_at(frame):
            if rec["visible"]:
                out.append({"Timestamp": rec["ms"], "Person": {
                    "Index": a.appearance_id, "Face": {"BoundingBox": ratio(rec["box"], truth.size)}},
                    "FaceMatches": [{"Similarity": similarity, "Face": {"FaceId": f"face-{a.identity}",
                                                                        "ExternalImageId": a.identity}}]})
    return out


def of(persons: list[dict[str, Any]], appearance: int) -> list[dict[str, Any]]:
    return [p for p in persons if p["Person"]["Index"] == appearance]


def test_score_perfect(clip: tuple[Path, Truth]) -> None:
    truth = clip[1]
    s = score(truth, perfect(truth), sample_ms=SAMPLE_MS)
    n = len(truth.appearances)
    assert s.identification_rate == 1.0 and all(a.identified for a in s.appearances)
    assert (s.false_match_detections, s.false_match_tracks, s.false_match_appearances) == (0, 0, 0)
    assert s.tracks_per_appearance == 1.0 and s.tracks_spanning_appearances == 0
    assert s.detection_recall == 1.0 and s.unmatched_detections == 0
    assert s.max_timestamp_error_ms is not None and 0 <= s.max_timestamp_error_ms < SAMPLE_MS
    assert s.within_one_sample == 1.0 and len(s.appearances) == n
    assert s.to_dict()["appearances"][0]["recall"] == 1.0


def test_score_one_wrong_identity(clip: tuple[Path, Truth]) -> None:
    truth = clip[1]
    persons = perfect(truth)
    other = truth.appearances[1].identity
    assert other != truth.appearances[0].identity
    for p in of(persons, 0):
        p["FaceMatches"][0]["Face"]["ExternalImageId"] = other
    s = score(truth, persons, sample_ms=SAMPLE_MS)
    n = len(truth.appearances)
    assert s.identification_rate == (n - 1) / n and not s.appearances[0].identified
    assert s.false_match_detections == len(of(persons, 0)) == s.appearances[0].wrong
    assert (s.false_match_tracks, s.false_match_appearances) == (1, 1)
    # scored at a higher similarity than the answer carries: nobody identified, nothing false
    low = score(truth, perfect(truth, similarity=95.0), sample_ms=SAMPLE_MS, similarity=99.0)
    assert low.identification_rate == 0.0 and low.false_match_detections == 0 and low.detection_recall == 1.0


def test_score_split_track(clip: tuple[Path, Truth]) -> None:
    truth = clip[1]
    persons = perfect(truth)
    mine = of(persons, 0)
    for p in mine[len(mine) // 2:]:
        p["Person"]["Index"] = 100
    s = score(truth, persons, sample_ms=SAMPLE_MS)
    n = len(truth.appearances)
    assert s.appearances[0].tracks == 2 and s.tracks_per_appearance == (n + 1) / n
    assert s.identification_rate == 1.0 and s.false_match_detections == 0
    # one track that jumps to another appearance
    for p in of(persons, 1):
        p["Person"]["Index"] = 0
    assert score(truth, persons, sample_ms=SAMPLE_MS).tracks_spanning_appearances == 1


def test_score_late_start(clip: tuple[Path, Truth]) -> None:
    truth = clip[1]
    persons = perfect(truth)
    mine = of(persons, 0)
    late = [p for p in persons if all(p is not q for q in mine[:3])]
    s = score(truth, late, sample_ms=SAMPLE_MS)
    a, first_ms = s.appearances[0], truth.appearances[0].first_ms
    assert a.start_error_ms == mine[3]["Timestamp"] - first_ms > 2 * SAMPLE_MS
    assert a.detected_samples == a.visible_samples - 3 == len(mine) - 3
    assert s.max_timestamp_error_ms == a.start_error_ms and s.within_one_sample < 1.0
    assert a.identified and s.identification_rate == 1.0
    # found early, while still partly out of the frame: no error, and not an unmatched detection
    entering = truth.appearances[0].boxes[0]
    assert not entering["visible"] and entering["ms"] < truth.appearances[0].first_ms
    early = copy.deepcopy(mine[0])
    early["Timestamp"], early["Person"]["Face"]["BoundingBox"] = entering["ms"], ratio(entering["box"], truth.size)
    e = score(truth, [early, *persons], sample_ms=SAMPLE_MS)
    assert e.appearances[0].start_error_ms == 0 and e.unmatched_detections == 0 and e.appearances[0].tracks == 1


def test_score_unmatched_and_distractor_clip(clip: tuple[Path, Truth], lfw: Path, tmp_path: Path) -> None:
    truth = clip[1]
    persons = perfect(truth)
    bogus = copy.deepcopy(persons[0])
    bogus["Person"]["Face"]["BoundingBox"] = {"Width": 0.05, "Height": 0.05, "Left": 0.0, "Top": 0.9}
    s = score(truth, [*persons, bogus], sample_ms=SAMPLE_MS)
    assert s.unmatched_detections == 1 and s.false_match_detections == 1 and s.false_match_appearances == 0

    distractors = make_video(tmp_path / "d.mp4", lfw, seed=7, seconds=3, fps=FPS, people=2, distractors_only=True,
                             count_faces=lambda rgb: 1)
    assert distractors.distractors_only and all(a.enrol_image is None for a in distractors.appearances)
    assert not distractors.enrolments()
    assert not {a.identity for a in distractors.appearances} & {a.identity for a in truth.appearances}
    enrolled = truth.appearances[0].identity
    answer = perfect(distractors)
    for p in answer:
        p["FaceMatches"][0]["Face"]["ExternalImageId"] = enrolled
    d = score(distractors, answer, sample_ms=SAMPLE_MS)
    assert d.identification_rate is None and d.false_match_detections == len(answer) > 0
    assert d.false_match_appearances == len(distractors.appearances)
    for p in answer:
        p["FaceMatches"] = []
    assert score(distractors, answer, sample_ms=SAMPLE_MS).false_match_detections == 0


def test_score_faces(clip: tuple[Path, Truth]) -> None:
    truth = clip[1]
    faces = [{"Timestamp": p["Timestamp"], "Face": p["Person"]["Face"]} for p in perfect(truth)]
    d = score_faces(truth, faces, sample_ms=SAMPLE_MS)
    assert d.samples == SECONDS * 1000 / SAMPLE_MS and d.recall == 1.0 and d.precision == 1.0
    assert d.true_positives == len(faces) and d.false_positives == 0
    corner = {"Timestamp": 0, "Face": {"BoundingBox": {"Width": 0.05, "Height": 0.05, "Left": 0.0, "Top": 0.9}}}
    half = score_faces(truth, [*faces[::2], corner], sample_ms=SAMPLE_MS)
    assert half.true_positives == len(faces[::2]) and half.false_negatives == len(faces) - len(faces[::2])
    assert half.false_positives == 1 and half.per_frame[0]["fp"] == 1
