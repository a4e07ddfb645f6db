"""Frames from a camera as they arrive: a live URL (RTSP, HTTP MPEG-TS...), a file replayed at its
own frame rate and followed while it grows, or a folder of such files.

:func:`frames` yields the frames on a ``sample_ms`` grid of the camera's own timestamps, each with
the wall-clock time it arrived. Every frame is decoded (H.264 needs them all) but only sampled ones
are converted to RGB. Opening and each read are bounded by ``timeout`` (FFmpeg's interrupt
callback, through PyAV), so a camera that stops answering raises :class:`SourceError`, never
blocks. FFmpeg's failures become :class:`SourceError` here and only here.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import URL_SCHEMES

__all__ = ["Frame", "SourceEnded", "SourceError", "frames"]


class SourceError(Exception):
    """The camera could not be opened or read (the message says why); the processor retries."""


class SourceEnded(SourceError):
    """A file source ended (it stopped growing): nothing more will come."""


@dataclass(frozen=True)
class Frame:
    index: int  # sampled frames since the session started (Kinesis' FragmentNumber stands for it)
    pts_ms: int  # the camera's timestamp, from its first frame
    stream_ms: int  # the stream's own timestamp (as the camera stamped it)
    arrived: float  # wall clock when it was decoded
    rgb: np.ndarray


class _Growing(io.RawIOBase):
    """A file read as it grows: at its end, wait for more (up to ``idle`` seconds, then EOF)."""

    def __init__(self, path: Path, idle: float, stop: threading.Event) -> None:
        self.fh = path.open("rb")
        self.idle = idle
        self.stop = stop

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.fh.seek(offset, whence)

    def tell(self) -> int:
        return self.fh.tell()

    def readinto(self, buffer: Any) -> int:
        deadline = time.monotonic() + self.idle
        while True:
            n = self.fh.readinto(buffer)
            if n or self.stop.is_set() or time.monotonic() > deadline:
                return n or 0
            time.sleep(0.05)

    def close(self) -> None:
        self.fh.close()
        super().close()


def _files(folder: Path, idle: float, stop: threading.Event) -> Iterator[Path]:
    """The folder's video files in name order, then the new ones as they appear (forever)."""
    done: set[str] = set()
    while not stop.is_set():
        fresh = sorted(p for p in folder.iterdir() if p.is_file() and p.name not in done
                       and not p.name.startswith("."))
        if not fresh:
            stop.wait(min(1.0, idle))
            continue
        done.add(fresh[0].name)
        yield fresh[0]


def frames(source: str, *, sample_ms: int, timeout: float, stop: threading.Event,
           start_index: int = 0) -> Iterator[Frame]:
    """The sampled frames of the source, as they arrive, until ``stop`` is set."""
    if source.startswith(URL_SCHEMES):
        yield from _decode(source, source, sample_ms=sample_ms, timeout=timeout, stop=stop, paced=False,
                           start_index=start_index)
        return
    path = Path(source)
    if path.is_dir():
        index = start_index
        for f in _files(path, timeout, stop):
            for frame in _decode(f, f"{source}/{f.name}", sample_ms=sample_ms, timeout=timeout, stop=stop,
                                 paced=True, start_index=index, ended_ok=True):
                index = frame.index + 1
                yield frame
        return
    if not path.is_file():
        raise SourceError(f"{source}: no such file or folder")
    yield from _decode(path, source, sample_ms=sample_ms, timeout=timeout, stop=stop, paced=True,
                       start_index=start_index)
    raise SourceEnded(f"{source} ended (it did not grow for {timeout:g} s)")


def _decode(target: str | Path, label: str, *, sample_ms: int, timeout: float, stop: threading.Event, paced: bool,
            start_index: int, ended_ok: bool = False) -> Iterator[Frame]:
    import av

    handle: _Growing | None = None
    try:
        if isinstance(target, Path):
            handle = _Growing(target, timeout, stop)
            container = av.open(handle, "r", metadata_errors="ignore")
        else:
            container = av.open(target, "r", timeout=(timeout, timeout), metadata_errors="ignore",
                                options={"analyzeduration": "1000000"})
    except (av.FFmpegError, OSError) as exc:
        if handle is not None:
            handle.close()
        raise SourceError(f"{label} cannot be opened: {getattr(exc, 'strerror', None) or exc}") from exc
    index, first, next_ms, started = start_index, None, 0.0, time.monotonic()
    try:
        if not container.streams.video:
            raise SourceError(f"{label} has no video stream")
        stream = container.streams.video[0]
        stream.thread_count = 1  # decoding threads add frames of latency; 640x360 decodes in ~1 ms
        for frame in container.decode(stream):
            if stop.is_set():
                return
            if frame.time is None:
                continue
            t = float(frame.time) * 1000.0
            first = t if first is None else first
            rel = t - first
            if rel < next_ms:
                continue
            if paced:  # a file plays at its own rate, as a camera would send it
                delay = started + rel / 1000.0 - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    return
            next_ms = (rel // sample_ms + 1) * sample_ms
            yield Frame(index, round(rel), round(t), time.time(), frame.to_ndarray(format="rgb24"))
            index += 1
    except av.FFmpegError as exc:
        if not stop.is_set():
            raise SourceError(f"{label} stopped: {exc.strerror or type(exc).__name__}") from exc
    finally:
        container.close()
        if handle is not None:
            handle.close()
    if not ended_ok and not paced and not stop.is_set():
        raise SourceError(f"{label} closed the stream")
