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


class SerializationException(ClearSightError):
    """The body is not what the AWS JSON 1.1 protocol can deserialize into the operation's input: not
    UTF-8, not JSON, not an object, duplicate keys, NaN/Infinity, a number that does not fit its member,
    a value of the wrong JSON type, nesting too deep. AWS answers this code for such bodies (400)."""

    code = "SerializationException"
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


class ConflictException(ResourceAlreadyExistsException):
    """A user with that id already exists in the collection: Rekognition's code for users (CreateUser
    documents ConflictException, not ResourceAlreadyExistsException). A subclass, so code that catches
    ResourceAlreadyExistsException for any duplicate keeps working."""

    code = "ConflictException"
    http_status = 400


class IdempotentParameterMismatchException(ClearSightError):
    """A ClientRequestToken was used before with other parameters for the same operation."""

    code = "IdempotentParameterMismatchException"
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


class ThrottlingException(ClearSightError):
    """The server is busy or a request ran past its time limit; retry later (botocore does)."""

    code = "ThrottlingException"
    http_status = 400


class InvalidS3ObjectException(ClearSightError):
    """An Image.S3Object names no readable file inside its bucket folder."""

    code = "InvalidS3ObjectException"
    http_status = 400


class VideoTooLargeException(ClearSightError):
    """A video is larger (bytes) or longer (duration) than stored-video jobs accept."""

    code = "VideoTooLargeException"
    http_status = 400


class InvalidVideoError(InvalidParameterException):
    """A video that cannot be analysed: empty, truncated, corrupt, without a video stream (audio
    only) or in a codec FFmpeg cannot decode. Start* refuses what it can tell at once; what shows
    only while decoding ends the job FAILED with this message as its StatusMessage."""


class LimitExceededException(ClearSightError):
    """More stored-video jobs are queued or running than the setting ``video_max_jobs`` allows (or
    more stream processors exist than ``stream_max_processors``)."""

    code = "LimitExceededException"
    http_status = 400


class ResourceInUseException(ClearSightError):
    """A stream processor's name is taken, or the processor is not in a state the operation needs
    (starting a running one, deleting one that is not stopped...)."""

    code = "ResourceInUseException"
    http_status = 400


class UnsupportedOperationException(ClearSightError):
    """A Rekognition operation ClearSight does not implement (the message names it)."""

    code = "UnsupportedOperationException"
    http_status = 400


class UnknownOperationException(UnsupportedOperationException):
    """X-Amz-Target does not name a Rekognition operation (AWS JSON's own code; a kind of unserved
    operation, so ``except UnsupportedOperationException`` covers both)."""

    code = "UnknownOperationException"
    http_status = 400


class MissingAuthenticationTokenException(ClearSightError):
    """The request is not signed."""

    code = "MissingAuthenticationTokenException"
    http_status = 403


class UnrecognizedClientException(ClearSightError):
    """The access key is unknown or revoked."""

    code = "UnrecognizedClientException"
    http_status = 403


class InvalidSignatureException(ClearSightError):
    """The SigV4 signature is wrong or its date is more than 5 minutes off."""

    code = "InvalidSignatureException"
    http_status = 403


class StorageError(ClearSightError):
    """The database could not be read or written (full, damaged, locked...): nothing half-written."""


class ModelNotAvailableError(ClearSightError):
    """A model file is missing or does not match its card (run ``clearsight models prepare``)."""

    code = "InternalServerError"
    http_status = 500
