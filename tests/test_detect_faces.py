"""DetectFaces on real photos with the real models."""

from __future__ import annotations

from typing import Any

import pytest

from clearsight import detect_faces
from clearsight.errors import InvalidImageFormatException

from .conftest import data_path


def _faces(path: Any, attributes: str = "DEFAULT") -> list[dict[str, Any]]:
    return list(detect_faces(path, attributes=attributes)["FaceDetails"])


def test_group_photo_finds_all_six_faces() -> None:
    faces = _faces(data_path("faces", "insightface", "t1.jpg"))
    assert len(faces) == 6
    areas = [f["BoundingBox"]["Width"] * f["BoundingBox"]["Height"] for f in faces]
    assert areas == sorted(areas, reverse=True), "largest face first"


@pytest.mark.parametrize(
    "parts",
    [("faces", "insightface", "crop", "no_face.png"), ("faces", "dlib_boxes", "dogs.jpg"),
     ("faces", "compreface", "sample_images", "017_0.jpg")],
)
def test_no_face(parts: tuple[str, ...]) -> None:
    assert _faces(data_path(*parts)) == []


def test_shape_ranges_and_landmark_order() -> None:
    faces = _faces(data_path("faces", "face_recognition", "obama.jpg"))
    assert len(faces) == 1
    f = faces[0]
    assert set(f) == {"BoundingBox", "Landmarks", "Pose", "Quality", "Confidence"}
    box = f["BoundingBox"]
    assert all(0.0 <= box[k] <= 1.0 for k in ("Width", "Height", "Left", "Top"))
    assert box["Left"] + box["Width"] <= 1.0 + 1e-6
    assert 0 < f["Confidence"] <= 100
    lm = {p["Type"]: p for p in f["Landmarks"]}
    assert list(lm) == ["eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"]
    assert all(0.0 <= p["X"] <= 1.0 and 0.0 <= p["Y"] <= 1.0 for p in lm.values())
    assert lm["eyeLeft"]["X"] < lm["eyeRight"]["X"]
    assert lm["mouthLeft"]["X"] < lm["mouthRight"]["X"]
    assert max(lm["eyeLeft"]["Y"], lm["eyeRight"]["Y"]) < lm["nose"]["Y"]
    assert lm["nose"]["Y"] < min(lm["mouthLeft"]["Y"], lm["mouthRight"]["Y"])
    # landmarks inside the box
    for p in lm.values():
        assert box["Left"] <= p["X"] <= box["Left"] + box["Width"]
        assert box["Top"] <= p["Y"] <= box["Top"] + box["Height"]
    assert 0 <= f["Quality"]["Brightness"] <= 100 and 0 <= f["Quality"]["Sharpness"] <= 100
    assert abs(f["Pose"]["Roll"]) < 20 and abs(f["Pose"]["Yaw"]) < 30


def _swap(name: str) -> str:
    """The landmark type a mirror image gives this one: left and right exchanged."""
    for a, b in (("left", "right"), ("Left", "Right")):
        name = name.replace(a, "\0").replace(b, a).replace("\0", b)
    return name


def test_all_returns_every_rekognition_landmark() -> None:
    import botocore.loaders

    enum = botocore.loaders.Loader().load_service_model("rekognition", "service-2")["shapes"]["LandmarkType"]["enum"]
    (f,) = _faces(data_path("faces", "face_recognition", "obama.jpg"), "ALL")
    lm = {p["Type"]: p for p in f["Landmarks"]}
    assert list(lm) == enum and len(enum) == 30
    assert all(0.0 <= p["X"] <= 1.0 and 0.0 <= p["Y"] <= 1.0 for p in lm.values())
    box = f["BoundingBox"]
    inside = [box["Left"] - 0.05 <= p["X"] <= box["Left"] + box["Width"] + 0.05 for p in lm.values()]
    assert all(inside)
    # the viewer's left and right, as the five DEFAULT points have always been
    for left, right in (("eyeLeft", "eyeRight"), ("mouthLeft", "mouthRight"), ("leftPupil", "rightPupil"),
                        ("leftEyeLeft", "leftEyeRight"), ("rightEyeLeft", "rightEyeRight"),
                        ("leftEyeBrowLeft", "leftEyeBrowRight"), ("rightEyeBrowLeft", "rightEyeBrowRight"),
                        ("noseLeft", "noseRight"), ("upperJawlineLeft", "upperJawlineRight"),
                        ("midJawlineLeft", "midJawlineRight"), ("leftEyeRight", "rightEyeLeft")):
        assert lm[left]["X"] < lm[right]["X"], (left, right)
    assert lm["leftEyeUp"]["Y"] < lm["leftEyeDown"]["Y"] and lm["rightEyeUp"]["Y"] < lm["rightEyeDown"]["Y"]
    assert lm["leftEyeBrowUp"]["Y"] < lm["leftEyeUp"]["Y"] and lm["mouthUp"]["Y"] < lm["mouthDown"]["Y"]
    assert lm["nose"]["Y"] < lm["mouthUp"]["Y"] < lm["chinBottom"]["Y"]
    assert max(lm["upperJawlineLeft"]["Y"], lm["upperJawlineRight"]["Y"]) < lm["midJawlineLeft"]["Y"]
    # DEFAULT keeps the five
    (d,) = _faces(data_path("faces", "face_recognition", "obama.jpg"))
    assert [p["Type"] for p in d["Landmarks"]] == enum[:5]


