"""Phase 2 jobs in process: shots and black frames, labels (by timestamp and by segment), text."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from clearsight.errors import InvalidParameterException
from clearsight.video.frames import label_segments
from clearsight.video.scenes import timecode

from .conftest import ServiceFactory
from .test_jobs import pages

CUTS_MS = (1619, 3621, 8026)  # the Hamilton clip's hard cuts (seen in its sampled frames)


def made_video(path: Path, scenes: list[tuple[str, float]], fps: int = 25) -> Path:
    """A small H.264 video of scenes (a colour or 'text:<words>' on grey), each for its seconds."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for kind, seconds in scenes:
            img = np.zeros((240, 320, 3), np.uint8)
            if kind.startswith("text:"):
                img[:] = 235
                cv2.putText(img, kind[5:], (20, 130), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (10, 10, 10), 3)
            elif kind == "plain":
                img[:] = 128
            elif kind != "black":
                img[:] = {"red": (200, 30, 30), "blue": (30, 30, 200)}[kind]
                cv2.circle(img, (160, 120), 60, (240, 240, 240), -1)
            for _ in range(int(seconds * fps)):
                out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def run(service: Any, start: Any, **kwargs: Any) -> str:
    job_id = str(start(**kwargs)["JobId"])
    service.run_now(job_id)
    return job_id


def test_shots_of_the_hamilton_clip(video_service: ServiceFactory, clip: Path) -> None:
    service = video_service()
    job_id = run(service, service.start_segment_detection, video=clip, segment_types=["SHOT", "TECHNICAL_CUE"])
    out = service.get_segment_detection(job_id=job_id)
    assert out["JobStatus"] == "SUCCEEDED" and out["VideoMetadata"][0]["Codec"] == "h264"
    assert out["SelectedSegmentTypes"] == [{"Type": "SHOT", "ModelVersion": "clearsight-segments-1"},
                                           {"Type": "TECHNICAL_CUE", "ModelVersion": "clearsight-segments-1"}]
    shots = [s for s in out["Segments"] if s["Type"] == "SHOT"]
    starts = [s["StartTimestampMillis"] for s in shots]
    assert len(shots) == 4 and starts[0] < 900
    for cut, start in zip(CUTS_MS, starts[1:]):
        assert abs(start - cut) <= 200, (starts, CUTS_MS)  # within one 200 ms sample of the cut
    assert [s["ShotSegment"]["Index"] for s in shots] == [0, 1, 2, 3]
    assert all(a["EndTimestampMillis"] == b["StartTimestampMillis"] for a, b in itertools.pairwise(shots))
    assert all(s["EndFrameNumber"] + 1 == t["StartFrameNumber"] for s, t in itertools.pairwise(shots))
    assert not [s for s in out["Segments"] if s["Type"] == "TECHNICAL_CUE"], "no black frames in the clip"


def test_black_frames_and_shot_filters(video_service: ServiceFactory, tmp_path: Path) -> None:
    video = made_video(tmp_path / "cut.mp4", [("red", 1.0), ("black", 0.6), ("blue", 1.0)])
    service = video_service(video_chunk_ms=500)
    job_id = run(service, service.start_segment_detection, video=video, segment_types=["TECHNICAL_CUE"])
    cues = pages(service.get_segment_detection, "Segments", job_id=job_id, max_results=1)
    assert [c["TechnicalCueSegment"]["Type"] for c in cues] == ["BlackFrames"]
    assert abs(cues[0]["StartTimestampMillis"] - 1000) <= 40 and abs(cues[0]["DurationMillis"] - 600) <= 80
    assert cues[0]["DurationFrames"] == 15 and cues[0]["StartTimecodeSMPTE"] == "00:00:01:00"
    job_id = run(service, service.start_segment_detection, video=video, segment_types=["SHOT"],
                 filters={"ShotFilter": {"MinSegmentConfidence": 50}})
    assert len(service.get_segment_detection(job_id=job_id)["Segments"]) == 3
    with pytest.raises(InvalidParameterException):
        service.start_segment_detection(video=video, segment_types=["FADE"])
    assert timecode(61_480, 25) == "00:01:01:12"


def test_labels_by_timestamp_and_by_segment(video_service: ServiceFactory, clip: Path) -> None:
    service = video_service(video_sample_ms=1000)
    job_id = run(service, service.start_label_detection, video=clip, min_confidence=60)
    out = service.get_label_detection(job_id=job_id)
    assert out["LabelModelVersion"] and out["GetRequestMetadata"] == {"SortBy": "TIMESTAMP",
                                                                      "AggregateBy": "TIMESTAMPS"}
    people = [item for item in out["Labels"] if item["Label"]["Name"] == "Person"]
    assert len(people) >= 5 and all(item["Label"]["Confidence"] >= 60 for item in out["Labels"])
    by_name = pages(service.get_label_detection, "Labels", job_id=job_id, sort_by="NAME", max_results=3)
    assert [(i["Label"]["Name"], i["Timestamp"]) for i in by_name] == sorted(
        (i["Label"]["Name"], i["Timestamp"]) for i in out["Labels"])
    segments = service.get_label_detection(job_id=job_id, aggregate_by="SEGMENTS")["Labels"]
    person = [s for s in segments if s["Label"]["Name"] == "Person"]
    assert 1 <= len(person) < len(people) and person[0]["DurationMillis"] > 0


def test_label_segments_merge_sightings_a_sample_apart() -> None:
    seen = [{"Timestamp": t, "Label": {"Name": "Dog", "Confidence": c, "Instances": []}}
            for t, c in ((0, 70.0), (200, 90.0), (400, 80.0), (1400, 60.0))]
    runs = label_segments(seen, 200)
    assert [(r["StartTimestampMillis"], r["EndTimestampMillis"], r["Label"]["Confidence"]) for r in runs] == [
        (0, 400, 90.0), (1400, 1400, 60.0)]
    assert "Instances" not in runs[0]["Label"]


def test_text_in_a_video_with_filters(video_service: ServiceFactory, tmp_path: Path) -> None:
    video = made_video(tmp_path / "text.mp4", [("text:EXIT 42", 1.0), ("plain", 1.0)])
    service = video_service(video_sample_ms=500)
    job_id = run(service, service.start_text_detection, video=video)
    out = service.get_text_detection(job_id=job_id)
    assert out["TextModelVersion"]
    lines = [(d["Timestamp"], d["TextDetection"]["DetectedText"]) for d in out["TextDetections"]
             if d["TextDetection"]["Type"] == "LINE"]
    assert [t for t, text in lines if "EXIT" in text and "42" in text] == [0, 520]  # 520: 25 fps
    job_id = run(service, service.start_text_detection, video=video,
                 filters={"WordFilter": {"MinBoundingBoxHeight": 0.5}})
    assert service.get_text_detection(job_id=job_id)["TextDetections"] == []
