"""Objects: ``Image.S3Object`` (and, later, ``Video.S3Object``) read from local folders.

A bucket is a folder under the object root (setting ``s3_root``, default ``<data_dir>/s3``) and an
object's name is a path inside it. Names that escape their bucket folder are refused; errors name
the object as the client wrote it, never the server's folders (those go to the server log).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import ImageTooLargeException, InvalidParameterException, InvalidS3ObjectException
from ..images import ObjectBytes

log = logging.getLogger("clearsight.storage")


class ObjectStore:
    def __init__(self, root: Path, *, max_bytes: int = 15 * 1024 * 1024) -> None:
        self.root = root.resolve()
        self.max_bytes = max_bytes

    def path(self, obj: Any) -> Path:
        """The file behind an S3Object {Bucket, Name}."""
        if not isinstance(obj, dict):
            raise InvalidParameterException("S3Object must be an object with Bucket and Name")
        if "Version" in obj:
            raise InvalidParameterException(
                "ClearSight does not support S3Object.Version: a bucket is a folder and holds one version of each "
                "object; leave Version out")
        bucket, name = obj.get("Bucket", ""), obj.get("Name", "")
        if not isinstance(bucket, str) or not isinstance(name, str) or not bucket or not name:
            raise InvalidParameterException("S3Object needs Bucket and Name")
        folder = self.root / bucket
        path = (folder / name).resolve()
        if bucket in {".", ".."} or "/" in bucket or "\0" in name or not path.is_relative_to(folder):
            raise InvalidS3ObjectException(f"s3://{bucket}/{name} is outside the bucket")
        if not path.is_file():
            log.info("s3://%s/%s: no file %s", bucket, name, path)
            raise InvalidS3ObjectException(f"s3://{bucket}/{name} does not exist")
        return path

    def image(self, image: Any) -> bytes:
        """An ``Image`` member ({Bytes} or {S3Object}) as bytes; objects may be 15 MB (ObjectBytes)."""
        if not isinstance(image, dict) or ("Bytes" in image) == ("S3Object" in image):
            raise InvalidParameterException("Image needs exactly one of Bytes or S3Object")
        if "Bytes" in image:
            data = image["Bytes"]
            if not isinstance(data, (bytes, bytearray)):
                raise InvalidParameterException("Image.Bytes must be bytes")
            return bytes(data)
        path = self.path(image["S3Object"])
        size = path.stat().st_size
        if size > self.max_bytes:  # checked before reading: an object may be any size
            raise ImageTooLargeException(f"the image object is {size} bytes; the limit is {self.max_bytes} bytes")
        try:
            return ObjectBytes(path.read_bytes())
        except OSError as exc:
            log.warning("cannot read %s: %s", path, exc)
            bucket, name = image["S3Object"]["Bucket"], image["S3Object"]["Name"]
            raise InvalidS3ObjectException(f"s3://{bucket}/{name} cannot be read") from exc