def test_mirror_image_swaps_left_and_right() -> None:
    import io

    from PIL import Image, ImageOps

    path = data_path("faces", "face_recognition", "biden.jpg")
    buf = io.BytesIO()
    ImageOps.mirror(Image.open(path).convert("RGB")).save(buf, format="PNG")
    (orig,) = _faces(path.read_bytes(), "ALL")
    (mirror,) = _faces(buf.getvalue(), "ALL")
    a = {p["Type"]: p for p in orig["Landmarks"]}
    b = {p["Type"]: p for p in mirror["Landmarks"]}
    eye_gap = a["eyeRight"]["X"] - a["eyeLeft"]["X"]
    for name, p in a.items():
        q = b[_swap(name)]
        assert abs(q["X"] - (1.0 - p["X"])) < 0.1 * eye_gap, name
        assert abs(q["Y"] - p["Y"]) < 0.1 * eye_gap, name


@pytest.mark.parametrize("name", ["Dan_LaCoutre/Dan_LaCoutre_0001.jpg", "John_Spencer/John_Spencer_0002.jpg",
                                  "Ray_Allen/Ray_Allen_0002.jpg"])
def test_closed_eyes_are_not_open(name: str) -> None:
    """LFW faces with their eyes shut (checked by eye); the 68-point rule called them closed too."""
    faces = _faces(data_path("lfw", "images", name), "ALL")
    assert faces[0]["EyesOpen"]["Value"] is False


@pytest.mark.parametrize("parts", [("faces", "face_recognition", "obama.jpg"),
                                   ("faces", "face_recognition", "biden.jpg"),
                                   ("lfw", "images", "AJ_Cook", "AJ_Cook_0001.jpg")])
def test_open_eyes_are_open(parts: tuple[str, ...]) -> None:
    assert _faces(data_path(*parts), "ALL")[0]["EyesOpen"]["Value"] is True


@pytest.mark.xfail(strict=True, reason="on this rolled head (~-40 degrees) the mesh's eyelids do not close: EAR "
                   "0.25-0.29 after 2-4 passes, where upright closed eyes on LFW give 0.12-0.15 (docs/faces.md); "
                   "the 68-point predictor it replaces said open too")
def test_eyes_closed_on_a_rolled_head() -> None:
    (f,) = _faces(data_path("faces", "insightface", "pose", "left_wryneck.png"), "ALL")
    assert f["EyesOpen"]["Value"] is False


def test_all_does_not_load_the_68_point_predictor(tmp_path: Any) -> None:
    from clearsight import Engine
    from clearsight.settings import Settings

    engine = Engine(Settings.load(data_dir=str(tmp_path)))
    engine.detect_faces(data_path("faces", "face_recognition", "obama.jpg"), attributes="ALL")
    assert {"mediapipe-face-mesh", "mediapipe-iris"} <= set(engine.models.loaded)
    assert "dlib-shape68" not in engine.models.loaded


def test_never_infers_demographics_or_emotion() -> None:
    f = _faces(data_path("faces", "face_recognition", "obama.jpg"), "ALL")[0]
    for key in ("Gender", "AgeRange", "Emotions", "Smile", "Beard", "Mustache"):
        assert key not in f
    assert f["EyesOpen"]["Value"] is True
    assert 50 <= f["EyesOpen"]["Confidence"] <= 100
    assert isinstance(f["MouthOpen"]["Value"], bool)


@pytest.mark.parametrize("name,roll", [("r0.jpg", 0), ("r90.jpg", 90), ("r180.jpg", 180), ("r270.jpg", -90)])
def test_rotated_images(name: str, roll: float) -> None:
    faces = _faces(data_path("faces", "insightface", "bulk", name))
    assert len(faces) == 1
    got = faces[0]["Pose"]["Roll"]
    assert abs((got - roll + 180) % 360 - 180) < 20, f"Roll {got} for {name}"


def test_pose_signs() -> None:
    def pose(name: str) -> dict[str, float]:
        (face,) = _faces(data_path("faces", "insightface", "pose", name))
        return dict(face["Pose"])

    assert pose("left_face.jpeg")["Yaw"] < -20
    assert pose("right_face.png")["Yaw"] > 20
    assert pose("rise_face.jpeg")["Pitch"] > pose("lower_face.jpeg")["Pitch"] + 5
    assert pose("left_wryneck.png")["Roll"] < -10
    assert pose("right_wryneck.png")["Roll"] > 10


def test_bytes_and_path_agree() -> None:
    path = data_path("faces", "face_recognition", "biden.jpg")
    assert _faces(path) == _faces(path.read_bytes())


def test_bad_attributes_and_bad_image() -> None:
    from clearsight.errors import InvalidParameterException

    path = data_path("faces", "face_recognition", "biden.jpg")
    with pytest.raises(InvalidParameterException, match="DEFAULT or ALL"):
        detect_faces(path, attributes="GENDER")
    with pytest.raises(InvalidImageFormatException):
        detect_faces(data_path("faces", "compreface", "formats", "truncated.jpg"))


def test_index_faces_with_all_returns_the_30_landmarks(collections) -> None:  # type: ignore[no-untyped-def]
    collections.create_collection(collection_id="mesh")
    out = collections.index_faces(collection_id="mesh", image=data_path("faces", "face_recognition", "obama.jpg"),
                                  detection_attributes=["ALL"])
    (record,) = out["FaceRecords"]
    detail = record["FaceDetail"]
    assert len(detail["Landmarks"]) == 30 and "EyesOpen" in detail and "MouthOpen" in detail
