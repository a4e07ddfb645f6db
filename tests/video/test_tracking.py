"""The tracker on made-up detections: overlap continues a track, a cut stops it, the same face
re-links across a cut or a gap, a different face on a track splits it, people who cross or take
each other's place stay apart, embeddings stay few."""

from __future__ import annotations

import numpy as np

from clearsight.video.tracking import (
    CHECK_EVERY,
    MAX_EMBEDDINGS,
    Tracker,
    colour_histogram,
    face_quality,
    scene_cut,
)


def unit(seed: int, dim: int = 16) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def box(x: float, y: float, side: float = 60) -> np.ndarray:
    return np.array([x, y, x + side, y + side], np.float32)


class Faces:
    """Detections whose embeddings are their person's vector; counts the embeddings asked for."""

    def __init__(self) -> None:
        self.embedded = 0

    def frame(self, people: list[int]) -> object:
        def embed(which: list[int]) -> list[np.ndarray]:
            self.embedded += len(which)
            return [unit(people[i]) for i in which]

        return embed


def run(tracker: Tracker, faces: Faces, frames: list[list[tuple[int, np.ndarray]]], cuts: set[int] = frozenset()
        ) -> list[list[int]]:
    out = []
    for n, frame in enumerate(frames):
        people = [p for p, _ in frame]
        qualities = [face_quality(b, 50.0, 0.0, 0.0) for _, b in frame]
        out.append(tracker.update(200 * n, [b for _, b in frame], qualities,
                                  faces.frame(people), cut=n in cuts))  # type: ignore[arg-type]
    return out


def test_overlap_continues_a_track_and_embeds_its_first_face_then_a_check_now_and_then() -> None:
    faces = Faces()
    t = Tracker(relink=0.9, split=0.1)
    got = run(t, faces, [[(1, box(10 + 3 * n, 10)), (2, box(300, 10))] for n in range(20)])
    assert all(g == [0, 1] for g in got)
    assert faces.embedded == 2 * len(range(0, 20, CHECK_EVERY)) and t.tracks[0].samples == 20


def test_a_cut_ends_overlap_but_the_same_face_relinks() -> None:
    faces = Faces()
    t = Tracker(relink=0.9, split=0.1)
    frames = [[(1, box(10, 10))]] * 3 + [[(2, box(12, 12))]] * 3 + [[(1, box(200, 100))]] * 3
    got = run(t, faces, frames, cuts={3, 6})
    assert [g[0] for g in got] == [0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert (t.tracks[0].first_ms, t.tracks[0].last_ms) == (0, 1600)


def test_after_a_cut_the_earlier_shot_is_never_continued_by_overlap() -> None:
    """The new shot's face lands on the old shot's box one sample after the cut: it stays its own."""
    faces = Faces()
    t = Tracker(relink=0.9, split=0.1)
    frames = [[(1, box(100, 50))]] * 3 + [[(2, box(110, 50))]] + [[(2, box(100, 50))]] * 2
    assert [g[0] for g in run(t, faces, frames, cuts={3})] == [0, 0, 0, 1, 1, 1]


def test_a_different_face_where_a_track_was_splits_it() -> None:
    faces = Faces()
    t = Tracker(relink=0.9, split=0.1)
    frames = [[(1, box(10, 10, 40))], [(2, box(10, 10, 80))]]  # bigger, so embedded: it is someone else
    assert [g[0] for g in run(t, faces, frames)] == [0, 1]


def test_small_faces_never_relink_and_embeddings_are_capped() -> None:
    faces = Faces()
    t = Tracker(relink=0.9, split=0.1)
    frames = [[(1, box(10, 10, 20))], [], [], [], [], [], [], [(1, box(300, 10, 20))]]
    assert [g for g in run(t, faces, frames) if g] == [[0], [1]]
    faces = Faces()
    t = Tracker(relink=0.9, split=0.1)
    run(t, faces, [[(1, box(10, 10, 20 * 1.15 ** n))] for n in range(15)])  # from 20 to 142 px
    assert len(t.tracks) == 1 and len(t.tracks[0].faces) == MAX_EMBEDDINGS
    assert faces.embedded == t.tracks[0].compared <= 15 // 2 and t.tracks[0].embedded >= MAX_EMBEDDINGS


def test_state_round_trips() -> None:
    faces = Faces()
    t = Tracker(relink=0.9, split=0.1)
    run(t, faces, [[(1, box(10, 10)), (2, box(300, 10))]] * 3)
    again = Tracker(relink=0.9, split=0.1)
    again.restore(t.to_json())
    assert again.to_json() == t.to_json()
    np.testing.assert_array_equal(again.tracks[1].template(), t.tracks[1].template())


def test_quality_prefers_big_sharp_frontal_faces_and_cuts_are_seen() -> None:
    assert face_quality(box(0, 0, 80), 50, 0, 0) > face_quality(box(0, 0, 40), 50, 0, 0)
    assert face_quality(box(0, 0, 80), 50, 0, 0) > face_quality(box(0, 0, 80), 10, 0, 0)
    assert face_quality(box(0, 0, 80), 50, 0, 0) > face_quality(box(0, 0, 80), 50, 60, 0)
    dark, red = np.zeros((90, 160, 3), np.uint8), np.zeros((90, 160, 3), np.uint8)
    red[..., 0] = 200
    assert scene_cut(colour_histogram(dark), colour_histogram(red))
    assert not scene_cut(colour_histogram(red), colour_histogram(red)) and not scene_cut(None, colour_histogram(red))


def test_people_crossing_keep_their_tracks() -> None:
    """Two faces walking towards each other at the same height, 2 hidden behind 1 while they pass
    (samples 5-7): when 2 reappears, 1 is where 2's track was last seen, so the last boxes alone
    swap them; the predicted boxes and the embeddings keep each on their own track."""
    faces = Faces()
    t = Tracker(relink=0.9, split=0.1)
    frames = [[(1, box(100 + 25 * n, 50))] + ([] if 5 <= n <= 7 else [(2, box(400 - 25 * n, 55))])
              for n in range(13)]
    got = run(t, faces, frames)
    assert got == [[0, 1]] * 5 + [[0]] * 3 + [[0, 1]] * 5


def test_someone_stepping_into_a_hidden_persons_place_is_not_them() -> None:
    """Person 1 stands still; person 2 walks up, in front of them (1 is hidden: no detection) and
    stops there: 2's box is where 1's track is, but the face is someone else's, so 1's track never
    holds it, and 1 is their own track again when 2 walks on."""
    faces = Faces()
    t = Tracker(relink=0.9, split=0.1)
    one = box(200, 50)
    frames = ([[(1, one), (2, box(40 * n, 52))] for n in range(1, 5)] + [[(2, box(200, 52))]] * 3
              + [[(1, one), (2, box(200 + 40 * n, 52))] for n in range(1, 4)])
    got = run(t, faces, frames)
    assert got == [[0, 1]] * 4 + [[1]] * 3 + [[0, 1]] * 3
