"""Stored-video fixtures: the real Hamilton clip and its two reference photos, broken files made in
tmp_path, and video services over fresh data directories sharing the session engine's models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clearsight.collections.service import Collections
from clearsight.settings import Settings
from clearsight.video.service import VideoService

from ..conftest import data_path

PEOPLE = ("lin-manuel-miranda", "alex-lacamoire")


@pytest.fixture(scope="session")
def clip() -> Path:
    return data_path("video", "short_hamilton_clip.mp4")


def enrol(c: Collections, collection_id: str) -> dict[str, str]:
    """Both reference photos in a new collection: {name: FaceId}."""
    c.create_collection(collection_id=collection_id)
    ids = {}
    for name in PEOPLE:
        out = c.index_faces(collection_id=collection_id, image=data_path("video", f"{name}.png").read_bytes(),
                            external_image_id=name)
        ids[name] = out["FaceRecords"][0]["Face"]["FaceId"]
    return ids


ServiceFactory = Callable[..., VideoService]


@pytest.fixture()
def video_service(engine: Any, tmp_path: Path) -> Iterator[ServiceFactory]:
    """``video_service(**settings)``: a VideoService over a fresh data directory (built as the Engine
    builds it, with the session's models), closed after the test."""
    made: list[Collections] = []

    def make(**overrides: Any) -> VideoService:
        data_dir = tmp_path / f"data{len(made)}"
        settings = Settings.load(data_dir=str(data_dir), **overrides)
        c = Collections(data_dir, settings=settings, faces=engine.faces, calibration=engine.calibration,
                        decode=engine.decode)
        made.append(c)
        return VideoService(settings=settings, collections=c, faces=engine.faces, calibration=engine.calibration,
                            objects=engine.objects, executor=engine.executor, labels=lambda: engine.labels,
                            text=lambda: engine.text)

    yield make
    for c in made:
        c.close()


def broken_videos(folder: Path, clip: Path) -> dict[str, Path]:
    """Files that are not analysable videos, made fresh: empty, truncated, random bytes, audio only,
    damaged in the middle."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    data = clip.read_bytes()
    files = {"empty": b"", "truncated": data[: len(data) // 2], "random": np.random.default_rng(1).bytes(100_000)}
    damaged = bytearray(data)
    damaged[len(data) // 3: 2 * len(data) // 3: 7] = bytes(len(damaged[len(data) // 3: 2 * len(data) // 3: 7]))
    files["damaged"] = bytes(damaged)
    out = {name: folder / f"{name}.mp4" for name in files}
    for name, content in files.items():
        out[name].write_bytes(content)
    audio = folder / "audio-only.m4a"
    with av.open(str(audio), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for _ in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 16000
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    out["audio-only"] = audio
    return out
