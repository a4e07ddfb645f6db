"""DetectText and DetectLabels through a real boto3 client against the real server."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from ..conftest import data_path
from .conftest import Server


def img(*parts: str) -> bytes:
    return data_path(*parts).read_bytes()


def test_detect_text(server: Server) -> None:
    rk = server.client()
    top = {"BoundingBox": {"Left": 0, "Top": 0, "Width": 1, "Height": 0.4}}
    out = rk.detect_text(Image={"Bytes": img("ocr", "tesseract", "phototest.tif")},
                         Filters={"WordFilter": {"MinConfidence": 50}, "RegionsOfInterest": [top]})
    lines = [d["DetectedText"] for d in out["TextDetections"] if d["Type"] == "LINE"]
    assert lines == ["This is a lot of 12 point text to test the", "ocr code and see if it works on all types",
                     "of file format."]
    words = [d for d in out["TextDetections"] if d["Type"] == "WORD"]
    assert all(w["ParentId"] < len(lines) for w in words) and len(words) == 24
    assert out["TextModelVersion"]


def test_detect_labels(server: Server) -> None:
    rk = server.client()
    out = rk.detect_labels(Image={"Bytes": img("coco", "images", "000000005037.jpg")}, MaxLabels=10, MinConfidence=60,
                           Features=["GENERAL_LABELS", "IMAGE_PROPERTIES"],
                           Settings={"GeneralLabels": {"LabelCategoryInclusionFilters": ["Vehicles and Automotive"]},
                                     "ImageProperties": {"MaxDominantColors": 3}})
    names = {label["Name"] for label in out["Labels"]}
    assert {"Bus", "Car"} <= names and "Person" not in names
    bus = next(label for label in out["Labels"] if label["Name"] == "Bus")
    assert bus["Instances"][0]["BoundingBox"]["Width"] > 0.2
    assert bus["Parents"] == [{"Name": "Vehicle"}, {"Name": "Transportation"}]
    assert len(out["ImageProperties"]["DominantColors"]) <= 3
    assert out["LabelModelVersion"]


def test_bad_image_and_parameters(server: Server) -> None:
    rk = server.client()
    with pytest.raises(ClientError) as bad:
        rk.detect_text(Image={"Bytes": img("faces", "compreface", "formats", "corrupted.png")})
    assert bad.value.response["Error"]["Code"] == "InvalidImageFormatException"
    with pytest.raises(ClientError) as low:
        rk.detect_labels(Image={"Bytes": img("coco", "images", "000000005037.jpg")}, MinConfidence=120)
    assert low.value.response["Error"]["Code"] in {"InvalidParameterException", "ValidationException"}
