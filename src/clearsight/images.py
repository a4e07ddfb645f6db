"""Image input: bytes or a path in, an RGB uint8 array out, with Rekognition's limits.

Decoding goes through Pillow (JPEG, PNG, WebP, BMP, TIFF, GIF first frame, ICO, MPO first frame), applies
the EXIF orientation, and translates every decoder failure into :class:`InvalidImageFormatException`.

Hostile files are refused from their headers, before any pixel is decoded (docs/caveats.md, "Image limits"):

- width x height at most ``max_pixels``, and no more pixels than the bytes can honestly hold: beyond the
  first 2 megapixels, the decoded RGB size may be at most ``max_compression_ratio`` times the file size
  (flat-colour bombs are 900-75,000x; photos 10-100x, scans and screenshots a few hundred);
- container structures Pillow walks in Python are bounded: PNG chunks, compressed PNG text and ICC
  profiles, JPEG segments and progressive scans, GIF blocks, ICO entries (each embedded image at most
  256x256); RLE-compressed BMP (a pure-Python decoder) is refused.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ClearSightError, ImageTooLargeException, InvalidImageFormatException, InvalidParameterException

ImageInput = bytes | bytearray | memoryview | str | os.PathLike[str] | np.ndarray

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "ICO", "MPO")
_OPENERS = tuple(f for f in SUPPORTED_FORMATS if f != "MPO")  # Pillow's JPEG opener returns MPO files

FREE_PIXELS = 2_000_000  # images this small may compress any amount: decoding them costs little
MAX_PNG_CHUNKS = 8192  # Pillow reads PNG chunks one by one in Python (~5 us each)
MAX_PNG_TEXT_BYTES = 4 * 1024 * 1024  # zTXt, iTXt and iCCP inflated, in all (Pillow allows 64 MB)
MAX_JPEG_SEGMENTS = 1024  # segments before the first scan, walked by Pillow in Python
MAX_JPEG_SCANS = 100  # libjpeg redoes a progressive scan over every block: 50k scans take minutes
MAX_GIF_BLOCKS = 16384  # extension sub-blocks before the first frame, read by Pillow in Python
MAX_TIFF_TAGS = 1024  # tags in the first IFD, parsed by Pillow in Python (~5 us each)
MAX_ICO_ENTRIES = 256
MAX_ICO_SIDE = 256


class ObjectBytes(bytes):
    """Image bytes read from object storage (an S3Object): Rekognition allows 15 MB for these."""


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 5 * 1024 * 1024
    max_object_bytes: int = 15 * 1024 * 1024
    max_pixels: int = 40_000_000
    min_side: int = 80
    max_compression_ratio: int = 500  # 0: no compression check


@dataclass(frozen=True)
class DecodedImage:
    """An RGB image (H, W, 3) uint8, with the sha256 of the bytes it came from."""

    rgb: np.ndarray
    sha256: str
    format: str

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def read_bytes(image: ImageInput, limits: ImageLimits) -> bytes:
    """The encoded bytes of an image given as bytes or a path, size-checked."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
    elif isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise InvalidParameterException(f"image file not found: {path}")
        if path.stat().st_size > limits.max_bytes:
            raise ImageTooLargeException(
                f"{path} is {path.stat().st_size} bytes; the limit is {limits.max_bytes} bytes"
            )
        data = path.read_bytes()
    else:
        raise InvalidParameterException(
            f"an image must be bytes or a file path, not {type(image).__name__}"
        )
    if not data:
        raise InvalidImageFormatException("the image is empty (0 bytes)")
    limit = limits.max_object_bytes if isinstance(image, ObjectBytes) else limits.max_bytes
    if len(data) > limit:
        raise ImageTooLargeException(f"the image is {len(data)} bytes; the limit is {limit} bytes")
    return data


def decode(image: ImageInput, limits: ImageLimits | None = None) -> DecodedImage:
    """Decode an image (bytes, path, or an RGB uint8 array) into RGB pixels."""
    limits = limits or ImageLimits()
    if isinstance(image, np.ndarray):
        return _from_array(image, limits)
    data = read_bytes(image, limits)
    digest = hashlib.sha256(data).hexdigest()
    try:
        _check_container(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "palette images with transparency": not the caller's concern
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_OPENERS) as pil:
                fmt = pil.format or "UNKNOWN"
                _check_size(pil.width, pil.height, limits)
                _check_compression(pil.width, pil.height, len(data), limits)
                if pil.tell() != 0:
                    pil.seek(0)  # GIF/TIFF/MPO: the first frame (never iterate the others)
                shown = _oriented(pil)
                rgb = _to_rgb(shown)
                shown.close()
    except ClearSightError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError) as exc:
        raise ImageTooLargeException(f"the image has too many pixels: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImageFormatException(
            f"the image could not be decoded: not one of {', '.join(SUPPORTED_FORMATS)}"
        ) from exc
    except Exception as exc:  # Pillow raises OSError, ValueError, SyntaxError, struct.error, IndexError...
        raise InvalidImageFormatException(f"the image could not be decoded: {exc}") from exc
    return DecodedImage(np.ascontiguousarray(rgb), digest, fmt)


