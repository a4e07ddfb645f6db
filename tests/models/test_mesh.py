"""MediaPipe Face Mesh on real photos: the prepared file is the card's, 468 points land on the face,
the named points are where their names say, and the crop geometry maps back exactly."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from clearsight.models import mesh as fm
from clearsight.models.files import sha256_file
from clearsight.models.loader import ModelLoader
from clearsight.models.mesh import FaceMesh
from clearsight.models.registry import CARDS
from tests.conftest import data_path

CARD = CARDS["mediapipe-face-mesh"]


def _rgb(*parts: str) -> np.ndarray:
    return np.asarray(Image.open(data_path(*parts)).convert("RGB"))


@pytest.fixture(scope="module")
def models(engine) -> ModelLoader:  # type: ignore[no-untyped-def]
    loader: ModelLoader = engine.models
    return loader


def test_card_sha256_is_the_prepared_file(models: ModelLoader) -> None:
    assert CARD.prepared_file == "mediapipe-face-mesh.onnx"
    assert sha256_file(Path(models.model_dir) / CARD.prepared_file) == CARD.sha256
    assert CARD.licence.startswith("Apache-2.0") and "MediaPipe" in CARD.licence
    assert "@mediapipe/face_mesh" in CARD.origin and CARD.input_size == (192, 192)


def test_crop_transform_maps_box_centre_and_levels_the_eyes() -> None:
    box = np.array([100, 50, 200, 170], np.float32)
    eyes = np.array([[120, 100], [180, 130]], np.float32)  # tilted ~27 degrees
    m = fm.crop_transform(box, eyes, 192)
    centre = m[:, :2] @ np.array([150, 110]) + m[:, 2]
    np.testing.assert_allclose(centre, [96, 96], atol=1e-6)
    e = eyes @ m[:, :2].T + m[:, 2]
    assert abs(e[0, 1] - e[1, 1]) < 1e-4 and e[0, 0] < e[1, 0]  # level, left still on the left
    side = np.linalg.norm(m[:, 0]) ** -1 * 192  # pixels of the image across the crop
    assert side == pytest.approx(1.5 * 120, rel=1e-6)


@pytest.mark.parametrize("parts", [
    ("lfw", "images", "AJ_Cook", "AJ_Cook_0001.jpg"),
    ("faces", "insightface", "t1.jpg"),
    ("faces", "face_recognition", "obama.jpg"),
    ("faces", "insightface", "pose", "left_wryneck.png"),
])
def test_468_points_land_in_the_face_box(parts: tuple[str, ...], engine) -> None:  # type: ignore[no-untyped-def]
    rgb = _rgb(*parts)
    faces = engine.faces.detect(rgb)
    assert faces
    points, prob = engine.models.get("mediapipe-face-mesh", FaceMesh).run(
        rgb, [f.box for f in faces], [f.points[:2] for f in faces])
    assert points.shape == (len(faces), fm.COUNT, 2) and points.dtype == np.float32
    assert np.all(prob > 0.9)  # the network's own face flag
    for face, pts in zip(faces, points, strict=True):
        x1, y1, x2, y2 = face.box
        inside = (pts[:, 0] >= x1) & (pts[:, 0] <= x2) & (pts[:, 1] >= y1) & (pts[:, 1] <= y2)
        assert inside.mean() >= 0.9, inside.mean()  # the forehead rim may pass the box's top
        margin = 0.15 * max(x2 - x1, y2 - y1)
        assert np.all((pts[:, 0] >= x1 - margin) & (pts[:, 0] <= x2 + margin)
                      & (pts[:, 1] >= y1 - margin) & (pts[:, 1] <= y2 + margin))
        # the five points are where their names say, and close to the detector's
        five = fm.five_points(pts)
        iod = float(np.linalg.norm(five[1] - five[0]))
        assert five[0, 0] < five[1, 0] and five[3, 0] < five[4, 0]  # image left before image right
        assert np.median(np.linalg.norm(five - face.points, axis=1)) < 0.35 * iod


def test_the_second_pass_fixes_a_rolled_head(engine) -> None:  # type: ignore[no-untyped-def]
    """left_wryneck: the head rolled ~-40 degrees, where YuNet's eye points are off. The second pass
    re-crops on the first pass's eye line; its eyes are then level with each other in the crop of
    the third pass (converged)."""
    rgb = _rgb("faces", "insightface", "pose", "left_wryneck.png")
    (face, *_) = engine.faces.detect(rgb)
    mesh = engine.models.get("mediapipe-face-mesh", FaceMesh)
    two = mesh.run(rgb, [face.box], [face.points[:2]], passes=2)[0][0]
    three = mesh.run(rgb, [face.box], [face.points[:2]], passes=3)[0][0]
    iod = float(np.linalg.norm(fm.five_points(three)[1] - fm.five_points(three)[0]))
    assert np.median(np.linalg.norm(two - three, axis=1)) < 0.1 * iod
    eyes = fm.five_points(two)[:2]
    roll = np.degrees(np.arctan2(eyes[1, 1] - eyes[0, 1], eyes[1, 0] - eyes[0, 0]))
    assert roll < -25  # the subject's head rolls towards the image's left shoulder


@pytest.mark.parametrize("parts", [("faces", "face_recognition", "obama.jpg"), ("faces", "insightface", "t1.jpg"),
                                   ("faces", "insightface", "pose", "right_face.png")])
def test_iris_centres_sit_inside_the_eyes(parts: tuple[str, ...], engine) -> None:  # type: ignore[no-untyped-def]
    """MediaPipe Iris's pupils (attributes=ALL leftPupil / rightPupil): inside each eye's mesh
    contour, between its corners, the image-left pupil left of the image-right one."""
    assert sha256_file(Path(engine.models.model_dir) / "mediapipe-iris.onnx") == CARDS["mediapipe-iris"].sha256
    rgb = _rgb(*parts)
    faces = engine.faces.detect(rgb)
    engine.faces.add_mesh(rgb, faces)
    meshes = [f.mesh for f in faces]
    iris, contour = engine.models.get("mediapipe-iris", fm.Iris).run(rgb, meshes)
    assert iris.shape == (len(faces), 2, 5, 2) and contour.shape == (len(faces), 2, 71, 2)
    for mesh, pupils in zip(meshes, iris[:, :, 0], strict=True):
        assert pupils[0, 0] < pupils[1, 0]
        for eye, pupil in zip((fm.EYE_IMAGE_LEFT, fm.EYE_IMAGE_RIGHT), pupils, strict=True):
            poly = mesh[list(eye)].astype(np.float32)
            width = float(np.linalg.norm(poly[0] - poly[8]))
            # inside the contour, or within a tenth of the eye's width of it (lids hide part of the iris)
            assert cv2.pointPolygonTest(poly, (float(pupil[0]), float(pupil[1])), True) > -0.1 * width


def test_landmark_names_cover_rekognition() -> None:
    import botocore.loaders

    model = botocore.loaders.Loader().load_service_model("rekognition", "service-2")
    assert list(fm.LANDMARKS) == model["shapes"]["LandmarkType"]["enum"]
    flat = [i for v in fm.LANDMARKS.values() for i in (v if isinstance(v, tuple) else (v,))]
    assert all(0 <= i < fm.COUNT for i in flat)


def test_mesh_aligned_model_version_embeds_on_the_mesh_points() -> None:
    """clearsight-face-fused-3: fused-2 with MobileFaceNet aligned on the mesh's 5 points (mesh-1: the
    same MobileFaceNet alone); the older versions' recipes load with align_with_mesh False."""
    from clearsight.calibration import Calibration, available_models
    from clearsight.faces import FaceAnalyzer
    from clearsight.settings import Settings

    known = available_models()
    mesh_aligned = {"clearsight-face-fused-3", "clearsight-face-mesh-1"}
    assert known["default"] == "clearsight-face-mesh-1"  # the default since it measured 99.47% on View 2
    for name, entry in known["models"].items():
        assert Calibration.load(model=name).recipe.align_with_mesh == (name in mesh_aligned)
        if name not in mesh_aligned:
            assert "align_with_mesh" not in entry["recipe"]  # the older entries are as they were
    settings = Settings.load()
    analyzer = FaceAnalyzer(settings, Calibration.load(model="clearsight-face-fused-3"))
    assert analyzer.model_names[-1] == "mediapipe-face-mesh"
    rgb = _rgb("faces", "face_recognition", "obama.jpg")
    (face,) = analyzer.detect(rgb, max_faces=1)
    analyzer.embed(rgb, [face])
    assert face.embedding is not None and face.mesh is not None
    expected = np.sqrt(0.4) * analyzer.mobilefacenet.embed(rgb, [fm.five_points(face.mesh)])[0]
    np.testing.assert_allclose(face.embedding[:192], expected, atol=1e-6)
    assert abs(float(np.linalg.norm(face.embedding)) - 1) < 1e-5
