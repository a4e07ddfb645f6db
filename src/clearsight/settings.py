"""Every setting, declared once: name, type, default and help.

Environment variables use the ``CLEARSIGHT_`` prefix (``CLEARSIGHT_MODEL_DIR``...). The CLI,
the docs table (``docs/settings.md``) and the tests are all generated from or checked against
``SETTINGS``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .params import FALSE_WORDS, TRUE_WORDS

ENV_PREFIX = "CLEARSIGHT_"


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "clearsight")


def _default_model_dir() -> str:
    return str(Path(sys.prefix) / "share" / "clearsight" / "models")


SETTINGS: tuple[Setting, ...] = (
    Setting("model_dir", str, _default_model_dir(),
            "Folder holding prepared models (ONNX conversions); filled by `clearsight models prepare`."),
    Setting("data_dir", str, _default_data_dir(),
            "Where collections live: the SQLite database, vector index snapshots and keys."),
    Setting("storage_url", str, "",
            "The store of record (collections, faces, users, audit chain, access keys, change log): empty or "
            "sqlite:///PATH for SQLite (default <data_dir>/clearsight.db; a relative PATH is in data_dir), or "
            "postgresql://USER@HOST:PORT/DB for PostgreSQL + pgvector (pip install 'clearsight[postgres]'; "
            "docs/postgres.md). The data directory still holds the key files and index snapshots."),
    Setting("data", str, "../shared/data",
            "Folder of the real labelled test data (LFW, faces, COCO, OCR); used by eval, tests and bench."),
    Setting("face_model", str, "",
            "Face model version: clearsight-face-mesh-1 (the default: MobileFaceNet aligned on MediaPipe Face Mesh "
            "points), clearsight-face-fused-2 (MobileFaceNet + dlib's ResNet as ONNX, detector-aligned), "
            "clearsight-face-fused-1 (the same with dlib's own ResNet: the default before 2026-12), "
            "clearsight-face-fast-1 (MobileFaceNet, detector-aligned), clearsight-face-fused-3 (fused-2, mesh-aligned) "
            "or clearsight-face-plus-1 (a 512-d net of unclear provenance; opt-in); empty means the default. "
            "Collections pin theirs (`clearsight collection migrate`). See docs/accuracy.md."),
    Setting("threads", int, 0,
            "CPU threads per inference session; 0 means one per core."),
    Setting("workers", int, 0,
            "Operations run at once by the engine's one inference executor (the server's requests, batch CLI "
            "work, video jobs); 0 means one per core. `clearsight serve --workers` sets it."),
    Setting("max_image_bytes", int, 5 * 1024 * 1024,
            "Largest encoded image accepted inline (Rekognition: 5 MB for Image.Bytes)."),
    Setting("max_image_pixels", int, 40_000_000,
            "Decompression-bomb guard: largest decoded width x height accepted."),
    Setting("min_image_side", int, 80,
            "Smallest width or height accepted, in pixels (Rekognition: 80)."),
    Setting("max_compression_ratio", int, 500,
            "Decompression-bomb guard: beyond its first 2 megapixels an image may decode (width x height x 3 "
            "bytes) to at most this many times its file size. Photos are 10-100x, scans and screenshots a few "
            "hundred, flat-colour bombs 900-75,000x. 0 turns the check off."),
    Setting("detection_max_side", int, 640,
            "Images are downscaled so their longest side is at most this before detection (raise it to "
            "find smaller faces, at a cost growing with the pixels); images 2.5x larger are also scanned "
            "in tiles at twice that resolution."),
    Setting("detection_min_confidence", float, 0.75,
            "Face confidence (0-1: the mean of the YuNet score and the O-Net face probability) "
            "below which a candidate is not reported as a face."),
    Setting("s3_root", str, "",
            "Folder whose subfolders stand in for S3 buckets: Image.S3Object {Bucket, Name} is read "
            "from <s3_root>/<Bucket>/<Name>; empty means <data_dir>/s3."),
    Setting("max_request_bytes", int, 8 * 1024 * 1024,
            "Largest HTTP request body accepted (a 5 MB image is ~6.7 MB in base64)."),
    Setting("request_timeout", float, 60.0,
            "Seconds a request may run before it is answered with ThrottlingException."),
    Setting("ann_threshold", int, 100_000,
            "Faces in a collection from which search scans compact 64-byte codes (PCA + 8-bit) and re-scores "
            "the best candidates exactly, instead of scanning every full vector (1M faces: ~85 ms exact)."),
    Setting("ivf_threshold", int, 10_000_000,
            "Faces in a collection from which the full float32 vectors leave RAM: every face's 16-byte 4-bit code "
            "is scanned (SIMD fast-scan), the best candidates are ranked on int8 copies and re-scored from float32 "
            "rows mapped from the index snapshot (374 B/face resident; 20M faces in 7.0 GiB, docs/collections.md). "
            "Below it the scan keeps every float32 vector in RAM (~1 KB/face at 192-d): faster and closer to exact "
            "search. (The name is from the inverted file this index replaced.)"),
    Setting("ann_candidates", int, 1024,
            "Candidates re-scored exactly per search above ann_threshold (at least 8 x MaxFaces)."),
    Setting("erase_sync_bytes", int, 32 * 1024 * 1024,
            "Below this database size, deletions are erased (VACUUM, WAL truncated, index files rewritten) "
            "before the call returns; above it, at the next compaction (`clearsight erase`, or hourly in the server)."),
    Setting("erase_after", float, 30.0,
            "Seconds after a deletion too large to erase before its response (see erase_sync_bytes) until the "
            "process erases it in the background (index files rewritten, change log dropped, VACUUM, WAL "
            "truncated); deletions within that time are erased together. 0 leaves it to the maintenance loop "
            "and `clearsight erase`. The response's ClearSightErasure.ReceiptId tells when it completed."),
    Setting("integrity_check", bool, True,
            "Run SQLite's PRAGMA quick_check on the database before `clearsight serve` serves (it reads the "
            "whole file: about a second per GB); a damaged database is refused with the recovery steps."),
    Setting("maintenance_interval", float, 3600.0,
            "Seconds between the server's retention purges and pending-erasure compactions."),
    Setting("max_faces", int, 100,
            "Most faces returned per image, largest first (Rekognition: 100)."),
    # --- stored video (Start*/Get* jobs) --------------------------------------------------------
    Setting("video_sample_ms", int, 200,
            "Stored-video jobs analyse one frame every this many milliseconds of video (the first frame at or "
            "after each multiple); `clearsight video faces --sample-ms` overrides it for one run."),
    Setting("video_chunk_ms", int, 5000,
            "Milliseconds of video a job analyses between checkpoints: its results so far are committed, so a "
            "restart (or kill -9) resumes from the last checkpoint without losing or repeating results."),
    Setting("video_max_jobs", int, 20,
            "Stored-video jobs queued or running at once; one more is refused with LimitExceededException "
            "(Rekognition's default quota is 20)."),
    Setting("video_workers", int, 1,
            "Video jobs that analyse at once. Each runs one chunk at a time on the engine's executor, queued "
            "behind the requests already waiting, so a long video never holds a worker the server needs."),
    Setting("video_prefetch", bool, True,
            "A video job decodes and detects its next sampled frames in a helper thread while its worker tracks and "
            "embeds the current one (one job uses two cores when they are free); false keeps each job on its one "
            "executor thread."),
    Setting("video_result_days", float, 7.0,
            "Days a finished job's results are kept (Rekognition: 7), never longer than the searched "
            "collection's retention period; then they are purged and erased."),
    Setting("video_max_bytes", int, 10 * 1024**3,
            "Largest video file a job accepts (Rekognition: 10 GB); a larger one is VideoTooLargeException."),
    Setting("video_max_hours", float, 6.0,
            "Longest video a job accepts, in hours (Rekognition: 6); a longer one is VideoTooLargeException."),
    Setting("video_notification_sinks", str, "",
            "Where a job's completion is delivered for each NotificationChannel.SNSTopicArn (SNS is not "
            "emulated): `ARN=SINK[|SINK...]` entries separated by `;`, a SINK being an http(s):// URL that is "
            "POSTed Rekognition's notification JSON or a folder that gets one <JobId>.json file. A Start* "
            "naming a topic not listed here is refused."),
    # --- live cameras (stream processors) ------------------------------------------------------
    Setting("stream_sources", str, "",
            "The cameras stream processors may read, for each Input.KinesisVideoStream.Arn (Kinesis is not "
            "emulated): `ARN=SOURCE` entries separated by `;`, a SOURCE being an rtsp://, http(s)://, tcp://, "
            "udp:// or srt:// URL read live, a video file replayed at its own frame rate and followed as it grows, "
            "or a folder whose video files (in name order, new ones as they appear) are read that way. A "
            "CreateStreamProcessor naming another ARN is refused."),
    Setting("stream_sinks", str, "",
            "Where a stream processor's records go, for each Output.KinesisDataStream.Arn: `ARN=SINK[|SINK...]` "
            "entries separated by `;`, a SINK being a folder (one JSON line per record appended to "
            "<ProcessorName>.jsonl) or an http(s):// URL POSTed each record. Output.S3Destination writes JSON lines "
            "under the bucket folder (see s3_root) instead."),
    Setting("stream_sample_ms", int, 200,
            "A stream processor analyses one frame every this many milliseconds of the camera's time."),
    Setting("stream_latency_ms", int, 1000,
            "A stream processor's latency budget: a sampled frame older than this when its turn comes (the "
            "processor fell behind its camera) is dropped, counted and reported, never queued. A processor's tag "
            "clearsight:latency-ms overrides it."),
    Setting("stream_retry_seconds", float, 120.0,
            "A camera that cannot be opened or stops sending is retried with backoff (1 s doubling to 30 s; the "
            "processor is STARTING and its StatusMessage says why) for this long without a frame, then the "
            "processor is FAILED."),
    Setting("stream_read_timeout", float, 10.0,
            "Seconds a camera may take to open or to send the next data before the read is abandoned and retried."),
    Setting("stream_max_processors", int, 20,
            "Stream processors that may exist at once; one more is refused with LimitExceededException."),
    # --- the HTTP service under attack: signatures, connections, memory ----------------------
    Setting("regions", str, "us-east-1",
            "Comma-separated regions accepted in a request's SigV4 credential scope (the clients' "
            "AWS_DEFAULT_REGION); a request signed for another region or service is refused."),
    Setting("replay_cache", bool, False,
            "Refuse a second use of one signature for a non-idempotent operation (IndexFaces, deletions, "
            "associations...) within the 5-minute signature window. Off by default, as on AWS."),
    Setting("max_connections", int, 200,
            "Open HTTP connections served at once; a connection over it is answered ThrottlingException "
            "(HTTP 503) and closed (the server raises its file-descriptor limit to fit)."),
    Setting("idle_timeout", float, 15.0,
            "Seconds a connection may stay open without completing a request before it is closed."),
    Setting("max_inflight_bytes", int, 96 * 1024 * 1024,
            "Request body bytes held in memory across all requests at once; a request that would exceed it is "
            "answered ThrottlingException before its body is read."),
    # --- the web console -------------------------------------------------------------------
    Setting("console", bool, True,
            "Serve the web console at /console/ on the API's port (docs/console.md); `clearsight serve --no-console` "
            "turns it off."),
    Setting("console_idle_timeout", float, 1800.0,
            "Seconds a console session may stay idle before it must log in again."),
    # --- the audit trail's key -----------------------------------------------------------------
    Setting("audit_key", str, "",
            "The audit trail's HMAC key as hex (at least 32 bytes); takes precedence over audit_key_file."),
    Setting("audit_key_file", str, "",
            "File holding the audit trail's HMAC key (created with mode 0600 on first use); empty means "
            "<data_dir>/audit.key. Keep it outside the data directory so that whoever can write the database "
            "cannot re-sign the chain."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _parse(setting: Setting, raw: str) -> Any:
    if setting.type is bool:
        word = raw.strip().lower()
        if word not in TRUE_WORDS | FALSE_WORDS | {""}:
            raise ValueError(f"{setting.env}={raw!r} is not a boolean; use true or false")
        return word in TRUE_WORDS
    try:
        return setting.type(raw)
    except ValueError as exc:
        raise ValueError(f"{setting.env}={raw!r} is not a valid {setting.type.__name__}") from exc


@dataclasses.dataclass(frozen=True)
class Settings:
    """Resolved settings: explicit overrides, then environment variables, then defaults."""

    values: Mapping[str, Any]

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for s in SETTINGS:
            if overrides.get(s.name) is not None:
                values[s.name] = overrides.pop(s.name)
            elif s.env in env:
                values[s.name] = _parse(s, env[s.env])
            else:
                values[s.name] = s.default
        unknown = [k for k, v in overrides.items() if v is not None]
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(values)

    def __getattr__(self, name: str) -> Any:
        if name in _BY_NAME:
            return self.values[name]
        raise AttributeError(name)

    @property
    def cpu_threads(self) -> int:
        return int(self.values["threads"]) or (os.cpu_count() or 1)


def markdown_table() -> str:
    """The docs table of every setting (docs/settings.md is checked against this)."""
    rows = ["# Settings", "",
            "Every setting can be given as an environment variable. This page is generated by "
            "`clearsight settings --markdown` from `src/clearsight/settings.py`.", "",
            "| setting | environment variable | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = {"model_dir": "`<venv>/share/clearsight/models`",
                   "data_dir": "`$XDG_DATA_HOME/clearsight` (`~/.local/share/clearsight`)"}.get(
            s.name, f"`{s.default}`")
        rows.append(f"| {s.name} | `{s.env}` | {default} | {s.help} |")
    return "\n".join(rows) + "\n"

