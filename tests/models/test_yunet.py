"""YuNet on onnxruntime (prepare/yunet.py's transcription) gives libfacedetection's own detections.

The library is the yuface wheel the weights were read from; each photo goes through both, at the
sizes the detector feeds YuNet (longest side 640, the 320 px coarse pass, a tile at full size, the
90-degree rotation): same number of faces, boxes and landmarks within 1 px, scores within 1 point.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from clearsight.images import decode
from clearsight.models import detector
from clearsight.models.loader import ModelLoader
from clearsight.models.prepare import yunet
from clearsight.settings import Settings

from ..conftest import DATA, data_path

PHOTOS = [
    ("faces", "insightface", "t1.jpg"),
    ("faces", "face_recognition", "obama-480p.jpg"),
    ("faces", "face_recognition", "two_people.jpg"),
    ("faces", "deepface", "selfie-many-people.jpg"),
    ("faces", "deepface", "couple.jpg"),
    ("faces", "insightface", "bulk", "r90.jpg"),
    ("faces", "compreface", "sample_images", "017_0.jpg"),  # no face
    *(("coco", "images", p.name) for p in sorted((DATA / "coco" / "images").glob("*.jpg"))[:12]),
    *(("lfw", "images", p.parent.name, p.name) for p in sorted((DATA / "lfw" / "images").glob("A*/*_0001.jpg"))[:8]),
]


@pytest.fixture(scope="module")
def session() -> object:
    pytest.importorskip("yuface", reason="libfacedetection (the yuface wheel) is the reference")
    models = ModelLoader.from_settings(Settings.load())
    return models.get("yunet", detector.YuNetDetector).session


def _inputs(bgr: np.ndarray) -> list[np.ndarray]:
    """The images the detector gives YuNet for this photo (its passes), plus a rotation."""
    h, w = bgr.shape[:2]
    out = []
    for side in (640, detector.YuNetDetector.COARSE_SIDE):
        scale = min(1.0, side / max(h, w))
        out.append(bgr if scale == 1.0 else cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    out.append(np.ascontiguousarray(bgr[:640, :640]))  # a tile at full resolution (odd sizes, not /32)
    out.append(cv2.rotate(out[0], cv2.ROTATE_90_CLOCKWISE))
    out.append(cv2.copyMakeBorder(out[0][:200, :200], 0, 100, 0, 100, cv2.BORDER_REFLECT_101))  # an edge crop
    return out


@pytest.mark.parametrize("parts", PHOTOS, ids=lambda p: "/".join(p[-2:]))
def test_onnx_gives_the_librarys_detections(parts: tuple[str, ...], session: object) -> None:
    bgr = np.ascontiguousarray(decode(data_path(*parts)).rgb[:, :, ::-1])
    for img in _inputs(bgr):
        theirs = yunet.libfacedetection_detect(img)
        ours = detector._raw_detect(session, img)  # type: ignore[arg-type]
        assert ours.shape == theirs.shape, f"{img.shape}: {len(ours)} faces, the library {len(theirs)}"
        if len(ours):
            assert np.abs(ours[:, 0] - theirs[:, 0]).max() <= 1  # score, 0-100
            assert np.abs(ours[:, 1:] - theirs[:, 1:]).max() <= 1  # box and landmarks, px


def test_transcription_is_reproducible(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Converting the installed wheel's library again gives the card's file, byte for byte."""
    yuface = pytest.importorskip("yuface")
    from pathlib import Path

    from clearsight.models.files import sha256_file
    from clearsight.models.registry import CARDS

    library = (Path(yuface.__file__).parent / "libfacedetection.so.v0.0.3").read_bytes()
    if yunet.sha256_bytes(library) != yunet.LIBRARY[1]:
        pytest.skip("the installed yuface is not the wheel YuNet was transcribed from")
    yunet.convert(library, tmp_path / "yunet.onnx")
    assert sha256_file(tmp_path / "yunet.onnx") == CARDS["yunet"].sha256


def test_outside_share_and_clip_box() -> None:
    from clearsight import geometry

    assert geometry.outside_share(np.array([-60, 400, 60, 560], np.float32), 600, 604) == 0.5
    assert geometry.outside_share(np.array([100, 100, 150, 160], np.float32), 600, 604) == 0.0
    assert geometry.outside_share(np.array([-70, 10, -10, 80], np.float32), 600, 604) == 1.0
    assert geometry.clip_box(np.array([-60, 400, 60, 660], np.float32), 600, 604).tolist() == [0, 400, 60, 604]


def test_a_face_cut_by_the_left_edge_is_found_only_with_the_mirrored_border() -> None:
    """The deepface selfie's left-edge face (one eye and the nose in the frame): YuNet scores it 0.33
    on the plain image and about 0.9 with the mirrored border."""
    from clearsight import geometry

    rgb = decode(data_path("faces", "deepface", "selfie-many-people.jpg")).rgb
    yn = ModelLoader.from_settings(Settings.load()).get("yunet", detector.YuNetDetector)
    truth = np.array([0, 402, 60, 552], np.float32)

    def best_iou(mirror: bool) -> float:
        found = yn.detect(rgb, min_confidence=0.8, mirror_edges=mirror)
        return max((geometry.iou(geometry.clip_box(d.box, *rgb.shape[1::-1]), truth) for d in found), default=0.0)

    assert best_iou(False) < 0.4 <= best_iou(True)
