"""Decoding and sampling: the container's metadata, the sampling grid (a resumed run samples the same
frames), and every broken file refused with a clear error."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from clearsight.errors import InvalidVideoError, VideoTooLargeException
from clearsight.video.decode import probe, samples

from .conftest import broken_videos


def test_metadata_comes_from_the_container(clip: Path) -> None:
    info = probe(clip)
    assert info.metadata() == {"Codec": "h264", "DurationMillis": info.duration_ms, "Format": "QuickTime / MOV",
                               "FrameRate": 29.97, "FrameHeight": 360, "FrameWidth": 640, "ColorRange": "LIMITED"}
    assert 9_900 <= info.duration_ms <= 10_100
    assert info.rotation == 0


def test_frames_are_sampled_on_a_grid_that_a_resumed_run_repeats(clip: Path) -> None:
    every = list(samples(clip, every_ms=200))
    stamps = [s.timestamp for s in every]
    assert 40 <= len(stamps) <= 50 and stamps == sorted(set(stamps))
    assert all(b - a >= 150 for a, b in itertools.pairwise(stamps))  # one frame per 200 ms step (29.97 fps)
    assert every[0].rgb.shape == (360, 640, 3)
    resumed = [s.timestamp for s in samples(clip, every_ms=200, start_ms=5000)]
    assert resumed == [t for t in stamps if t >= 5000]
    assert every[0].next_ms % 200 == 0 and every[0].next_ms > every[0].timestamp


def test_longer_than_the_limit_is_video_too_large(clip: Path) -> None:
    with pytest.raises(VideoTooLargeException, match="video_max_hours"):
        probe(clip, max_ms=5_000)


@pytest.mark.parametrize("kind", ["empty", "truncated", "random", "audio-only"])
def test_unreadable_files_are_refused_at_once_with_what_is_wrong(clip: Path, tmp_path: Path, kind: str) -> None:
    path = broken_videos(tmp_path, clip)[kind]
    expected = {"empty": "empty", "truncated": "not a video", "random": "not a video", "audio-only": "no video stream"}
    with pytest.raises(InvalidVideoError, match=expected[kind]):
        probe(path, name=f"s3://b/{kind}")


def test_a_file_damaged_midway_fails_while_decoding(clip: Path, tmp_path: Path) -> None:
    path = broken_videos(tmp_path, clip)["damaged"]
    probe(path)  # its start is fine
    with pytest.raises(InvalidVideoError, match="damaged or truncated"):
        list(samples(path, every_ms=200))


def test_prefetching_keeps_order_raises_where_it_failed_and_stops_when_closed(clip: Path, tmp_path: Path) -> None:
    from clearsight.video.decode import prefetched

    plain = [(s.timestamp, s.rgb.shape) for s in samples(clip, every_ms=500)]
    ahead = [(s.timestamp, shape) for s, shape in prefetched(samples(clip, every_ms=500), lambda s: s.rgb.shape)]
    assert ahead == plain
    damaged = broken_videos(tmp_path, clip)["damaged"]
    seen = []
    with pytest.raises(InvalidVideoError):
        for s, _ in prefetched(samples(damaged, every_ms=200), lambda s: None):
            seen.append(s.timestamp)
    assert seen, "the samples before the damage came through"
    it = prefetched(samples(clip, every_ms=200), lambda s: None)
    next(it)
    it.close()  # the helper thread stops (the test would hang otherwise)
