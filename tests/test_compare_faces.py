"""CompareFaces on real photos: same person, different person, group targets."""

from __future__ import annotations

import csv

import pytest

from clearsight import compare_faces
from clearsight.errors import InvalidParameterException

from .conftest import data_path


def fr(name: str) -> str:
    return str(data_path("faces", "face_recognition", name))


def test_same_person_matches_at_99() -> None:
    out = compare_faces(fr("obama.jpg"), fr("obama2.jpg"), similarity_threshold=99)
    assert len(out["FaceMatches"]) == 1
    assert out["FaceMatches"][0]["Similarity"] >= 99
    assert set(out["SourceImageFace"]) == {"BoundingBox", "Confidence"}


def test_different_people_do_not_match() -> None:
    out = compare_faces(fr("obama.jpg"), fr("biden.jpg"))
    assert out["FaceMatches"] == []
    assert len(out["UnmatchedFaces"]) == 1


def test_group_target_one_match_one_unmatched() -> None:
    out = compare_faces(fr("biden.jpg"), fr("two_people.jpg"))
    assert len(out["FaceMatches"]) == 1
    assert len(out["UnmatchedFaces"]) == 1
    face = out["FaceMatches"][0]["Face"]
    assert set(face) == {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"}


def test_rob_lowe() -> None:
    bulk = data_path("faces", "insightface", "bulk")
    out = compare_faces(bulk / "Rob_Lowe_0001.jpg", bulk / "Rob_Lowe_0002.jpg")
    assert out["FaceMatches"] and out["FaceMatches"][0]["Similarity"] > 95


def test_threshold_zero_returns_every_face_as_match() -> None:
    out = compare_faces(fr("obama.jpg"), fr("two_people.jpg"), similarity_threshold=0)
    assert len(out["FaceMatches"]) == 2 and out["UnmatchedFaces"] == []
    sims = [m["Similarity"] for m in out["FaceMatches"]]
    assert sims == sorted(sims, reverse=True)


def test_source_without_face_and_bad_threshold() -> None:
    with pytest.raises(InvalidParameterException, match="no face"):
        compare_faces(data_path("faces", "insightface", "crop", "no_face.png"), fr("obama.jpg"))
    with pytest.raises(InvalidParameterException, match="0 to 100"):
        compare_faces(fr("obama.jpg"), fr("obama2.jpg"), similarity_threshold=101)


def test_target_without_face_is_empty() -> None:
    out = compare_faces(fr("obama.jpg"), data_path("faces", "dlib_boxes", "dogs.jpg"))
    assert out["FaceMatches"] == [] and out["UnmatchedFaces"] == []


@pytest.mark.slow
def test_deepface_labelled_pairs() -> None:
    """300 labelled pairs over 25 photos of 9 people: decisions at Similarity 80."""
    folder = data_path("faces", "deepface")
    from clearsight import default_engine

    engine = default_engine()
    vectors = {}
    for i in range(1, 26):
        path = next(folder.glob(f"img{i}.*"))
        img = engine.decode(path)
        faces = engine.faces.detect(img.rgb, max_faces=1)
        engine.faces.embed(img.rgb, faces)
        vectors[path.name] = faces[0].embedding
    rows = list(csv.DictReader((folder / "master.csv").read_text().splitlines()))
    correct = 0
    for row in rows:
        score = float(vectors[row["file_x"]] @ vectors[row["file_y"]])
        same = engine.calibration.similarity(score) >= 80
        correct += same == (row["Decision"] == "Yes")
    assert correct / len(rows) >= 0.95, f"{correct}/{len(rows)}"
