"""AWS JSON 1.1 as botocore speaks it, driven by botocore's own service model for Rekognition.

The model (``botocore/data/rekognition/*/service-2.json``) gives every operation's input shape;
requests are validated against it (required members, types, enums, lengths and ranges) and
blobs are base64-decoded here. Two kinds of refusal, as AWS JSON services answer them: a body that
cannot be deserialized into the input (not UTF-8, not JSON, not an object, duplicate keys,
NaN/Infinity, numbers that do not fit, the wrong JSON type for a member, nesting too deep) is a
``SerializationException``; a well-typed value that breaks the model's constraints (required,
length, range, enum, pattern, unknown member) is Rekognition's ``InvalidParameterException``.
Member names are converted CamelCase -> snake_case for the engine's methods and back for the
responses, with no per-operation hand-written mapping.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from functools import lru_cache
from typing import Any

from ..errors import InvalidParameterException, SerializationException
from ..operations import snake

TARGET_PREFIX = "RekognitionService."
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


@lru_cache(maxsize=1)
def service_model() -> dict[str, Any]:
    from botocore.loaders import Loader

    model: dict[str, Any] = Loader().load_service_model("rekognition", "service-2")
    return model


def operation_names() -> list[str]:
    return sorted(service_model()["operations"])


@lru_cache(maxsize=512)
def _pattern(text: str | None) -> re.Pattern[str] | None:
    """The model's regex, or None where it uses Java syntax Python lacks (e.g. \\p{L} in tag keys);
    those members are still checked for type and length."""
    if not text:
        return None
    try:
        return re.compile(text)
    except re.error:
        return None


def parse_body(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or SerializationException. An empty body is ``{}`` (as for an
    operation without input); everything else must be one UTF-8 JSON object without duplicate keys,
    NaN/Infinity or integers beyond 64 bits (RFC 8259's interoperable subset, which AWS parses)."""
    if not body:
        return {}
    try:
        text = body.decode("utf-8")  # strict: no other encodings, no BOM (json.loads would guess them)
    except UnicodeDecodeError as exc:
        raise SerializationException(f"the request body is not UTF-8 (byte {exc.start})") from exc
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_constant, parse_int=_int,
                           parse_float=_float)
    except json.JSONDecodeError as exc:
        raise SerializationException(f"the request body is not JSON: {exc.msg} (line {exc.lineno}, "
                                     f"column {exc.colno})") from exc
    except RecursionError as exc:
        raise SerializationException("the request body is nested too deeply") from exc
    except ValueError as exc:  # e.g. an integer literal longer than Python's int-from-string limit
        raise SerializationException(f"the request body is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise SerializationException(f"the request body must be a JSON object, got {_kind(value)}")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise SerializationException(f"duplicate key {key!r} in the request body")
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise SerializationException(f"{name} is not a JSON number")


def _int(text: str) -> int:
    n = int(text)
    if not INT64[0] <= n <= INT64[1]:
        raise SerializationException(f"the number {text[:40]} does not fit in 64 bits")
    return n


def _float(text: str) -> float:
    f = float(text)
    if not math.isfinite(f):
        raise SerializationException(f"the number {text[:40]} is out of range")
    return f


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
             float: "a number with a fraction or exponent", type(None): "null"}
    return names.get(type(value), type(value).__name__)


