"""One rule per parameter kind, for every way in (the HTTP service, the CLI, the Python API):
numbers and thresholds, yes/no words, ids, pagination tokens.

A number is an int or a float, never a bool or a string, finite and inside its range; a word
meaning yes or no is one of a short list, never "anything else is no". The HTTP path has
already checked types against botocore's model; these rules make the library path refuse the
same values (``threshold=True`` used to pass as 1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .errors import InvalidPaginationTokenException, InvalidParameterException

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def boolean(name: str, raw: Any) -> bool:
    """True/False, or the words above (any case); anything else is refused, never read as False."""
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise InvalidParameterException(f"{name} must be true or false, got {raw!r}")


def number(name: str, value: Any, low: float, high: float, default: float | None = None) -> float:
    """A finite number from ``low`` to ``high`` (``default`` when None is given and allowed)."""
    if value is None and default is not None:
        return float(default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise InvalidParameterException(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


def threshold(name: str, value: Any, default: float | None = None) -> float:
    """A similarity or confidence threshold: a number from 0 to 100."""
    return number(name, value, 0.0, 100.0, default)


def int_range(name: str, value: Any, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameterException(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


# --- ids ---------------------------------------------------------------------------------------------
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


T = TypeVar("T")
PREFIX_CHARS = 150  # the key's first characters kept in a token (200 in base64): tokens fit Rekognition's 255


class Paginator:
    """Opaque, signed NextTokens that fit the model's 255 characters whatever the ids' length.

    A token holds the first :data:`PREFIX_CHARS` characters of the last key returned and a MAC of
    (the listing, the whole key): the listing (which names the collection, up to 255 characters)
    is bound by the MAC, not spelled out. When the key was longer than the prefix, the listing
    resumes after the prefix and skips the keys up to the one whose MAC matches: every key between
    the prefix and the last key starts with the prefix, so nothing is lost or repeated."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, listing: str, key: str) -> str:
        digest = hmac.new(self._secret, f"{listing}\0{key}".encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def token(self, listing: str, last_key: str) -> str:
        prefix = last_key[:PREFIX_CHARS]
        whole = "w" if prefix == last_key else "p"
        return (whole + base64.urlsafe_b64encode(prefix.encode()).decode().rstrip("=") + "."
                + self._mac(listing, last_key))

    def _decode(self, listing: str, token: Any) -> tuple[str, str, bool]:
        try:
            text = str(token)
            data, mac = text[1:].rsplit(".", 1)
            prefix = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()
            whole = text[0] == "w"
            if text[0] not in "wp" or (whole and not hmac.compare_digest(mac, self._mac(listing, prefix))):
                raise ValueError("signature")
            return prefix, mac, whole
        except (ValueError, UnicodeDecodeError, IndexError) as exc:
            raise InvalidPaginationTokenException("NextToken is invalid or belongs to another listing") from exc

    def page(self, listing: str, token: Any, limit: int, fetch: Callable[[str, int], Sequence[T]],
             key: Callable[[T], str]) -> tuple[list[T], str | None]:
        """One page of ``limit`` rows from ``fetch(after, n)`` (the first ``n`` rows whose key is
        greater than ``after``, in key order), and the NextToken for the rest (None at the end)."""
        after, rows = "", list[T]()
        if token is not None and token != "":
            after, mac, whole = self._decode(listing, token)
            if not whole:
                after, rows = self._skip_to(listing, after, mac, fetch, key)
        if limit == 0:
            return [], None
        if len(rows) <= limit:
            rows += fetch(after if not rows else key(rows[-1]), limit + 1 - len(rows))
        if len(rows) > limit:
            return rows[:limit], self.token(listing, key(rows[limit - 1]))
        return rows, None

    def _skip_to(self, listing: str, prefix: str, mac: str, fetch: Callable[[str, int], Sequence[T]],
                 key: Callable[[T], str]) -> tuple[str, list[T]]:
        """Past the long key the token stands for: (the key to continue after, rows already fetched past it)."""
        after = prefix
        while True:
            batch = list(fetch(after, 256))
            for i, row in enumerate(batch):
                k = key(row)
                if not k.startswith(prefix):
                    raise InvalidPaginationTokenException(
                        "NextToken's last item was deleted while the listing was paged; start the listing again")
                if hmac.compare_digest(self._mac(listing, k), mac):
                    return k, batch[i + 1:]
            if len(batch) < 256:
                raise InvalidPaginationTokenException("NextToken is invalid or belongs to another listing")
            after = key(batch[-1])

    def after(self, listing: str, token: Any) -> str:
        """The key to continue after ('' for no token) for tokens of whole keys (ids of at most
        :data:`PREFIX_CHARS` characters: face ids, user ids)."""
        if token is None or token == "":
            return ""
        prefix, _, whole = self._decode(listing, token)
        if not whole:
            raise InvalidPaginationTokenException("NextToken is invalid or belongs to another listing")
        return prefix


def iso_time(name: str, text: str | None) -> float | None:
    """An ISO date or time (``2026-11-21`` or ``2026-11-21T10:00``, UTC unless it says otherwise) ->
    a Unix time; empty -> None; anything else is refused naming ``name``."""
    import datetime as dt

    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidParameterException(f"{name} {text!r} is not an ISO date or time (2026-11-21T10:00)") from exc
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()
