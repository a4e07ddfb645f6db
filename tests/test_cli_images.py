"""``clearsight labels`` and ``clearsight text`` on real images, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from clearsight.cli import main
from tests.conftest import data_path


def _json_lines(out: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_text_json_one_image(capsys: pytest.CaptureFixture[str]) -> None:
    image = str(data_path("ocr", "tesseract", "phototest.tif"))
    assert main(["text", image, "--json"]) == 0
    (result,) = _json_lines(capsys.readouterr().out)
    assert result["Image"] == image
    lines = [d["DetectedText"] for d in result["TextDetections"] if d["Type"] == "LINE"]
    assert lines[0] == "This is a lot of 12 point text to test the"
    assert result["TextModelVersion"]


def test_text_several_images_human_and_draw(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = [str(data_path("ocr", "tesseract", "phototest.tif")), str(data_path("ocr", "clova", "demo_9.jpg"))]
    out = tmp_path / "text.png"
    assert main(["text", *images, "--draw", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "8 lines" in printed and "BALLYS" in printed
    for n in (1, 2):
        with Image.open(tmp_path / f"text_{n}.png") as drawn:
            assert drawn.size[0] > 0


def test_labels_json_several_images(capsys: pytest.CaptureFixture[str]) -> None:
    images = [str(data_path("coco", "images", name)) for name in ("000000005037.jpg", "000000001532.jpg")]
    assert main(["labels", *images, "--json", "--min-confidence", "60"]) == 0
    results = _json_lines(capsys.readouterr().out)
    assert [r["Image"] for r in results] == images
    for r in results:
        assert set(r) == {"Image", "Labels", "LabelModelVersion"}
        assert all(label["Confidence"] >= 60 for label in r["Labels"])
    assert "Bus" in {label["Name"] for label in results[0]["Labels"]}
    assert "Car" in {label["Name"] for label in results[1]["Labels"]}


def test_labels_human_properties_and_draw(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = str(data_path("faces", "dlib_boxes", "dogs.jpg"))
    out = tmp_path / "labels.png"
    assert main(["labels", image, "--properties", "--max-labels", "5", "--draw", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "5 labels" in printed and "Dog" in printed and "quality: brightness" in printed
    with Image.open(out) as drawn, Image.open(image) as original:
        assert drawn.size == original.size


@pytest.mark.parametrize("command", ["text", "labels"])
def test_bad_image_is_reported_and_the_rest_go_on(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    bad = str(data_path("faces", "compreface", "formats", "truncated.jpg"))
    good = str(data_path("ocr", "tesseract", "phototest.tif"))
    assert main([command, bad, good, "--json"]) == 1
    captured = capsys.readouterr()
    first, second = _json_lines(captured.out)
    assert first["Image"] == bad and first["Error"]["Code"] == "InvalidImageFormatException"
    assert set(first) == {"Image", "Error"} and first["Error"]["Message"]
    assert second["Image"] == good and "Error" not in second
    assert "InvalidImageFormatException" in captured.err
