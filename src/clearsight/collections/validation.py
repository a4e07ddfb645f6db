"""Request validation shared by the collection operations: ids, ranges, pagination tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from typing import Any

from ..errors import InvalidPaginationTokenException, InvalidParameterException

COLLECTION_ID = re.compile(r"^[a-zA-Z0-9_.\-]{1,255}$")
EXTERNAL_IMAGE_ID = re.compile(r"^[a-zA-Z0-9_.\-:]{1,255}$")
USER_ID = re.compile(r"^[a-zA-Z0-9_.\-:]{1,128}$")


def collection_id(value: Any) -> str:
    if not isinstance(value, str) or not COLLECTION_ID.match(value):
        raise InvalidParameterException(
            f"CollectionId {value!r} is invalid: 1-255 characters of a-z A-Z 0-9 _ . -")
    return value


def external_image_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not EXTERNAL_IMAGE_ID.match(value):
        raise InvalidParameterException(
            f"ExternalImageId {value!r} is invalid: 1-255 characters of a-z A-Z 0-9 _ . - :")
    return value


def user_id(value: Any) -> str:
    if not isinstance(value, str) or not USER_ID.match(value):
        raise InvalidParameterException(f"UserId {value!r} is invalid: 1-128 characters of a-z A-Z 0-9 _ . - :")
    return value


def face_id(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise InvalidParameterException(f"FaceId {value!r} is not a valid face id (a UUID)") from exc


def face_ids(values: Any, *, most: int = 4096, name: str = "FaceIds") -> list[str]:
    if not isinstance(values, (list, tuple)) or not values:
        raise InvalidParameterException(f"{name} must be a non-empty list")
    if len(values) > most:
        raise InvalidParameterException(f"{name} has {len(values)} entries; at most {most} are allowed")
    return list(dict.fromkeys(face_id(v) for v in values))


def int_range(name: str, value: Any, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameterException(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def threshold(name: str, value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= float(value) <= 100:
        raise InvalidParameterException(f"{name} must be a number from 0 to 100, got {value!r}")
    return float(value)


class Paginator:
    """Opaque, signed NextTokens: the listing they belong to and the last key returned."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, body: bytes) -> str:
        return hmac.new(self._secret, body, hashlib.sha256).hexdigest()[:32]

    def token(self, listing: str, last_key: str) -> str:
        body = json.dumps({"l": listing, "k": last_key}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + self._sign(body)

    def after(self, listing: str, token: Any) -> str:
        """The key to continue after ('' for no token)."""
        if token is None or token == "":
            return ""
        try:
            data, sig = str(token).rsplit(".", 1)
            body = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
            if not hmac.compare_digest(sig, self._sign(body)):
                raise ValueError("signature")
            parsed = json.loads(body)
            if parsed["l"] != listing:
                raise ValueError("listing")
            return str(parsed["k"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidPaginationTokenException("NextToken is invalid or belongs to another listing") from exc