def _check_size(width: int, height: int, limits: ImageLimits) -> None:
    if width * height > limits.max_pixels:
        raise ImageTooLargeException(
            f"the image is {width}x{height} = {width * height} pixels; "
            f"the limit is {limits.max_pixels} pixels"
        )
    if min(width, height) < limits.min_side:
        raise InvalidParameterException(
            f"the image is {width}x{height}; the minimum is {limits.min_side} pixels on each side"
        )


def _check_compression(width: int, height: int, nbytes: int, limits: ImageLimits) -> None:
    """Refuse a file whose pixels are out of all proportion to its size (a decompression bomb)."""
    ratio = limits.max_compression_ratio
    decoded = 3 * width * height
    if ratio <= 0 or decoded <= 3 * FREE_PIXELS + ratio * nbytes:
        return
    need = (decoded - 3 * FREE_PIXELS + ratio - 1) // ratio
    raise ImageTooLargeException(
        f"the image is {width}x{height} ({decoded / 1e6:.0f} MB of RGB) from only {nbytes:,} bytes: beyond "
        f"{FREE_PIXELS // 1_000_000} megapixels an image may decode to at most {ratio}x its file size, so this one "
        f"needs at least {need:,} bytes; a real photo of that size is far larger. Downscale it or save it as JPEG"
    )


