"""Staging a collection's vectors for another face model, then switching: the same answers on
every backend (the store half of ``clearsight collection migrate``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clearsight.errors import ConflictException
from clearsight.storage.base import NewFace, Store

from .test_congruence import BACKENDS


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    made: Store = BACKENDS[request.param](tmp_path)
    made.create_collection("c", "old-model", 2)
    made.create_collection("other", "old-model", 2)
    box = {"Width": 0.1, "Height": 0.1, "Left": 0.1, "Top": 0.1}
    made.add_faces("c", [NewFace(f"f{i}", "img", None, box, 99.0, np.array([1.0, 0.0], np.float32))
                         for i in range(3)], source="/photos/a.jpg", image_id="img")
    made.add_faces("other", [NewFace("g0", "img2", None, box, 99.0, np.array([1.0, 0.0], np.float32))])
    return made


def test_switching_needs_every_face_staged(store: Store) -> None:
    assert store.image_sources("c") == {"img": "/photos/a.jpg"} and store.image_sources("other") == {}
    store.stage_vectors("c", "new-model", {"f0": np.array([0.0, 1.0, 0.0]), "f1": np.array([0.0, 0.0, 1.0]),
                                           "g0": np.array([1.0, 1.0, 1.0])})  # g0 is another collection's
    assert store.staged_faces("c", "new-model") == {"f0", "f1"}
    assert store.staged_faces("other", "new-model") == set()
    before = store.last_change()
    with pytest.raises(ConflictException, match="1 face"):
        store.switch_model("c", "new-model", 3)
    assert store.collection("c").face_model == "old-model" and store.last_change() == before


def test_a_deleted_face_takes_its_staged_vector_and_the_switch_replaces_every_vector(store: Store) -> None:
    store.stage_vectors("c", "new-model", {f"f{i}": np.array([0.0, float(i), 1.0]) for i in range(3)})
    store.delete_faces("c", ["f2"])
    assert store.staged_faces("c", "new-model") == {"f0", "f1"}
    before = store.last_change()
    assert store.switch_model("c", "new-model", 3) == 2
    row = store.collection("c")
    assert (row.face_model, row.dimension) == ("new-model", 3)
    vecs = store.face_vectors("c", ["f0", "f1"])
    assert np.array_equal(vecs["f1"], np.array([0.0, 1.0, 1.0], np.float32))
    assert [(f, op) for _, _, f, op in store.changes_since(before)] == [
        ("f0", "del"), ("f0", "add"), ("f1", "del"), ("f1", "add")]
    assert store.staged_faces("c", "new-model") == set()


def test_staging_for_another_model_drops_the_first(store: Store) -> None:
    store.stage_vectors("c", "new-model", {"f0": np.array([0.0, 1.0, 0.0])})
    store.stage_vectors("c", "newer-model", {"f1": np.array([0.0, 1.0, 0.0])})
    assert store.staged_faces("c", "new-model") == set()
    assert store.staged_faces("c", "newer-model") == {"f1"}
