"""The operation table: Rekognition operation name -> engine method, derived, not hand-written.

An operation is served when one of the engine's service objects (the engine, its collections,
its users) has a method named like the operation in snake_case (DetectFaces -> detect_faces).
Request members become keyword arguments by the same rule; members whose shape is ``Image``
are resolved to bytes first (inline ``Bytes`` or a local ``S3Object``). A member the method does
not take is refused with a clear error rather than silently ignored.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..engine import Engine
from ..errors import InvalidParameterException, InvalidS3ObjectException, UnsupportedOperationException
from ..images import ObjectBytes
from .protocol import service_model, snake

log = logging.getLogger("clearsight.server")

# Operations that change stored state: never answered "retry" while they may still commit, and the
# ones the opt-in replay cache guards. (Searches and CompareFaces also append audit records, but
# repeating them changes nothing a caller relies on.)
NOT_IDEMPOTENT = frozenset({
    "CreateCollection", "DeleteCollection", "IndexFaces", "DeleteFaces", "CreateUser", "DeleteUser",
    "AssociateFaces", "DisassociateFaces",
})


def _image_members(operation: str) -> set[str]:
    model = service_model()
    shape = model["operations"][operation].get("input", {}).get("shape")
    members = model["shapes"][shape].get("members", {}) if shape else {}
    return {name for name, m in members.items() if m["shape"] == "Image"}


class Operations:
    def __init__(self, engine: Engine, *, s3_root: Path) -> None:
        self.engine = engine
        self.s3_root = s3_root.resolve()
        self._services: list[Callable[[], object]] = [lambda: engine, lambda: engine.collections,
                                                       lambda: engine.users]
        self.table: dict[str, tuple[int, str]] = {}
        for op in service_model()["operations"]:
            name = snake(op)
            for i, cls in enumerate((Engine, _collections_cls(), _users_cls())):
                if callable(getattr(cls, name, None)):
                    self.table[op] = (i, name)
                    break

    def implemented(self) -> list[str]:
        return sorted(self.table)

    def handler(self, operation: str, params: dict[str, Any]) -> Callable[[], dict[str, Any]]:
        """Resolve the call now (cheap checks, on the event loop); run it later (in a worker)."""
        if operation not in service_model()["operations"]:
            raise UnsupportedOperationException(f"{operation} is not a Rekognition operation")
        if operation not in self.table:
            raise UnsupportedOperationException(
                f"ClearSight does not implement {operation}; implemented: {', '.join(self.implemented())}")
        which, name = self.table[operation]
        images = _image_members(operation)
        kwargs: dict[str, Any] = {}
        for member, value in params.items():
            kwargs[snake(member)] = self.resolve_image(value) if member in images else value
        service = self._services[which]
        method = getattr(service(), name)
        accepted = inspect.signature(method).parameters
        unsupported = [k for k in kwargs if k not in accepted]
        if unsupported:
            raise InvalidParameterException(
                f"ClearSight's {operation} does not support {', '.join(unsupported)}")
        return lambda: dict(method(**kwargs))

    def resolve_image(self, image: Any) -> bytes:
        if not isinstance(image, dict) or ("Bytes" in image) == ("S3Object" in image):
            raise InvalidParameterException("Image needs exactly one of Bytes or S3Object")
        if "Bytes" in image:
            return bytes(image["Bytes"])
        obj = image["S3Object"]
        if "Version" in obj:
            raise InvalidParameterException(
                "ClearSight does not support S3Object.Version: a bucket is a folder and holds one version of each "
                "object; leave Version out")
        bucket, name = obj.get("Bucket", ""), obj.get("Name", "")
        if not bucket or not name:
            raise InvalidParameterException("S3Object needs Bucket and Name")
        path = (self.s3_root / bucket / name).resolve()
        if not path.is_relative_to(self.s3_root / bucket) or bucket in {".", ".."} or "/" in bucket:
            raise InvalidS3ObjectException(f"s3://{bucket}/{name} is outside the bucket")
        if not path.is_file():
            # the server's folder layout stays in the server's log, out of the answer
            log.info("s3://%s/%s: no file %s", bucket, name, path)
            raise InvalidS3ObjectException(f"s3://{bucket}/{name} does not exist")
        return ObjectBytes(path.read_bytes())


def _collections_cls() -> type:
    from ..collections.service import Collections

    return Collections


def _users_cls() -> type:
    from ..collections.users import Users

    return Users
