"""Video files: what the container says (VideoMetadata) and its frames sampled every N ms.

PyAV bundles FFmpeg, so anything FFmpeg demuxes and decodes is accepted (MP4, MOV, AVI, MKV,
WebM...); no system ffmpeg is needed. Frames are sampled on a fixed grid: the first frame at or
after each multiple of ``every_ms`` (timestamps from the container's start, as a player shows
them), so a job resumed at a checkpoint samples exactly the frames an uninterrupted run would.
Frames are turned upright from the stream's rotation metadata (phones record portrait video as
landscape frames plus a rotation). FFmpeg's failures become :class:`InvalidVideoError` here and
only here, naming the file as the client gave it.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import InvalidVideoError, VideoTooLargeException

__all__ = ["Sample", "VideoInfo", "prefetched", "probe", "samples"]

T = TypeVar("T")


@dataclass(frozen=True)
class VideoInfo:
    """The container's description of a video (Rekognition's VideoMetadata) and its rotation."""

    codec: str
    duration_ms: int
    format: str
    frame_rate: float
    width: int
    height: int
    color_range: str  # FULL | LIMITED
    rotation: int  # degrees counterclockwise that make the frames upright (0, 90, 180, 270)

    def metadata(self) -> dict[str, Any]:
        return {"Codec": self.codec, "DurationMillis": self.duration_ms, "Format": self.format,
                "FrameRate": self.frame_rate, "FrameHeight": self.height, "FrameWidth": self.width,
                "ColorRange": self.color_range}


@dataclass(frozen=True)
class Sample:
    timestamp: int  # ms from the start of the video
    rgb: np.ndarray  # upright
    next_ms: int  # the grid point after this sample: where a resumed run starts


def _open(path: Path, name: str) -> Any:
    import av

    try:
        if path.stat().st_size == 0:
            raise InvalidVideoError(f"{name} is empty (0 bytes)")
        return av.open(str(path), metadata_errors="ignore")
    except OSError as exc:  # gone or unreadable since the job started
        raise InvalidVideoError(f"{name} cannot be read any more: {exc.strerror or type(exc).__name__}") from exc
    except av.FFmpegError as exc:
        raise InvalidVideoError(f"{name} is not a video FFmpeg can read (corrupt, truncated or an unknown "
                                f"format): {exc.strerror or type(exc).__name__}") from exc


def _stream(container: Any, name: str) -> Any:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        raise InvalidVideoError(f"{name} has no video stream ({', '.join(kinds)} only)")
    stream = container.streams.video[0]
    if stream.codec_context is None or not stream.width or not stream.height:
        raise InvalidVideoError(f"{name}: its video codec cannot be decoded here")
    return stream


def _rotation(stream: Any, container: Any) -> int:
    """From the first frame's display matrix (PyAV exposes it per frame)."""
    try:
        for frame in container.decode(stream):
            return round(float(frame.rotation) / 90.0) * 90 % 360
    except Exception as exc:  # FFmpeg's decode errors (av.FFmpegError and its subclasses)
        raise InvalidVideoError(f"the first frame cannot be decoded: {exc}") from exc
    raise InvalidVideoError("the video stream has no decodable frame (truncated?)")


def probe(path: Path, *, name: str | None = None, max_ms: float | None = None) -> VideoInfo:
    """The video's metadata, checking that its first frame decodes; VideoTooLargeException when it is
    longer than ``max_ms``."""
    import av

    label = name or path.name
    container = _open(path, label)
    try:
        stream = _stream(container, label)
        if container.duration:  # the container's length (AV_TIME_BASE: microseconds), as a player shows it
            duration = container.duration / 1000.0
        else:
            duration = float((stream.duration or 0) * (stream.time_base or 0)) * 1000.0
        if max_ms is not None and duration > max_ms:
            raise VideoTooLargeException(f"{label} lasts {duration / 3.6e6:.2f} hours; the limit is "
                                         f"{max_ms / 3.6e6:g} hours (setting video_max_hours)")
        rate = stream.average_rate or stream.guessed_rate or 0
        ctx = stream.codec_context
        try:
            rotation = _rotation(stream, container)
        except InvalidVideoError as exc:
            raise InvalidVideoError(f"{label}: {exc.message}") from exc
        return VideoInfo(codec=ctx.name, duration_ms=round(duration), format=container.format.long_name,
                         frame_rate=round(float(rate), 3), width=int(stream.width), height=int(stream.height),
                         color_range="FULL" if int(ctx.color_range or 0) == 2 else "LIMITED", rotation=rotation)
    except av.FFmpegError as exc:
        raise InvalidVideoError(f"{label} cannot be read: {exc.strerror or type(exc).__name__}") from exc
    finally:
        container.close()


def _upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(rgb, k=rotation // 90)) if rotation else rgb


def samples(path: Path, *, every_ms: int, start_ms: int = 0, rotation: int = 0,
            name: str | None = None) -> Iterator[Sample]:
    """The sampled frames from grid point ``start_ms`` on (seeking there first), decoded with FFmpeg's
    threads. A decode error midway (a truncated or damaged file) raises InvalidVideoError."""
    import av

    label = name or path.name
    container = _open(path, label)
    target = float(start_ms)
    try:
        stream = _stream(container, label)
        stream.thread_type = "AUTO"
        if start_ms > 0 and stream.time_base:
            container.seek(int(start_ms / 1000.0 / float(stream.time_base)), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            t = float(frame.time) * 1000.0
            if t < target:
                continue
            nxt = (math.floor(t / every_ms) + 1) * every_ms
            yield Sample(round(t), _upright(frame.to_ndarray(format="rgb24"), rotation), int(nxt))
            target = float(nxt)
    except av.FFmpegError as exc:
        raise InvalidVideoError(f"{label} could not be decoded past {target / 1000:.1f} s (damaged or "
                                f"truncated): {exc.strerror or type(exc).__name__}") from exc
    finally:
        container.close()


def prefetched(items: Iterator[Sample], prepare: Callable[[Sample], T], *,
               depth: int = 2) -> Iterator[tuple[Sample, T]]:
    """``(sample, prepare(sample))`` for each sample, decoding and preparing up to ``depth`` samples ahead
    in a helper thread (so decoding and detection overlap the caller's own work on two cores). Errors
    are raised in the caller at the sample where they happened; closing the iterator stops the thread."""
    done = object()
    out: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for s in items:
                if stop.is_set():
                    return
                out.put((s, prepare(s)))
            out.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            out.put(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # the container is closed in the thread that decoded it

    worker = threading.Thread(target=produce, name="video-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            got = out.get()
            if got is done:
                return
            if isinstance(got, BaseException):
                raise got
            yield got
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                out.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()
