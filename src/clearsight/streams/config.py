"""What stream processors read and where they write, without Kinesis: ARN-keyed settings.

``stream_sources`` maps each Input.KinesisVideoStream.Arn to a camera (a URL, a file, a folder);
``stream_sinks`` maps each Output.KinesisDataStream.Arn to folders (JSON lines) and webhooks;
Output.S3Destination writes JSON lines into the bucket's folder. An ARN with no entry is refused
at CreateStreamProcessor, naming the setting: nothing is silently dropped.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterException
from ..video.notify import parse_map, post_json

__all__ = ["KDS_ARN", "KVS_ARN", "RecordWriter", "Sinks", "Sources"]

log = logging.getLogger("clearsight.streams")
KVS_ARN = re.compile(r"^arn:([a-z\d-]+):kinesisvideo:([a-z\d-]+):\d{12}:.+$")  # botocore's KinesisVideoArn
KDS_ARN = re.compile(r"^arn:([a-z\d-]+):kinesis:([a-z\d-]+):\d{12}:.+$")  # and KinesisDataArn
SOURCES = "stream_sources (CLEARSIGHT_STREAM_SOURCES)"
SINKS = "stream_sinks (CLEARSIGHT_STREAM_SINKS)"
URL_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "tcp://", "udp://", "srt://", "rtmp://")


@dataclass(frozen=True)
class Sources:
    cameras: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Sources:
        found = parse_map(text, KVS_ARN, SOURCES, "a Kinesis video stream ARN")
        bad = [arn for arn, values in found.items() if len(values) != 1]
        if bad:
            raise ValueError(f"{SOURCES}: {bad[0]} must name exactly one source")
        return cls({arn: values[0] for arn, values in found.items()})

    def resolve(self, arn: Any) -> str:
        if not isinstance(arn, str) or not KVS_ARN.match(arn):
            raise InvalidParameterException(f"Input.KinesisVideoStream.Arn {arn!r} is not a Kinesis video stream ARN")
        if arn not in self.cameras:
            raise InvalidParameterException(
                f"no camera is configured for {arn}: ClearSight does not emulate Kinesis Video Streams; list it in "
                f"the setting {SOURCES} as {arn}=rtsp://camera/stream (or an http:// URL, a file or a folder)")
        return self.cameras[arn]


@dataclass(frozen=True)
class Sinks:
    targets: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Sinks:
        return cls(parse_map(text, KDS_ARN, SINKS, "a Kinesis data stream ARN"))

    def check(self, output: Any) -> None:
        """Refuse an Output ClearSight cannot deliver."""
        if not isinstance(output, dict) or not output or set(output) - {"KinesisDataStream", "S3Destination"}:
            raise InvalidParameterException("Output needs KinesisDataStream {Arn} or S3Destination {Bucket, KeyPrefix}")
        kds = output.get("KinesisDataStream")
        if kds is not None:
            arn = kds.get("Arn") if isinstance(kds, dict) else None
            if not isinstance(arn, str) or not KDS_ARN.match(arn):
                raise InvalidParameterException(
                    f"Output.KinesisDataStream.Arn {arn!r} is not a Kinesis data stream ARN")
            if arn not in self.targets:
                raise InvalidParameterException(
                    f"no sink is configured for {arn}: ClearSight does not emulate Kinesis Data Streams; list it in "
                    f"the setting {SINKS} as {arn}=/a/folder or {arn}=http://host/hook")
        s3 = output.get("S3Destination")
        if s3 is not None and (not isinstance(s3, dict) or not isinstance(s3.get("Bucket"), str)
                               or "/" in s3["Bucket"] or s3["Bucket"] in {".", ".."}):
            raise InvalidParameterException("Output.S3Destination needs a Bucket (a folder under s3_root)")

    def writer(self, output: dict[str, Any], name: str, session_id: str, s3_root: Path) -> RecordWriter:
        targets: list[str] = []
        kds = output.get("KinesisDataStream")
        if kds:
            targets += [t if t.startswith(("http://", "https://")) else str(Path(t) / f"{name}.jsonl")
                        for t in self.targets.get(kds["Arn"], ())]
        s3 = output.get("S3Destination")
        if s3:
            folder = (s3_root / s3["Bucket"]).resolve()
            path = (folder / f"{s3.get('KeyPrefix') or ''}{name}" / session_id / "results.jsonl").resolve()
            if not path.is_relative_to(folder):
                raise InvalidParameterException("Output.S3Destination.KeyPrefix leaves its bucket")
            targets.append(str(path))
        return RecordWriter(tuple(targets))


class RecordWriter:
    """Writes each record, as it is made, to every target: a JSON line appended (and flushed) to a
    file, or a POST. A target that fails is logged and counted; the others still get the record."""

    def __init__(self, targets: tuple[str, ...]) -> None:
        self.targets = targets
        self.failures = 0
        self._files: dict[str, Any] = {}
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        body = json.dumps(record)
        with self._lock:
            for target in self.targets:
                try:
                    if target.startswith(("http://", "https://")):
                        post_json(target, body.encode(), timeout=2.0)
                        continue
                    fh = self._files.get(target)
                    if fh is None:
                        Path(target).parent.mkdir(parents=True, exist_ok=True)
                        fh = self._files[target] = open(target, "a", encoding="utf-8")
                    fh.write(body + "\n")
                    fh.flush()
                except (OSError, ValueError) as exc:
                    self.failures += 1
                    log.warning("stream record to %s failed: %s", target, exc)

    def close(self) -> None:
        with self._lock:
            for fh in self._files.values():
                fh.close()
            self._files.clear()
