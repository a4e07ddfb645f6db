"""AWS JSON 1.1 as botocore speaks it, driven by botocore's own service model for Rekognition.

The model (``botocore/data/rekognition/*/service-2.json``) gives every operation's input shape;
requests are validated against it (required members, types, enums, lengths and ranges) and
blobs are base64-decoded here. Member names are converted CamelCase -> snake_case for the
engine's methods and back for the responses, with no per-operation hand-written mapping.
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache
from typing import Any

from ..errors import InvalidParameterException
from ..operations import snake

TARGET_PREFIX = "RekognitionService."


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


class Validator:
    def __init__(self) -> None:
        self.shapes: dict[str, Any] = service_model()["shapes"]

    def request(self, operation: str, body: Any) -> dict[str, Any]:
        op = service_model()["operations"][operation]
        shape_name = op.get("input", {}).get("shape")
        if shape_name is None:
            return {}
        if not isinstance(body, dict):
            raise InvalidParameterException("the request body must be a JSON object")
        out: dict[str, Any] = self._value(shape_name, body, operation)
        return out

    def _value(self, shape_name: str, value: Any, path: str) -> Any:
        shape = self.shapes[shape_name]
        kind = shape["type"]
        if kind == "structure":
            if not isinstance(value, dict):
                raise InvalidParameterException(f"{path} must be an object")
            members = shape.get("members", {})
            unknown = set(value) - set(members)
            if unknown:
                raise InvalidParameterException(f"{path} has unknown member(s): {', '.join(sorted(unknown))}")
            for req in shape.get("required", []):
                if req not in value:
                    raise InvalidParameterException(f"{path}.{req} is required")
            return {k: self._value(members[k]["shape"], v, f"{path}.{k}") for k, v in value.items()}
        if kind == "list":
            if not isinstance(value, list):
                raise InvalidParameterException(f"{path} must be a list")
            self._length(shape, len(value), path)
            return [self._value(shape["member"]["shape"], v, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind == "map":
            if not isinstance(value, dict):
                raise InvalidParameterException(f"{path} must be an object")
            return {self._value(shape["key"]["shape"], k, path): self._value(shape["value"]["shape"], v, f"{path}.{k}")
                    for k, v in value.items()}
        if kind == "string":
            if not isinstance(value, str):
                raise InvalidParameterException(f"{path} must be a string")
            self._length(shape, len(value), path)
            if "enum" in shape and value not in shape["enum"]:
                raise InvalidParameterException(f"{path} must be one of {', '.join(shape['enum'])}, got {value!r}")
            pattern = _pattern(shape.get("pattern"))
            if pattern is not None and not pattern.fullmatch(value):
                raise InvalidParameterException(f"{path} {value!r} does not match {shape['pattern']}")
            return value
        if kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidParameterException(f"{path} must be an integer")
            self._range(shape, value, path)
            return value
        if kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidParameterException(f"{path} must be a number")
            self._range(shape, value, path)
            return float(value)
        if kind == "boolean":
            if not isinstance(value, bool):
                raise InvalidParameterException(f"{path} must be true or false")
            return value
        if kind == "blob":
            if not isinstance(value, str):
                raise InvalidParameterException(f"{path} must be base64 text")
            try:
                data = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise InvalidParameterException(f"{path} is not valid base64") from exc
            # the byte limit of images is the image layer's to enforce, with its own error code
            return data
        if kind == "timestamp":
            return value
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


def to_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """Top-level members to snake_case keyword arguments (nested structures keep AWS names)."""
    return {snake(k): v for k, v in params.items()}
