"""Vector indexes: derived from the store's change log, persisted beside it as snapshots, caught
up or rebuilt at start. :class:`ExactIndex` while exact search is fast enough, :class:`ScanIndex`
(a compressed scan with exact re-scoring) above ``ann_threshold`` faces, :class:`IVFIndex` (an
inverted file, float16 ranking, float32 rows mapped from the snapshot) for millions."""

from __future__ import annotations

from pathlib import Path

from ..base import Hit, VectorIndex
from .exact import ExactIndex
from .ivf import IVFIndex
from .scan import ScanIndex
from .snapshot import IVF_MAGIC, MAGIC, SCAN_MAGIC, SnapshotInvalid, snapshot_name, snapshot_path

__all__ = ["IVF_MAGIC", "MAGIC", "SCAN_MAGIC", "ExactIndex", "Hit", "IVFIndex", "ScanIndex", "SnapshotInvalid",
           "load_index", "snapshot_name", "snapshot_path"]


def load_index(path: Path, collection_id: str, dimension: int, *,
               max_count: int | None = None) -> VectorIndex | None:
    """The snapshot at ``path``, or None (then the caller rebuilds from the database) when it is
    missing, damaged or implausible: ``max_count`` bounds the face count a header may claim."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
    except OSError:
        return None
    if magic == IVF_MAGIC:
        return IVFIndex.load(path, collection_id, dimension, max_count=max_count)
    if magic == SCAN_MAGIC:
        return ScanIndex.load(path, collection_id, dimension, max_count=max_count)
    return ExactIndex.load(path, collection_id, dimension, max_count=max_count)
