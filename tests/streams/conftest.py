"""Stream processor fixtures: services over fresh data directories sharing the session engine's models,
with the Hamilton clip as a camera (a file replayed at its frame rate) and a folder sink."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clearsight.collections.service import Collections
from clearsight.settings import Settings
from clearsight.streams.service import StreamProcessors

from ..conftest import data_path
from ..video.conftest import enrol

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/RekognitionStreams"
OUT = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/out"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:events"
CLIP = f"arn:aws:kinesisvideo:us-east-1:{ACCOUNT}:stream/clip/1"


def kvs(name: str) -> str:
    return f"arn:aws:kinesisvideo:us-east-1:{ACCOUNT}:stream/{name}/1"


Factory = Callable[..., tuple[StreamProcessors, dict[str, str]]]


@pytest.fixture()
def streams(engine: Any, tmp_path: Path) -> Iterator[Factory]:
    """``streams(**settings)``: (a StreamProcessors over a fresh data directory with the collection
    "hamilton" enrolled, its FaceIds), closed after the test."""
    made: list[tuple[StreamProcessors, Collections]] = []
    clip = data_path("video", "short_hamilton_clip.mp4")

    def make(**overrides: Any) -> tuple[StreamProcessors, dict[str, str]]:
        data_dir = tmp_path / f"data{len(made)}"
        values = {"stream_sources": f"{CLIP}={clip}", "stream_sinks": f"{OUT}={tmp_path / 'out'}",
                  "video_notification_sinks": f"{TOPIC}={tmp_path / 'notices'}", **overrides}
        settings = Settings.load(data_dir=str(data_dir), **values)
        c = Collections(data_dir, settings=settings, faces=engine.faces, calibration=engine.calibration,
                        decode=engine.decode)
        ids = enrol(c, "hamilton")
        s = StreamProcessors(settings=settings, collections=c, faces=engine.faces, calibration=engine.calibration,
                             executor=engine.executor, s3_root=tmp_path / "s3", labels=lambda: engine.labels)
        s.runner.poll = 0.2
        made.append((s, c))
        return s, ids

    yield make
    for s, c in made:
        s.runner.stop()
        c.close()
