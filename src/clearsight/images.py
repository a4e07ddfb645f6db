"""Image input: bytes or a path in, an RGB uint8 array out, with Rekognition's limits.

Decoding goes through Pillow (JPEG, PNG, WebP, BMP, TIFF, GIF first frame, ICO), applies the
EXIF orientation, refuses decompression bombs before decoding pixels, and translates every
decoder failure into :class:`InvalidImageFormatException`.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageTooLargeException, InvalidImageFormatException, InvalidParameterException

ImageInput = bytes | bytearray | memoryview | str | os.PathLike[str] | np.ndarray

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "ICO", "MPO")


class ObjectBytes(bytes):
    """Image bytes read from object storage (an S3Object): Rekognition allows 15 MB for these."""


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 5 * 1024 * 1024
    max_object_bytes: int = 15 * 1024 * 1024
    max_pixels: int = 40_000_000
    min_side: int = 80


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
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            pil: Image.Image = Image.open(io.BytesIO(data))
            fmt = pil.format or "UNKNOWN"
            if fmt not in SUPPORTED_FORMATS:
                raise InvalidImageFormatException(
                    f"unsupported image format {fmt}; use one of {', '.join(SUPPORTED_FORMATS)}"
                )
            _check_size(pil.width, pil.height, limits)
            pil.seek(0)  # GIF/TIFF: the first frame
            pil = ImageOps.exif_transpose(pil) or pil
            rgb = np.asarray(pil.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImageFormatException(f"the image could not be decoded: {exc}") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeException(f"the image has too many pixels: {exc}") from exc
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


def _from_array(arr: np.ndarray, limits: ImageLimits) -> DecodedImage:
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise InvalidParameterException("an image array must be RGB uint8 with shape (H, W, 3)")
    _check_size(int(arr.shape[1]), int(arr.shape[0]), limits)
    arr = np.ascontiguousarray(arr)
    return DecodedImage(arr, hashlib.sha256(arr.tobytes()).hexdigest(), "ARRAY")
