"""Index snapshot files: their format helpers, atomic writes and their names on disk.

A snapshot is a small JSON header (which names its collection) followed by the data. Headers are
checked field by field before anything is allocated from them; a bad one is
:class:`SnapshotInvalid` and the caller rebuilds from the store. Files are written to a private
temporary file (0600, a name no other process uses) and renamed into place.

File names never grow with user input: :func:`snapshot_name` is the collection id itself when it
is short (``c.idx``), else a fixed-length hash of it under a prefix no collection id can start with.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

MAGIC = b"CSIDX001"  # an exact index snapshot
SCAN_MAGIC = b"CSSCN001"  # a scan index snapshot (followed by the exact one)
FASTSCAN_MAGIC = b"CSFSC001"  # a fast-scan index snapshot (float32 rows last, page-aligned)
MAX_HEADER = 1 << 16  # a snapshot header is a few hundred bytes of JSON
MAX_DIMENSION = 1 << 16


class SnapshotInvalid(ValueError):
    """A snapshot header disagrees with its file or the database: rebuild instead."""


def check_field(header: dict[str, Any], key: str, lo: int, hi: int) -> int:
    value = header.get(key)
    if type(value) is not int or not lo <= value <= hi:
        raise SnapshotInvalid(f"snapshot field {key}={value!r} is outside {lo}..{hi}")
    return value


def remaining_bytes(fh: BinaryIO) -> int:
    here = fh.tell()
    end = fh.seek(0, os.SEEK_END)
    fh.seek(here)
    return end - here


def read_header(fh: BinaryIO, magic: bytes) -> dict[str, Any]:
    if fh.read(8) != magic:
        raise SnapshotInvalid("not a snapshot")
    (hlen,) = struct.unpack("<I", fh.read(4))
    if hlen > min(MAX_HEADER, remaining_bytes(fh)):
        raise SnapshotInvalid(f"header length {hlen} is larger than the file allows")
    header = json.loads(fh.read(hlen))
    if not isinstance(header, dict):
        raise SnapshotInvalid("the header is not an object")
    return header


PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")  # a collection id that is its own file name
HASHED_PREFIX = "~"  # not a collection id character: a hashed name never equals a plain one


def snapshot_name(collection_id: str) -> str:
    """The snapshot's file name: ``<id>.idx`` for ids of up to 64 safe characters, else
    ``~<32 hex of sha256(id)>.idx`` (37 bytes whatever the id; the header names the collection)."""
    if PLAIN_NAME.fullmatch(collection_id):
        return f"{collection_id}.idx"
    return f"{HASHED_PREFIX}{hashlib.sha256(collection_id.encode()).hexdigest()[:32]}.idx"


def snapshot_path(directory: Path, collection_id: str) -> Path:
    return directory / snapshot_name(collection_id)


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a private temporary file (0600, a name no other process uses), then rename it over
    ``path``: readers and concurrent writers only ever see a whole snapshot."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
