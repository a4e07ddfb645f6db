"""DetectLabels on real COCO photos: detector + classifier through the Engine, Rekognition's shape."""

from __future__ import annotations

from typing import Any

import pytest

from clearsight.errors import InvalidImageFormatException, InvalidParameterException
from clearsight.labels import LABEL_MODEL_VERSION
from tests.conftest import data_path

DOGS = ("faces", "dlib_boxes", "dogs.jpg")  # dogs, no people
CATS = ("coco", "images", "000000010363.jpg")  # COCO: cats
STREET = ("coco", "images", "000000005037.jpg")  # COCO: a bus, cars, people


def _by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {label["Name"]: label for label in result["Labels"]}


@pytest.fixture(scope="module")
def dogs(engine) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return dict(engine.detect_labels(str(data_path(*DOGS)), min_confidence=0))


def test_response_shape_is_rekognitions(dogs: dict[str, Any]) -> None:
    assert set(dogs) == {"Labels", "LabelModelVersion"}
    assert dogs["LabelModelVersion"] == LABEL_MODEL_VERSION
    confidences = [label["Confidence"] for label in dogs["Labels"]]
    assert confidences == sorted(confidences, reverse=True)
    names = [label["Name"] for label in dogs["Labels"]]
    assert len(names) == len(set(names))
    for label in dogs["Labels"]:
        assert set(label) == {"Name", "Confidence", "Instances", "Parents", "Aliases", "Categories"}
        assert 0 <= label["Confidence"] <= 100
        for key in ("Parents", "Aliases", "Categories"):
            assert all(set(item) == {"Name"} for item in label[key])
        for parent in label["Parents"]:  # every parent is a label too, at least as confident
            assert parent["Name"] in names
        for inst in label["Instances"]:
            assert set(inst) == {"BoundingBox", "Confidence"}
            assert all(0 <= inst["BoundingBox"][k] <= 1 for k in ("Width", "Height", "Left", "Top"))


def test_dogs_have_boxes_and_a_taxonomy(engine) -> None:  # type: ignore[no-untyped-def]
    labels = _by_name(engine.detect_labels(str(data_path(*DOGS))))  # default MinConfidence 55
    assert {"Dog", "Animal", "Pet", "Mammal"} <= set(labels)
    dog = labels["Dog"]
    assert dog["Confidence"] >= 55 and dog["Instances"]
    assert {p["Name"] for p in dog["Parents"]} >= {"Animal", "Pet", "Mammal", "Canine"}
    assert {c["Name"] for c in dog["Categories"]} == {"Animals and Pets"}
    assert labels["Animal"]["Confidence"] >= dog["Confidence"]
    assert all(inst["Confidence"] >= 55 for label in labels.values() for inst in label["Instances"])


def test_cats_and_a_street(engine) -> None:  # type: ignore[no-untyped-def]
    cats = _by_name(engine.detect_labels(str(data_path(*CATS))))
    assert "Cat" in cats and cats["Cat"]["Instances"]
    street = _by_name(engine.detect_labels(str(data_path(*STREET))))
    assert "Bus" in street and "Car" in street and len(street["Car"]["Instances"]) >= 2
    assert {p["Name"] for p in street["Car"]["Parents"]} == {"Vehicle", "Transportation"}
    assert "Person" in street and street["Person"]["Aliases"] == [{"Name": "Human"}]


def test_min_confidence_and_max_labels(engine, dogs: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    image = str(data_path(*DOGS))
    strict = engine.detect_labels(image, min_confidence=90)
    assert all(label["Confidence"] >= 90 for label in strict["Labels"])
    assert len(strict["Labels"]) < len(dogs["Labels"])
    top3 = engine.detect_labels(image, max_labels=3, min_confidence=0)
    assert [lb["Name"] for lb in top3["Labels"]] == [lb["Name"] for lb in dogs["Labels"][:3]]
    assert engine.detect_labels(image, max_labels=0)["Labels"] == []


def test_general_label_filters(engine) -> None:  # type: ignore[no-untyped-def]
    image = str(data_path(*DOGS))

    def names(settings: dict[str, Any]) -> set[str]:
        return {lb["Name"] for lb in engine.detect_labels(image, settings={"GeneralLabels": settings})["Labels"]}

    everything = names({})
    assert names({"LabelInclusionFilters": ["Dog", "Person"]}) == {"Dog", "Person"} & everything
    assert "Dog" not in names({"LabelExclusionFilters": ["Dog"]})
    animals = names({"LabelCategoryInclusionFilters": ["Animals and Pets"]})
    assert "Dog" in animals and "Person" not in animals
    assert not animals & names({"LabelCategoryExclusionFilters": ["Animals and Pets"]})


def test_image_properties(engine) -> None:  # type: ignore[no-untyped-def]
    result = engine.detect_labels(str(data_path(*DOGS)), features=["GENERAL_LABELS", "IMAGE_PROPERTIES"],
                                  settings={"ImageProperties": {"MaxDominantColors": 4}})
    props = result["ImageProperties"]
    assert set(props) == {"Quality", "DominantColors", "Foreground", "Background"}
    assert set(props["Quality"]) == {"Brightness", "Sharpness", "Contrast"}
    assert all(0 <= v <= 100 for v in props["Quality"].values())
    colors = props["DominantColors"]
    assert 1 <= len(colors) <= 4
    assert sum(c["PixelPercent"] for c in colors) <= 100.01
    for c in colors:
        assert set(c) == {"Red", "Green", "Blue", "HexCode", "CSSColor", "SimplifiedColor", "PixelPercent"}
        assert c["HexCode"] == f"#{c['Red']:02X}{c['Green']:02X}{c['Blue']:02X}"
    for part in ("Foreground", "Background"):
        assert set(props[part]["Quality"]) == {"Brightness", "Sharpness"} and props[part]["DominantColors"]
    dog = _by_name(result)["Dog"]
    assert all(len(inst["DominantColors"]) <= 4 for inst in dog["Instances"])
    only = engine.detect_labels(str(data_path(*DOGS)), features=["IMAGE_PROPERTIES"])
    assert "Labels" not in only and only["ImageProperties"]["Quality"] == props["Quality"]


@pytest.mark.parametrize("name", ["corrupted.png", "empty.png", "truncated.jpg"])
def test_bad_images_are_refused(engine, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidImageFormatException):
        engine.detect_labels(str(data_path("faces", "compreface", "formats", name)))


@pytest.mark.parametrize("kwargs", [
    {"min_confidence": 101}, {"min_confidence": "high"}, {"max_labels": -1}, {"max_labels": 2.5},
    {"features": ["FACES"]}, {"features": []},
    {"settings": {"GeneralLabels": {"LabelInclusionFilters": "Dog"}}},
    {"settings": {"GeneralLabels": {"Labels": ["Dog"]}}},
    {"settings": {"ImageProperties": {"MaxDominantColors": 21}}},
    {"settings": {"Other": {}}},
])
def test_bad_parameters_are_refused(engine, kwargs: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidParameterException):
        engine.detect_labels(str(data_path(*DOGS)), **kwargs)


def test_huge_image_is_downscaled(engine) -> None:  # type: ignore[no-untyped-def]
    import cv2

    rgb = engine.decode(str(data_path(*DOGS))).rgb
    big = cv2.resize(rgb, (rgb.shape[1] * 6, rgb.shape[0] * 6), interpolation=cv2.INTER_LINEAR)  # ~11 MP
    labels = _by_name(engine.detect_labels(big))
    assert "Dog" in labels and labels["Dog"]["Instances"]
