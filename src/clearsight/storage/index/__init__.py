"""Vector indexes: derived from the store's change log, persisted beside it as snapshots, caught
up or rebuilt at start. :class:`ExactIndex` while exact search is fast enough, :class:`ScanIndex`
(a compressed scan with exact re-scoring) above ``ann_threshold`` faces, :class:`FastScanIndex` (4-bit
codes scanned with SIMD, int8 ranking, float32 rows mapped from the snapshot) above ``ivf_threshold``."""

from __future__ import annotations

from pathlib import Path

from ..base import Hit, VectorIndex
from .exact import ExactIndex
from .fastscan import FastScanIndex
from .scan import ScanIndex
from .snapshot import FASTSCAN_MAGIC, MAGIC, SCAN_MAGIC, SnapshotInvalid, snapshot_name, snapshot_path

__all__ = ["FASTSCAN_MAGIC", "MAGIC", "SCAN_MAGIC", "ExactIndex", "FastScanIndex", "Hit", "ScanIndex",
           "SnapshotInvalid", "load_index", "snapshot_name", "snapshot_path"]


def load_index(path: Path, collection_id: str, dimension: int, *,
               max_count: int | None = None) -> VectorIndex | None:
    """The snapshot at ``path``, or None (then the caller rebuilds from the database) when it is
    missing, damaged or implausible: ``max_count`` bounds the face count a header may claim."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
    except OSError:
        return None
    if magic == FASTSCAN_MAGIC:
        return FastScanIndex.load(path, collection_id, dimension, max_count=max_count)
    if magic == SCAN_MAGIC:
        return ScanIndex.load(path, collection_id, dimension, max_count=max_count)
    return ExactIndex.load(path, collection_id, dimension, max_count=max_count)
