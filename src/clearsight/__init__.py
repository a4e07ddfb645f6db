"""ClearSight: self-hosted face analysis with Amazon Rekognition's API and built-in accountability.

The public API is a handful of verbs that take an image (bytes or a path) and return dicts
shaped like Rekognition's responses::

    import clearsight
    clearsight.detect_faces("photo.jpg")["FaceDetails"]
    clearsight.compare_faces("badge.jpg", "webcam.jpg", similarity_threshold=99)

They share one lazily-built :class:`Engine`; build your own ``Engine(...)`` to change settings.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ._version import __version__
from .engine import Engine
from .errors import (
    AccessDeniedException,
    ClearSightError,
    ImageTooLargeException,
    InvalidImageFormatException,
    InvalidPaginationTokenException,
    InvalidParameterException,
    ModelNotAvailableError,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from .images import ImageInput
from .settings import Settings

__all__ = [
    "AccessDeniedException",
    "ClearSightError",
    "Engine",
    "ImageInput",
    "ImageTooLargeException",
    "InvalidImageFormatException",
    "InvalidPaginationTokenException",
    "InvalidParameterException",
    "ModelNotAvailableError",
    "ResourceAlreadyExistsException",
    "ResourceNotFoundException",
    "Settings",
    "__version__",
    "compare_faces",
    "default_engine",
    "detect_faces",
]

_default: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    """The Engine behind the module-level functions, built on first use from the environment."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Engine()
        return _default


def detect_faces(image: ImageInput, attributes: str | Sequence[str] = "DEFAULT") -> dict[str, Any]:
    """DetectFaces: ``{"FaceDetails": [...]}``, largest face first, at most 100.

    ``attributes="ALL"`` adds EyesOpen and MouthOpen and returns Rekognition's 30 landmarks (from
    MediaPipe Face Mesh; docs/faces.md). Age, gender, emotion and ethnicity are never inferred.
    """
    return default_engine().detect_faces(image, attributes=attributes)


def compare_faces(
    source: ImageInput, target: ImageInput, similarity_threshold: float = 80.0
) -> dict[str, Any]:
    """CompareFaces: the largest face of ``source`` against every face of ``target``.

    Similarity is calibrated on LFW (docs/accuracy.md): at 80 about 1 in 1,000 comparisons
    of different people match; use 99 for identification.
    """
    return default_engine().compare_faces(source, target, similarity_threshold=similarity_threshold)
