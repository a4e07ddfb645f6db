"""DetectText on real scans and photos: PP-OCR through the Engine, Rekognition's response shape."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image

from clearsight.errors import InvalidImageFormatException, InvalidParameterException
from clearsight.text import MAX_WORDS, TextFilters, response
from tests.conftest import data_path


def _words(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in result["TextDetections"] if d["Type"] == "WORD"]


def _lines(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in result["TextDetections"] if d["Type"] == "LINE"]


def _expected(name: str) -> list[str]:
    text = data_path("ocr", "tesseract", name).read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def phototest(engine) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return dict(engine.detect_text(str(data_path("ocr", "tesseract", "phototest.tif"))))


def test_phototest_lines_are_read_exactly(phototest: dict[str, Any]) -> None:
    assert [line["DetectedText"] for line in _lines(phototest)] == _expected("phototest.txt")


def test_response_shape_is_rekognitions(phototest: dict[str, Any]) -> None:
    assert set(phototest) == {"TextDetections", "TextModelVersion"}
    detections = phototest["TextDetections"]
    assert [d["Id"] for d in detections] == list(range(len(detections)))
    lines = _lines(phototest)
    assert detections[: len(lines)] == lines  # lines first, like Rekognition
    line_ids = {line["Id"] for line in lines}
    for d in detections:
        assert set(d) >= {"DetectedText", "Type", "Id", "Confidence", "Geometry"}
        assert 0 <= d["Confidence"] <= 100
        box = d["Geometry"]["BoundingBox"]
        assert set(box) == {"Width", "Height", "Left", "Top"}
        assert all(0 <= box[k] <= 1 for k in box) and box["Left"] + box["Width"] <= 1 + 1e-6
        assert len(d["Geometry"]["Polygon"]) == 4
        assert all(0 <= p["X"] <= 1 and 0 <= p["Y"] <= 1 for p in d["Geometry"]["Polygon"])
        if d["Type"] == "WORD":
            assert d["ParentId"] in line_ids
        else:
            assert "ParentId" not in d
    for line in lines:  # a line's words spell it, in order, inside its box
        words = [w for w in _words(phototest) if w["ParentId"] == line["Id"]]
        assert " ".join(w["DetectedText"] for w in words) == line["DetectedText"]
        lb = line["Geometry"]["BoundingBox"]
        for w in words:
            wb = w["Geometry"]["BoundingBox"]
            assert wb["Left"] >= lb["Left"] - 0.01 and wb["Left"] + wb["Width"] <= lb["Left"] + lb["Width"] + 0.01
        lefts = [w["Geometry"]["BoundingBox"]["Left"] for w in words]
        assert lefts == sorted(lefts)


@pytest.mark.parametrize("name", ["phototest-rotated-L.png", "phototest-rotated-180.png"])
def test_rotated_pages_are_read_upright(engine, name: str) -> None:  # type: ignore[no-untyped-def]
    result = engine.detect_text(str(data_path("ocr", "tesseract", name)))
    lines = [line["DetectedText"] for line in _lines(result)]
    assert lines == _expected("phototest.txt")
    # the polygon starts at the text's own top-left: for a page turned upside down that is
    # the bottom-right of the image
    first = _lines(result)[0]["Geometry"]["Polygon"][0]
    if "180" in name:
        assert first["X"] > 0.5 and first["Y"] > 0.5


def test_word_filter(engine) -> None:  # type: ignore[no-untyped-def]
    lines = engine.text.read(_phototest_rgb(engine))
    all_words = sum(len(line.words) for line in lines)
    strict = response(lines, 640, 480, TextFilters.parse({"WordFilter": {"MinConfidence": 99.9}}))
    kept = _words(strict)
    assert 0 < len(kept) < all_words
    assert all(w["Confidence"] >= 99.9 for w in kept)
    for line in _lines(strict):  # lines shrink to the words left in them
        words = [w["DetectedText"] for w in kept if w["ParentId"] == line["Id"]]
        assert line["DetectedText"] == " ".join(words)
    tall = response(lines, 640, 480, TextFilters.parse({"WordFilter": {"MinBoundingBoxHeight": 0.5}}))
    assert tall["TextDetections"] == []
    wide = response(lines, 640, 480, TextFilters.parse({"WordFilter": {"MinBoundingBoxWidth": 0.1}}))
    assert all(w["Geometry"]["BoundingBox"]["Width"] >= 0.1 for w in _words(wide)) and _words(wide)


def test_regions_of_interest(engine) -> None:  # type: ignore[no-untyped-def]
    lines = engine.text.read(_phototest_rgb(engine))
    top = {"BoundingBox": {"Left": 0.0, "Top": 0.0, "Width": 1.0, "Height": 0.4}}
    result = response(lines, 640, 480, TextFilters.parse({"RegionsOfInterest": [top]}))
    assert [line["DetectedText"] for line in _lines(result)] == _expected("phototest.txt")[:3]
    polygon = {"Polygon": [{"X": 0.0, "Y": 0.0}, {"X": 0.3, "Y": 0.0}, {"X": 0.3, "Y": 1.0}, {"X": 0.0, "Y": 1.0}]}
    left = response(lines, 640, 480, TextFilters.parse({"RegionsOfInterest": [polygon]}))
    assert _words(left) and all(
        w["Geometry"]["BoundingBox"]["Left"] + w["Geometry"]["BoundingBox"]["Width"] / 2 < 0.31 for w in _words(left))


def test_at_most_100_words(engine) -> None:  # type: ignore[no-untyped-def]
    rgb = _phototest_rgb(engine)
    page = np.concatenate([rgb, rgb], axis=0)  # 140 words
    result = engine.detect_text(page)
    words = _words(result)
    assert len(words) == MAX_WORDS
    assert {w["ParentId"] for w in words} == {line["Id"] for line in _lines(result)}


def test_huge_image_is_downscaled(engine) -> None:  # type: ignore[no-untyped-def]
    import cv2

    rgb = cv2.resize(_phototest_rgb(engine), (4480, 3360), interpolation=cv2.INTER_CUBIC)  # 15 MP
    result = engine.detect_text(rgb)
    assert [line["DetectedText"] for line in _lines(result)][:2] == _expected("phototest.txt")[:2]


def test_scene_text_and_receipt(engine) -> None:  # type: ignore[no-untyped-def]
    scene = engine.detect_text(str(data_path("ocr", "mmocr", "icdar2015_images", "img_1.jpg")))
    assert "Theatre" in {w["DetectedText"] for w in _words(scene)}
    sign = engine.detect_text(str(data_path("ocr", "clova", "demo_9.jpg")))  # a tight crop of one word
    assert [line["DetectedText"] for line in _lines(sign)] == ["BALLYS"]
    # under Rekognition's 80 px minimum the Engine refuses an image; the reader itself still reads it
    with pytest.raises(InvalidParameterException):
        engine.detect_text(str(data_path("ocr", "clova", "demo_2.jpg")))
    crop = engine.text.read(np.asarray(Image.open(data_path("ocr", "clova", "demo_2.jpg")).convert("RGB")))
    assert "SHACK" in " ".join(line.text for line in crop).upper()


@pytest.mark.parametrize("name", ["corrupted.png", "empty.png", "truncated.jpg"])
def test_bad_images_are_refused(engine, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidImageFormatException):
        engine.detect_text(str(data_path("faces", "compreface", "formats", name)))


@pytest.mark.parametrize("filters", [
    {"WordFilter": {"MinConfidence": 101}},
    {"WordFilter": {"MinBoundingBoxHeight": -0.1}},
    {"WordFilter": {"Minimum": 1}},
    {"RegionsOfInterest": [{"BoundingBox": {"Left": 0}}]},
    {"RegionsOfInterest": [{}]},
    {"Regions": []},
    "words",
])
def test_bad_filters_are_refused(engine, filters: Any) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidParameterException):
        engine.detect_text(str(data_path("ocr", "tesseract", "phototest.tif")), filters=filters)


def _phototest_rgb(engine) -> np.ndarray:  # type: ignore[no-untyped-def]
    return engine.decode(str(data_path("ocr", "tesseract", "phototest.tif"))).rgb
