"""One exception tree for ClearSight, each class carrying its Rekognition error code.

Third-party failures (Pillow, onnxruntime, dlib, sqlite3) are translated into these at the
boundary where they happen, with ``raise ... from exc``; the HTTP layer maps ``code`` and
``http_status`` to an AWS JSON error in one place.
"""

from __future__ import annotations


class ClearSightError(Exception):
    """Base class. ``code`` is the Rekognition ``__type``; ``http_status`` its HTTP status."""

    code = "InternalServerError"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The AWS JSON 1.1 error body."""
        return {"__type": self.code, "message": self.message}


class InvalidParameterException(ClearSightError):
    """A request parameter is missing, malformed or out of range."""

    code = "InvalidParameterException"
    http_status = 400


class InvalidImageFormatException(ClearSightError):
    """The image could not be decoded (corrupt, truncated, empty or an unsupported format)."""

    code = "InvalidImageFormatException"
    http_status = 400


class ImageTooLargeException(ClearSightError):
    """The image exceeds the byte or pixel limits."""

    code = "ImageTooLargeException"
    http_status = 400


class ResourceNotFoundException(ClearSightError):
    """A collection, face or user does not exist."""

    code = "ResourceNotFoundException"
    http_status = 400


class ResourceAlreadyExistsException(ClearSightError):
    """A collection or user with that id already exists."""

    code = "ResourceAlreadyExistsException"
    http_status = 400


class InvalidPaginationTokenException(ClearSightError):
    """A NextToken was not issued by this server for this listing."""

    code = "InvalidPaginationTokenException"
    http_status = 400


class AccessDeniedException(ClearSightError):
    """The caller may not perform this operation."""

    code = "AccessDeniedException"
    http_status = 400


class ServiceQuotaExceededException(ClearSightError):
    """A limit would be exceeded (e.g. more than 100 faces for one user)."""

    code = "ServiceQuotaExceededException"
    http_status = 400


class ModelNotAvailableError(ClearSightError):
    """A model file is missing or does not match its card (run ``clearsight models prepare``)."""

    code = "InternalServerError"
    http_status = 500