# --- container walks: bounded before Pillow's Python loops see the file ---------------------------
def _check_container(data: bytes) -> None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        _check_png(data)
    elif data.startswith(b"\xff\xd8"):
        _check_jpeg(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        _check_gif(data)
    elif data.startswith(b"BM") and len(data) >= 34:
        _check_dib(data, 14, "BMP")
    elif data.startswith(b"\x00\x00\x01\x00"):
        _check_ico(data)  # Pillow decodes the largest entry while opening the file
    elif data[:4] in (b"II*\x00", b"MM\x00*"):
        _check_tiff(data)


def _check_png(data: bytes) -> None:
    pos, chunks, text, seen_idat = 8, 0, 0, False
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = pos + 8
        if kind == b"IEND" or (seen_idat and kind == b"fcTL"):
            return  # the end, or the second animation frame: Pillow reads no further for the first frame
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise InvalidImageFormatException(
                f"the PNG has more than {MAX_PNG_CHUNKS} chunks before its end; re-save it")
        seen_idat = seen_idat or kind == b"IDAT"
        if kind in (b"zTXt", b"iCCP", b"iTXt"):
            text += _inflated_size(data[body:body + length], kind, MAX_PNG_TEXT_BYTES - text)
            if text > MAX_PNG_TEXT_BYTES:
                raise InvalidImageFormatException(
                    f"the PNG's compressed text and ICC profile inflate to more than "
                    f"{MAX_PNG_TEXT_BYTES // (1024 * 1024)} MB; strip its metadata")
        pos = body + length + 4


def _inflated_size(body: bytes, kind: bytes, budget: int) -> int:
    """How many bytes a zTXt/iCCP/iTXt chunk inflates to, counting at most budget + 1."""
    key_end = body.find(b"\x00")
    if key_end < 0:
        return 0
    if kind == b"iTXt":  # keyword, flag, method, language, translated keyword, then the text
        if body[key_end + 1:key_end + 2] != b"\x01":
            return 0
        start = key_end + 3
        for _ in range(2):
            start = body.find(b"\x00", start) + 1
            if start == 0:
                return 0
    else:
        start = key_end + 2
    try:
        return len(zlib.decompressobj().decompress(body[start:], max(budget, 0) + 1))
    except zlib.error:
        return 0  # Pillow reports it


def _check_jpeg(data: bytes) -> None:
    if data.count(b"\xff\xda") > MAX_JPEG_SCANS:
        raise InvalidImageFormatException(
            f"the JPEG has more than {MAX_JPEG_SCANS} scans; re-save it (a progressive JPEG has about 10)")
    pos, segments = 2, 0
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return  # not a marker: let the decoder report it
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1  # fill byte
            continue
        if marker == 0xDA or marker == 0xD9:
            return
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise InvalidImageFormatException(
                f"the JPEG has more than {MAX_JPEG_SEGMENTS} segments before its image data; re-save it")
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:
            pos += 2
        else:
            pos += 2 + struct.unpack_from(">H", data, pos + 2)[0]


def _check_gif(data: bytes) -> None:
    pos = 13
    flags = data[10] if len(data) > 10 else 0
    if flags & 0x80:
        pos += 3 << ((flags & 7) + 1)  # global colour table
    blocks = 0
    while pos < len(data) and data[pos] == 0x21:  # extensions before the first image descriptor
        pos += 2
        while True:
            blocks += 1
            if blocks > MAX_GIF_BLOCKS:
                raise InvalidImageFormatException(
                    f"the GIF has more than {MAX_GIF_BLOCKS} extension blocks before its first frame; re-save it")
            if pos >= len(data) or not data[pos]:
                break
            pos += 1 + data[pos]
        pos += 1


def _check_tiff(data: bytes) -> None:
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    (tags,) = struct.unpack_from(order + "H", data, ifd)
    if tags > MAX_TIFF_TAGS:
        raise InvalidImageFormatException(
            f"the TIFF's first directory has {tags} tags; the limit is {MAX_TIFF_TAGS}")


def _check_dib(data: bytes, offset: int, what: str) -> tuple[int, int]:
    """Width and height of a BMP/ICO device-independent bitmap; RLE compression is refused."""
    header = data[offset:offset + 20]
    if len(header) < 20:
        raise InvalidImageFormatException(f"the {what} header is truncated")
    size, width, height = struct.unpack_from("<Iii", header)
    if size >= 40 and struct.unpack_from("<I", header, 16)[0] in (1, 2):
        raise InvalidImageFormatException(
            f"RLE-compressed {what} images are not supported; save it as PNG")
    if size == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack_from("<HH", header, 4)
    return abs(width), abs(height)


def _check_ico(data: bytes) -> None:
    """Every embedded image of an icon must be what an icon can hold (at most 256x256)."""
    count = struct.unpack_from("<H", data, 4)[0]
    if count > MAX_ICO_ENTRIES:
        raise InvalidImageFormatException(f"the ICO has {count} images; the limit is {MAX_ICO_ENTRIES}")
    for i in range(count):
        offset = struct.unpack_from("<I", data, 6 + 16 * i + 12)[0]
        if data[offset:offset + 8] == b"\x89PNG\r\n\x1a\n":
            width, height = struct.unpack_from(">II", data, offset + 16)
        else:
            width, height = _check_dib(data, offset, "ICO")
            height //= 2  # the XOR image and the AND mask
        if width > MAX_ICO_SIDE or height > MAX_ICO_SIDE:
            raise InvalidImageFormatException(
                f"ICO image {i + 1} of {count} is {width}x{height}; icon images are at most "
                f"{MAX_ICO_SIDE}x{MAX_ICO_SIDE}")


# --- pixels ---------------------------------------------------------------------------------------
def _to_rgb(pil: Image.Image) -> np.ndarray:
    """(H, W, 3) uint8. 16-bit, 32-bit integer and float images are scaled to 8 bits, never clipped."""
    mode = pil.mode
    if mode == "RGB":
        return np.asarray(pil, dtype=np.uint8)
    if mode in ("1", "L"):  # through numpy: a third of the memory of convert("RGB") + asarray
        gray = np.asarray(pil, dtype=np.uint8) * np.uint8(255 if mode == "1" else 1)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P" and pil.palette is not None and pil.palette.mode == "RGB":
        lut = np.zeros((256, 3), np.uint8)
        palette = np.frombuffer(bytes(pil.getpalette("RGB") or []), np.uint8).reshape(-1, 3)[:256]
        lut[: len(palette)] = palette
        return lut[np.asarray(pil, dtype=np.uint8)]
    if mode.startswith("I;16") or mode in ("I", "F"):
        gray = _scale_to_8bit(np.asarray(pil))
        return np.repeat(gray[:, :, None], 3, axis=2)
    return np.asarray(pil.convert("RGB"), dtype=np.uint8)


def _scale_to_8bit(values: np.ndarray) -> np.ndarray:
    """16-bit (0-65535) as v / 257; int32 and float by their range: 0-1 floats x255, values within 0-255
    as they are, within 0-65535 like 16-bit, anything else stretched from its minimum to its maximum."""
    if values.dtype.kind == "u" and values.dtype.itemsize == 2:
        return (values.astype(np.uint16) >> 8).astype(np.uint8)
    v = values.astype(np.float32)
    if v.dtype.kind == "f":
        np.nan_to_num(v, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    if values.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
        scale, offset = 255.0, 0.0
    elif lo >= 0.0 and hi <= 255.0:
        scale, offset = 1.0, 0.0
    elif lo >= 0.0 and hi <= 65535.0:
        scale, offset = 1.0 / 257.0, 0.0
    else:
        scale, offset = 255.0 / (hi - lo), lo
    v -= offset
    v *= scale
    v += 0.5
    np.clip(v, 0.0, 255.0, out=v)
    return v.astype(np.uint8)


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _oriented(pil: Image.Image) -> Image.Image:
    """The image as displayed (EXIF orientation applied, as ImageOps.exif_transpose does), transposed
    before conversion to RGB (cheapest in the source mode) and releasing the unrotated pixels."""
    try:
        orientation = pil.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block does not make the pixels unreadable
        return pil
    method = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    if method is None:
        return pil
    turned = pil.transpose(method)
    pil.close()  # frees the decoded pixels now, not when the caller drops the object
    return turned


def _from_array(arr: np.ndarray, limits: ImageLimits) -> DecodedImage:
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise InvalidParameterException("an image array must be RGB uint8 with shape (H, W, 3)")
    _check_size(int(arr.shape[1]), int(arr.shape[0]), limits)
    arr = np.ascontiguousarray(arr)
    return DecodedImage(arr, hashlib.sha256(arr.tobytes()).hexdigest(), "ARRAY")
