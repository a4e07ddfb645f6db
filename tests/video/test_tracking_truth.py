"""The tracker on a real crossing: two LFW people (Ricardo Lagos and Atal Bihari Vajpayee, seed 3 of
the synthetic-truth clips) walk towards each other and one passes in front of the other. Before
the tracker compared faces where overlap is in doubt, one track took both people and 8 of
Vajpayee's detections were reported as Lagos at Similarity 99; now each person is one track and
every FaceMatch is of the right person."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clearsight.evaluation.video_truth import make_video, score
from clearsight.policy.context import Caller, acting_as
from tests.conftest import data_path

from .conftest import ServiceFactory

pytest.importorskip("av", reason="PyAV is needed to write and read the clip (pip install av)")


def test_two_people_crossing_stay_two_tracks_and_are_never_labelled_as_each_other(
        engine: Any, video_service: ServiceFactory, tmp_path: Path) -> None:
    data_path("coco", "images", "000000007574.jpg")  # the clip's background
    lfw = data_path("lfw", "images")
    truth = make_video(tmp_path / "crossing.mp4", lfw, seed=3, seconds=6, people=2,
                       count_faces=lambda rgb: len(engine.faces.detect(rgb)))
    assert sorted(a.identity for a in truth.appearances) == ["Atal_Bihari_Vajpayee", "Ricardo_Lagos"]
    service = video_service()
    c = service.collections
    c.create_collection(collection_id="crossing")
    for identity, path in truth.enrolments().items():
        c.index_faces(collection_id="crossing", image=path.read_bytes(), external_image_id=identity, max_faces=1)
    with acting_as(Caller(purpose="test")):
        job_id = service.start_face_search(video=tmp_path / "crossing.mp4", collection_id="crossing",
                                           face_match_threshold=80)["JobId"]
        service.run_now(job_id)
        persons = service.get_face_search(job_id=job_id, max_results=1000)["Persons"]
    s = score(truth, persons, sample_ms=200, similarity=99.0)
    assert s.false_match_detections == 0, "a detection was reported as the other person"
    assert s.tracks_spanning_appearances == 0, "one track holds both people"
    assert all(a.identified and a.tracks == 1 and a.wrong == 0 for a in s.appearances)
