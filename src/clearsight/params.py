"""One rule per parameter kind, for every way in (the HTTP service, the CLI, the Python API).

A number is an int or a float, never a bool or a string, finite and inside its range; a word
meaning yes or no is one of a short list, never "anything else is no". The HTTP path has
already checked types against botocore's model; these rules make the library path refuse the
same values (``threshold=True`` used to pass as 1).
"""

from __future__ import annotations

import math
from typing import Any

from .errors import InvalidParameterException

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
