from __future__ import annotations

import io
from pathlib import Path

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


# --- hostile files (findings from an attack on a running server); crafted by bench/hostile_images.py ----
def _hostile():  # type: ignore[no-untyped-def]
    import sys

    from .conftest import ROOT

    sys.path.insert(0, str(ROOT / "bench"))
    import hostile_images

    return hostile_images


@pytest.fixture()
def no_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if Pillow starts decoding pixels: a refusal must come from the headers alone."""
    from PIL import ImageFile

    class PixelsDecoded(BaseException):  # not an Exception: decode() must not translate it
        pass

    def refuse(self: object) -> None:
        raise PixelsDecoded("pixels were decoded before the file was refused")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def _flat(kind: str) -> bytes:
    h, side = _hostile(), 4000  # 16 MP: under the 40 MP limit
    flat = Image.new("RGB", (side, side), (200, 30, 30))
    return {
        "png-palette": lambda: h.save(Image.new("P", (side, side), 0), "PNG"),
        "png-1bit": lambda: h.png_flat(side, side, 1, 0),
        "png-rgb": lambda: h.save(flat, "PNG"),
        "png-16bit": lambda: h.png_flat(side, side, 16, 0),
        "png-palette-interlaced": lambda: h.png_flat(side, side, 1, 3, interlace=1),
        "png-rgba-interlaced": lambda: h.png_flat(side, side, 8, 6, interlace=1),
        "webp-lossless": lambda: h.save(flat, "WEBP", lossless=True),
        "gif": lambda: h.save(Image.new("P", (side, side), 0), "GIF"),
        "tiff-deflate": lambda: h.save(flat, "TIFF", compression="tiff_deflate"),
        "tiff-g4": lambda: h.save(Image.new("1", (side, side), 1), "TIFF", compression="group4"),
    }[kind]()


@pytest.mark.parametrize("kind", ["png-palette", "png-1bit", "png-rgb", "png-16bit", "png-palette-interlaced",
                                  "png-rgba-interlaced", "webp-lossless", "gif", "tiff-deflate", "tiff-g4"])
def test_flat_colour_bombs_are_refused_from_the_header(kind: str, no_pixel_decoding: None) -> None:
    data = _flat(kind)
    with pytest.raises(ImageTooLargeException, match="at most 500x its file size"):
        decode(data)


def test_compression_rule_can_be_turned_off() -> None:
    data = _hostile().save(Image.new("P", (2500, 2500), 0), "PNG")
    with pytest.raises(ImageTooLargeException):
        decode(data)
    assert decode(data, ImageLimits(max_compression_ratio=0)).width == 2500


def test_small_images_may_compress_any_amount() -> None:
    img = decode(_png(1400, 1400))  # 1.96 MP of one colour: within the free 2 megapixels
    assert (img.width, img.height) == (1400, 1400)


def test_every_real_photo_passes_the_compression_rule(data: Path) -> None:
    from clearsight.images import _check_compression

    limits, checked = ImageLimits(), 0
    for folder in ("faces", "coco/images", "ocr"):
        for path in sorted((data / folder).rglob("*")):
            try:
                with Image.open(path) as im:
                    size = im.size
            except Exception:
                continue
            _check_compression(size[0], size[1], path.stat().st_size, limits)
            checked += 1
    assert checked > 300


@pytest.mark.parametrize("make", ["ico_png_bomb", "ico_bmp_bomb"])
def test_ico_entries_are_checked_before_decoding(make: str, no_pixel_decoding: None) -> None:
    with pytest.raises(InvalidImageFormatException, match="at most 256x256"):
        decode(getattr(_hostile(), make)())


def test_ico_with_a_small_embedded_png_decodes() -> None:
    h = _hostile()
    inner = h.save(Image.new("RGB", (128, 128), (1, 2, 3)), "PNG")
    img = decode(h.ico([(128, 128, inner)]))
    assert (img.width, img.height) == (128, 128) and tuple(img.rgb[0, 0]) == (1, 2, 3)


@pytest.mark.parametrize("make", ["png_many_chunks", "jpeg_many_markers", "jpeg_many_scans", "gif_comment_blocks",
                                  "tiff_many_tags", "bmp_rle_eol", "bmp_rle_flat"])
def test_cpu_sinks_in_containers_are_refused_before_decoding(make: str, no_pixel_decoding: None) -> None:
    import time

    data = getattr(_hostile(), make)()
    start = time.process_time()
    with pytest.raises(InvalidImageFormatException):
        decode(data)
    assert time.process_time() - start < 0.25  # before: 0.3 s (TIFF tags) to over 30 s (JPEG scans)


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt", b"iCCP"])
def test_png_metadata_that_inflates_is_bounded(kind: bytes) -> None:
    import zlib

    h = _hostile()
    blob = zlib.compress(bytes(900_000), 9)
    if kind == b"iCCP":  # one profile under the budget decodes; text beyond it is refused
        assert decode(h.png_text_bomb(b"iCCP")).width == 200
        return
    head = b"k%d\x00\x00" if kind == b"zTXt" else b"k%d\x00\x01\x00\x00\x00"
    chunks = [h._chunk(kind, head % i + blob) for i in range(5)]  # 4.5 MB of text in all
    data = h._png(200, 200, 8, 0, zlib.compress(bytes(200 * 201)), before=chunks)
    with pytest.raises(InvalidImageFormatException, match="inflate to more than 4 MB"):
        decode(data)
    assert decode(h._png(200, 200, 8, 0, zlib.compress(bytes(200 * 201)), before=chunks[:4])).width == 200


def test_apng_and_multi_frame_files_give_their_first_frame() -> None:
    h = _hostile()
    for data in (h.apng_frames(50), h.multi_frame("GIF", 50), h.multi_frame("TIFF", 50)):
        img = decode(data)
        assert (img.width, img.height) == (200, 200) and int(img.rgb.max()) == 0


def _face16(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), dtype=np.uint16) * 257


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I", "F-unit", "F-255", "I-wide"])
def test_high_bit_depth_grey_is_scaled_not_clipped(mode: str) -> None:
    path = data_path("faces", "face_recognition", "obama.jpg")
    grey8 = np.asarray(Image.open(path).convert("L"))
    v16 = _face16(path)
    arr = {"I;16": v16, "I;16B": v16.astype(">u2"), "I": v16.astype(np.int32),
           "F-unit": (v16 / 65535.0).astype(np.float32), "F-255": grey8.astype(np.float32),
           "I-wide": grey8.astype(np.int32) * 100_000 - 5_000_000}[mode]
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "TIFF")
    rgb = decode(buf.getvalue()).rgb
    expected = grey8.astype(int)
    if mode == "I-wide":  # no known range: stretched from its minimum to its maximum
        expected = np.round((expected - expected.min()) * 255 / np.ptp(expected)).astype(int)
    assert np.abs(rgb[:, :, 0].astype(int) - expected).max() <= 1
    assert (rgb[:, :, 0] == rgb[:, :, 2]).all()


def test_a_face_is_found_in_a_16_bit_grey_png(tmp_path: Path) -> None:
    from clearsight import detect_faces

    path = data_path("faces", "face_recognition", "obama.jpg")
    out = tmp_path / "obama16.png"
    Image.fromarray(_face16(path)).save(out)
    with Image.open(out) as written:
        assert written.mode == "I;16"
    assert len(detect_faces(out)["FaceDetails"]) == 1


def test_16_bit_rgb_png_keeps_its_colours() -> None:
    path = data_path("faces", "face_recognition", "obama.jpg")
    rgb8 = np.asarray(Image.open(path).convert("RGB")).astype(int)
    rgb = decode(_hostile().rgb48(path)).rgb.astype(int)
    assert np.abs(rgb - rgb8).max() <= 1


@pytest.mark.parametrize("mode", ["CMYK", "LA", "PA", "P", "1", "RGBA"])
def test_other_modes_decode_like_pillow(mode: str) -> None:
    path = data_path("faces", "face_recognition", "obama.jpg")
    src = Image.open(path).convert(mode)
    buf = io.BytesIO()
    src.save(buf, "JPEG" if mode == "CMYK" else "TIFF")
    expected = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    assert (decode(buf.getvalue()).rgb == expected).all()


def test_mpo_gives_its_first_frame() -> None:
    h = _hostile()
    img = decode(h.mpo())
    first = np.asarray(Image.open(h.FACE).convert("RGB"))
    assert img.format == "MPO" and img.rgb.shape == first.shape


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(orientation: int) -> None:
    from PIL import ImageOps

    pixels = np.random.default_rng(orientation).integers(0, 255, (120, 90, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buf.getvalue()))).convert("RGB"))
    assert (decode(buf.getvalue()).rgb == expected).all()


@pytest.mark.parametrize("data", [
    b"\x00\x00\x01\x00\x05\x00" + b"\x00" * 20,  # ICO directory cut short
    b"II*\x00\xff\xff\xff\x00",  # TIFF whose IFD points past the end
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x10\x00",  # PNG header cut short
    b"BM" + b"\x00" * 12 + b"\x28\x00\x00\x00",  # BMP header cut short
])
def test_broken_headers_are_invalid_format_never_a_crash(data: bytes) -> None:
    with pytest.raises(InvalidImageFormatException):
        decode(data)


@pytest.mark.parametrize("name", ["test.pgm", "test.ppm", "test.jpeg2000"])
def test_other_formats_pillow_knows_are_refused_by_name(name: str) -> None:
    with pytest.raises(InvalidImageFormatException, match="not one of JPEG, PNG"):
        decode(data_path("ocr", "pytesseract", name))