class Validator:
    def __init__(self) -> None:
        self.shapes: dict[str, Any] = service_model()["shapes"]

    def request(self, operation: str, body: Any) -> dict[str, Any]:
        op = service_model()["operations"][operation]
        shape_name = op.get("input", {}).get("shape")
        if shape_name is None:
            return {}
        if not isinstance(body, dict):
            raise SerializationException(f"the request body must be a JSON object, got {_kind(body)}")
        out: dict[str, Any] = self._value(shape_name, body, operation)
        return out

    def _value(self, shape_name: str, value: Any, path: str) -> Any:
        shape = self.shapes[shape_name]
        kind = shape["type"]
        if value is None and kind != "structure":
            raise SerializationException(f"{path} must not be null")
        if kind == "structure":
            if not isinstance(value, dict):
                raise _wrong(path, "an object", value)
            members = shape.get("members", {})
            unknown = set(value) - set(members)
            if unknown:
                raise InvalidParameterException(f"{path} has unknown member(s): {', '.join(sorted(unknown))}")
            value = {k: v for k, v in value.items() if v is not None}  # null members are absent, as in AWS JSON
            for req in shape.get("required", []):
                if req not in value:
                    raise InvalidParameterException(f"{path}.{req} is required")
            return {k: self._value(members[k]["shape"], v, f"{path}.{k}") for k, v in value.items()}
        if kind == "list":
            if not isinstance(value, list):
                raise _wrong(path, "a list", value)
            self._length(shape, len(value), path)
            return [self._value(shape["member"]["shape"], v, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind == "map":
            if not isinstance(value, dict):
                raise _wrong(path, "an object", value)
            self._length(shape, len(value), path)
            return {self._value(shape["key"]["shape"], k, path): self._value(shape["value"]["shape"], v, f"{path}.{k}")
                    for k, v in value.items()}
        if kind == "string":
            if not isinstance(value, str):
                raise _wrong(path, "a string", value)
            _text(value, path)
            self._length(shape, len(value), path)
            if "enum" in shape and value not in shape["enum"]:
                raise InvalidParameterException(f"{path} must be one of {', '.join(shape['enum'])}, got {value!r}")
            pattern = _pattern(shape.get("pattern"))
            if pattern is not None and not pattern.fullmatch(value):
                raise InvalidParameterException(f"{path} {value!r} does not match {shape['pattern']}")
            return value
        if kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise _wrong(path, "an integer", value)
            lo, hi = INT32 if kind == "integer" else INT64
            if not lo <= value <= hi:
                raise SerializationException(f"{path} {value} does not fit in a {32 if kind == 'integer' else 64}-bit "
                                             "integer")
            self._range(shape, value, path)
            return value
        if kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _wrong(path, "a number", value)
            self._range(shape, value, path)
            return float(value)
        if kind == "boolean":
            if not isinstance(value, bool):
                raise _wrong(path, "true or false", value)
            return value
        if kind == "blob":
            if not isinstance(value, str):
                raise _wrong(path, "base64 text", value)
            try:
                data = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise SerializationException(f"{path} is not valid base64") from exc
            if len(data) < shape.get("min", 0):
                raise InvalidParameterException(f"{path} is too short (minimum {shape['min']} bytes)")
            # the byte limit of images is the image layer's to enforce, with its own error code
            return data
        if kind == "timestamp":  # epoch seconds in AWS JSON
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _wrong(path, "epoch seconds", value)
            return float(value)
        raise InvalidParameterException(f"{path}: unsupported shape type {kind}")

    @staticmethod
    def _length(shape: dict[str, Any], n: int, path: str) -> None:
        if "min" in shape and n < shape["min"]:
            raise InvalidParameterException(f"{path} is too short (minimum {shape['min']})")
        if "max" in shape and n > shape["max"]:
            raise InvalidParameterException(f"{path} is too long (maximum {shape['max']})")

    @staticmethod
    def _range(shape: dict[str, Any], v: float, path: str) -> None:
        if "min" in shape and v < shape["min"]:
            raise InvalidParameterException(f"{path} must be at least {shape['min']}")
        if "max" in shape and v > shape["max"]:
            raise InvalidParameterException(f"{path} must be at most {shape['max']}")


def _wrong(path: str, expected: str, value: Any) -> SerializationException:
    return SerializationException(f"{path} must be {expected}, got {_kind(value)}")


def _text(value: str, path: str) -> None:
    """Strings must be Unicode text (no lone surrogates, which "\\ud800" escapes can make) without NUL."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SerializationException(f"{path} is not valid Unicode (a lone surrogate at {exc.start})") from exc
    if "\x00" in value:
        raise InvalidParameterException(f"{path} must not contain NUL (U+0000) characters")


def to_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """Top-level members to snake_case keyword arguments (nested structures keep AWS names)."""
    return {snake(k): v for k, v in params.items()}
