from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from clearsight.errors import ImageTooLargeException, InvalidImageFormatException, InvalidParameterException
from clearsight.images import ImageLimits, decode

from .conftest import data_path

FORMATS = ["bmp", "gif", "ico", "jpeg", "png", "tiff", "webp"]


@pytest.mark.parametrize("ext", FORMATS)
def test_every_supported_format_decodes(ext: str) -> None:
    from clearsight import detect_faces

    path = data_path("faces", "compreface", "formats", f"einstein.{ext}")
    img = decode(path)
    assert img.rgb.dtype == np.uint8 and img.rgb.ndim == 3 and img.rgb.shape[2] == 3
    assert len(img.sha256) == 64
    assert len(detect_faces(path)["FaceDetails"]) == 1


@pytest.mark.parametrize("name", ["corrupted.png", "empty.png", "truncated.jpg"])
def test_bad_files_give_invalid_image_format(name: str) -> None:
    path = data_path("faces", "compreface", "formats", name)
    with pytest.raises(InvalidImageFormatException):
        decode(path)
    with pytest.raises(InvalidImageFormatException):
        decode(path.read_bytes())


def test_random_bytes_are_invalid_format() -> None:
    with pytest.raises(InvalidImageFormatException):
        decode(b"\x00\x01not an image at all" * 10)


def _png(width: int, height: int, colour: int = 128) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (colour, colour, colour)).save(buf, "PNG")
    return buf.getvalue()


def test_too_many_bytes() -> None:
    with pytest.raises(ImageTooLargeException, match="limit"):
        decode(_png(200, 200), ImageLimits(max_bytes=100))


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = _png(9000, 9000)  # ~80 MP of one colour: a small file
    assert len(bomb) < 5 * 1024 * 1024
    with pytest.raises(ImageTooLargeException, match="pixels"):
        decode(bomb)


def test_too_small() -> None:
    with pytest.raises(InvalidParameterException, match="minimum"):
        decode(_png(60, 200))


def test_exif_orientation_is_applied() -> None:
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    Image.new("RGB", (300, 100), (10, 20, 30)).save(buf, "JPEG", exif=exif)
    img = decode(buf.getvalue())
    assert (img.width, img.height) == (100, 300)


def test_missing_file_and_wrong_type() -> None:
    with pytest.raises(InvalidParameterException, match="not found"):
        decode("/nonexistent/photo.jpg")
    with pytest.raises(InvalidParameterException):
        decode(12345)  # type: ignore[arg-type]
